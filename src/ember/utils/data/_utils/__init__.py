"""Helpers behind the DataLoader (collation)."""

from ember.utils.data._utils import collate

__all__ = ["collate"]

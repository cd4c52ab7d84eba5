"""Introspection of what a node saved for its backward: grad_fn._saved_<name>, _raw_saved_<name>."""

from __future__ import annotations


def lookup(node, name):
    """The value behind grad_fn.<name> for a `_saved_*` or `_raw_saved_*` name."""
    raise AttributeError(f"'{type(node).__name__}' object has no attribute '{name}'")

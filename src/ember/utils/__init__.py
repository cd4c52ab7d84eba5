"""ember.utils: data loading and helpers."""

from ember.utils import data

"""ember.utils: data loading, activation checkpointing and helpers."""

from ember.utils import checkpoint, data

"""ember.utils: data loading, activation checkpointing and helpers."""

from ember.utils import checkpoint, data
from ember.utils.summary import summary

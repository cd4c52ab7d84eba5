"""PyTorch's module path torch.distributions.exponential (the class is in location_scale)."""

from ember.distributions.location_scale import Exponential

__all__ = ["Exponential"]

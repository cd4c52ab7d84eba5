"""PyTorch's module path torch.distributions.uniform (the class is in location_scale)."""

from ember.distributions.location_scale import Uniform

__all__ = ["Uniform"]

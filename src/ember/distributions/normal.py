"""PyTorch's module path torch.distributions.normal (the class is in location_scale)."""

from ember.distributions.location_scale import Normal

__all__ = ["Normal"]

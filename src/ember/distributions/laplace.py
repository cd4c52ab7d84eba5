"""PyTorch's module path torch.distributions.laplace (the class is in location_scale)."""

from ember.distributions.location_scale import Laplace

__all__ = ["Laplace"]

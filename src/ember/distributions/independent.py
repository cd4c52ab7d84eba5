"""PyTorch's module path torch.distributions.independent."""

from ember.distributions.transformed_distribution import Independent

__all__ = ["Independent"]

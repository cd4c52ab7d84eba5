"""PyTorch's module path torch.distributions.log_normal."""

from ember.distributions.transformed_distribution import LogNormal

__all__ = ["LogNormal"]

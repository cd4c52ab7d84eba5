"""PyTorch's module path torch.distributions.categorical (the class is in discrete)."""

from ember.distributions.discrete import Categorical

__all__ = ["Categorical"]

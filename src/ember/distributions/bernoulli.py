"""PyTorch's module path torch.distributions.bernoulli (the class is in discrete)."""

from ember.distributions.discrete import Bernoulli

__all__ = ["Bernoulli"]

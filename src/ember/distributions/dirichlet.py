"""PyTorch's module path torch.distributions.dirichlet (the class is in gamma)."""

from ember.distributions.gamma import Dirichlet

__all__ = ["Dirichlet"]

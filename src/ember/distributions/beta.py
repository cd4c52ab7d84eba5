"""PyTorch's module path torch.distributions.beta (the class is in gamma)."""

from ember.distributions.gamma import Beta

__all__ = ["Beta"]

"""PyTorch's module path torch.distributions.one_hot_categorical (the class is in discrete)."""

from ember.distributions.discrete import OneHotCategorical, OneHotCategoricalStraightThrough

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]

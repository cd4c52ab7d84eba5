"""Dropout layers: active in training mode, the identity in eval mode."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class _DropoutNd(Module):
    _fn = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Same as torch.nn.Dropout."""

    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Same as torch.nn.Dropout1d: zeroes whole channels."""

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Same as torch.nn.Dropout2d."""

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Same as torch.nn.Dropout3d."""

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Same as torch.nn.AlphaDropout (for SELU networks)."""

    _fn = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Same as torch.nn.FeatureAlphaDropout."""

    _fn = staticmethod(F.feature_alpha_dropout)

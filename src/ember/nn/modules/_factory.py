"""Helpers every layer uses: empty parameters of a dtype/device, and tuple arguments."""

from __future__ import annotations

from ember.nn.parameter import Parameter
from ember.ops.creation import empty, ones, zeros


def new_parameter(*shape, device=None, dtype=None, requires_grad=True):
    """An (uninitialised, zero-filled) Parameter of `shape`."""
    return Parameter(empty(*shape, device=device, dtype=dtype), requires_grad)


def ones_parameter(*shape, device=None, dtype=None):
    """A Parameter of ones."""
    return Parameter(ones(*shape, device=device, dtype=dtype))


def zeros_parameter(*shape, device=None, dtype=None):
    """A Parameter of zeros."""
    return Parameter(zeros(*shape, device=device, dtype=dtype))


def ntuple(value, n):
    """PyTorch's _single/_pair/_triple: an iterable as a tuple, else `value` repeated n times."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n


def single(value):
    """Same as torch.nn.modules.utils._single."""
    return ntuple(value, 1)


def pair(value):
    """Same as torch.nn.modules.utils._pair."""
    return ntuple(value, 2)


def triple(value):
    """Same as torch.nn.modules.utils._triple."""
    return ntuple(value, 3)

"""Helpers shared by the distributions: broadcasting parameters, probabilities and logits,
lazily computed attributes, and random draws from ember's generators."""

from __future__ import annotations

import functools
import numbers

import numpy

import ember
from ember import _backend, _random
from ember._tensor import Tensor


def broadcast_all(*values):
    """Same as torch.distributions.utils.broadcast_all: tensors and numbers broadcast to one
    shape; numbers become tensors of the tensors' dtype and device (the default dtype when
    every value is a number)."""
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number or Tensor.")
    tensors = [v for v in values if isinstance(v, Tensor)]
    if len(tensors) < len(values):
        like = tensors[0] if tensors else None
        dtype = like.dtype if like is not None else ember.get_default_dtype()
        device = like.device if like is not None else None
        values = [
            v if isinstance(v, Tensor) else ember.tensor(v, dtype=dtype, device=device)
            for v in values
        ]
    # a tensor already of the common shape is returned as is, so a leaf parameter stays the
    # user's own tensor (its .grad fills), as PyTorch
    shape = ember.broadcast_shapes(*(v.shape for v in values))
    return tuple(v if v.shape == shape else v.expand(shape) for v in values)


def finfo(dtype):
    """NumPy's floating-point limits (eps, tiny, max, min) of an ember dtype."""
    return numpy.finfo(dtype.np)


def clamp_probs(probs):
    """Probabilities clamped into [eps, 1 - eps], so their logarithms stay finite."""
    eps = float(finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """Same as torch.distributions.utils.probs_to_logits: log-odds when `is_binary`, else log
    probabilities (both of clamped probabilities)."""
    clamped = clamp_probs(probs)
    if is_binary:
        return ember.log(clamped) - ember.log1p(-clamped)
    return ember.log(clamped)


def logits_to_probs(logits, is_binary=False):
    """Same as torch.distributions.utils.logits_to_probs: sigmoid when `is_binary`, else
    softmax over the last dimension."""
    if is_binary:
        return ember.sigmoid(logits)
    return ember.softmax(logits, dim=-1)


class lazy_property:  # noqa: N801  (PyTorch's spelling)
    """Same as torch.distributions.utils.lazy_property: computed on first read, then stored on
    the instance (so a parameter given as probs gets its logits only when asked)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with ember.enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


def sum_rightmost(value, dim):
    """Sum out the `dim` rightmost dimensions of `value` (none when dim is 0)."""
    if dim == 0:
        return value
    return value.reshape(value.shape[: value.dim() - dim] + (-1,)).sum(-1)


def draw(like, shape, sampler):
    """A tensor of `shape`, with `like`'s dtype and device, filled by `sampler(rng, shape)`
    on the host from ember's global generator (so `ember.manual_seed` reproduces it)."""
    shape = tuple(shape)
    array = numpy.asarray(sampler(_random.rng(None), shape), dtype=like.dtype.np)
    return Tensor._make(_backend.to_device(array.reshape(shape), like.device))


def standard_normal(like, shape):
    """Draws from N(0, 1) of `like`'s dtype and device."""
    return draw(like, shape, lambda rng, s: rng.standard_normal(s))


def uniform(like, shape, low=0.0, high=1.0):
    """Draws uniform on [low, high) of `like`'s dtype and device."""
    return draw(like, shape, lambda rng, s: rng.uniform(low, high, s))


def as_size(shape):
    """An ember.Size from a tuple, list, Size or a single int."""
    if isinstance(shape, numbers.Integral):
        return ember.Size((shape,))
    return ember.Size(tuple(shape))

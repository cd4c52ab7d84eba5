"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm."""

from __future__ import annotations

import math
import warnings

from ember import _backend
from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad


def _tensors(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters):
    return [p.grad for p in _tensors(parameters) if p.grad is not None]


def _norm_of(array, norm_type):
    xp = _backend.array_module(array)
    a = xp.abs(array.astype("float64") if array.dtype.itemsize < 4 else array)
    if norm_type == math.inf:
        return a.max() if a.size else xp.asarray(0.0, dtype=a.dtype)
    if norm_type == -math.inf:
        return a.min() if a.size else xp.asarray(math.inf, dtype=a.dtype)
    if norm_type == 0:
        return (a != 0).sum().astype(a.dtype)
    if norm_type == 2:
        return xp.sqrt((a * a).sum())
    return (a**norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Same as torch.nn.utils.get_total_norm: the norm of the per-tensor norms."""
    tensors = _tensors(tensors)
    norm_type = float(norm_type)
    if not tensors:
        from ember.ops.creation import tensor

        return tensor(0.0)
    first = tensors[0]._data
    xp = _backend.array_module(first)
    norms = xp.stack([xp.asarray(_norm_of(t._data, norm_type)) for t in tensors])
    total = _norm_of(norms, norm_type).astype(first.dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor._make(
        _backend.scalar_to_array(total, first.__class__)
        if _backend.is_scalar_result(total)
        else xp.asarray(total)
    )


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Same as torch.nn.utils.clip_grads_with_norm_: scale grads by max_norm / total_norm."""
    grads = _grads(parameters)
    if not grads:
        return
    coef = float(max_norm) / (float(total_norm) + 1e-6)
    coef = min(coef, 1.0)
    with no_grad():
        for g in grads:
            g._data *= g._data.dtype.type(coef)
            g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Same as torch.nn.utils.clip_grad_norm_: clip in place; returns the total norm."""
    parameters = _tensors(parameters)
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of clip_grad_norm_."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Same as torch.nn.utils.clip_grad_value_: clamp every gradient to [-clip, clip]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = _backend.array_module(g._data)
        xp.clip(g._data, -clip_value, clip_value, out=g._data)
        g._vc[0] += 1

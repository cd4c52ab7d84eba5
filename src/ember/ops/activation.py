"""softmax and log_softmax: fused primitives, shifted by the max so large logits stay finite.

They are primitives for numerical stability (a composite exp/sum/div overflows at logits of
1e4) and speed (one pass for the max, one for the sum, no intermediate graph).
"""

from __future__ import annotations

from ember._backend import array_module
from ember._dtype import is_floating, to_dtype
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.convert import cast

SOFTMAX = (
    S((3, 4), dim=1),
    S((2, 3, 4), dim=0),
    S((2, 3, 4), dim=-1),
    S((5,), dim=0),
    S((), dim=0),
)


def _shifted(x, dim):
    """x minus its max along dim (a max of -inf is replaced by 0 so -inf rows stay -inf)."""
    xp = array_module(x)
    peak = x.max(axis=dim, keepdims=True)
    peak = xp.where(xp.isfinite(peak), peak, 0)
    return x - peak


@register("softmax", lambda lib, x, **kw: lib.softmax(x, **kw), SOFTMAX)
class Softmax(Primitive):
    """exp(x - max) / sum(exp(x - max)); backward: out * (grad - sum(grad * out))."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        xp = array_module(x)
        e = xp.exp(_shifted(x, dim))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - (grad * out).sum(ctx.dim, keepdim=True)), None


@register("log_softmax", lambda lib, x, **kw: lib.log_softmax(x, **kw), SOFTMAX)
class LogSoftmax(Primitive):
    """(x - max) - log(sum(exp(x - max))); backward: grad - exp(out) * sum(grad)."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        xp = array_module(x)
        shifted = _shifted(x, dim)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - out.exp() * grad.sum(ctx.dim, keepdim=True), None


def _prepare(input, dim, dtype, op):
    if dtype is not None:
        input = cast(input, to_dtype(dtype))
    elif not is_floating(input._data.dtype):
        raise RuntimeError(f"\"{op}_lastdim_kernel_impl\" not implemented for '{input.dtype}'")
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, op)
    return input, d


def _apply(cls, input, dim, dtype, op):
    input, d = _prepare(input, dim, dtype, op)
    if input._data.ndim == 0:  # a 0-d tensor is a one-element row
        return cls.apply(input.reshape(1), 0).reshape(())
    if input._data.size == 0:
        return input * 1
    return cls.apply(input, d)


def softmax(input, dim, dtype=None):
    """Same as torch.softmax."""
    return _apply(Softmax, input, dim, dtype, "softmax")


def log_softmax(input, dim, dtype=None):
    """Same as torch.log_softmax."""
    return _apply(LogSoftmax, input, dim, dtype, "log_softmax")


__all__ = ["log_softmax", "softmax"]
TENSOR_METHODS = {"softmax": softmax, "log_softmax": log_softmax}

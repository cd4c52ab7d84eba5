"""Reductions: sum, mean, and sum_to_size (the engine's unbroadcast)."""

from __future__ import annotations

import builtins

from ember._backend import array_module
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._shapes import keepdim_shape, normalize_dim, normalize_dims
from ember.ops._table import S, register
from ember.ops.creation import arange

REDUCE = (
    S((3, 4)),
    S((3, 4), dim=1),
    S((2, 3, 4), dim=(0, 2), keepdim=True),
    S((2, 3, 4), dim=-1),
    S(()),
)


def _check_dtype_arg(dtype):
    if dtype is None:
        return None
    from ember._dtype import to_dtype

    return to_dtype(dtype).np


@register("sum", lambda lib, x, **kw: x.sum(**kw), REDUCE)
class Sum(Primitive):
    @staticmethod
    def forward(ctx, x, dims, keepdim, np_dtype):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        if np_dtype is None and x.dtype.kind in "biu":
            np_dtype = "int64"  # integer sums are int64, as PyTorch
        return x.sum(axis=dims, keepdims=keepdim, dtype=np_dtype)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.keepdim:
            grad = grad.reshape(keepdim_shape(ctx.in_shape, ctx.dims))
        return grad.expand(ctx.in_shape), None, None, None


@register("mean", lambda lib, x, **kw: x.mean(**kw), REDUCE)
class Mean(Primitive):
    @staticmethod
    def forward(ctx, x, dims, keepdim, np_dtype):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        count = 1
        for d in dims:
            count *= x.shape[d]
        ctx.count = count
        return x.mean(axis=dims, keepdims=keepdim, dtype=np_dtype)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.keepdim:
            grad = grad.reshape(keepdim_shape(ctx.in_shape, ctx.dims))
        return (grad / ctx.count).expand(ctx.in_shape), None, None, None


def sum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A001
    """Same as torch.sum (dim an int, a tuple, or None for all)."""
    dims = normalize_dims(dim, input._data.ndim, "sum")
    return Sum.apply(input, dims, keepdim, _check_dtype_arg(dtype))


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.mean."""
    np_dtype = _check_dtype_arg(dtype)
    if input._data.dtype.kind != "f" and np_dtype is None:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {input.dtype.name.capitalize()}"
        )
    dims = normalize_dims(dim, input._data.ndim, "mean")
    return Mean.apply(input, dims, keepdim, np_dtype)


@register(
    "sum_to_size",
    lambda lib, x, **kw: x.sum_to_size(kw["size"]),
    (S((3, 4), size=(1, 4)), S((2, 3, 4), size=(3, 1)), S((3, 4), size=(3, 4))),
)
class SumToSize(Primitive):
    """Sum a broadcast array back to `size`: the adjoint of expand."""

    @staticmethod
    def forward(ctx, x, size, dims):
        ctx.in_shape = x.shape
        return x.sum(axis=dims, keepdims=True).reshape(size)

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(ctx.in_shape), None, None


def sum_to_size(input, *size):
    """Same as torch.Tensor.sum_to_size: sum over the dims that `size` broadcasts along."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    in_shape = input._data.shape
    if in_shape == shape:
        return input
    lead = len(in_shape) - len(shape)
    if lead < 0 or builtins.any(s not in (1, in_shape[lead + i]) for i, s in enumerate(shape)):
        raise RuntimeError(f"size {list(shape)} is not expandable to size {list(in_shape)}")
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and in_shape[lead + i] != 1
    )
    return SumToSize.apply(input, shape, dims)


# --- max and min ---
class _Extreme(Primitive):
    """amax/amin: ties share the gradient evenly, as PyTorch."""

    @classmethod
    def _reduce(cls, x, dims, keepdim):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = cls._reduce(x, dims, keepdim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if not ctx.keepdim:
            shape = keepdim_shape(x.shape, ctx.dims)
            grad, out = grad.reshape(shape), out.reshape(shape)
        mask = x == out
        return grad * mask / mask.sum(ctx.dims, keepdim=True), None, None


EXTREME = (S((3, 4)), S((3, 4), dim=1), S((2, 3, 4), dim=(0, 2), keepdim=True), S(()))


@register("amax", lambda lib, x, **kw: x.amax(**kw), EXTREME)
class Amax(_Extreme):
    @classmethod
    def _reduce(cls, x, dims, keepdim):
        return x.max(axis=dims, keepdims=keepdim)


@register("amin", lambda lib, x, **kw: x.amin(**kw), EXTREME)
class Amin(_Extreme):
    @classmethod
    def _reduce(cls, x, dims, keepdim):
        return x.min(axis=dims, keepdims=keepdim)


def _check_nonempty(input, op, dims):
    if input._data.size == 0 and builtins.any(input._data.shape[d] == 0 for d in dims):
        raise IndexError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument."
        )


def amax(input, dim=(), keepdim=False):
    """Same as torch.amax (dim=() reduces every dim)."""
    dims = normalize_dims(dim if dim != () else None, input._data.ndim, "amax")
    _check_nonempty(input, "amax", dims)
    return Amax.apply(input, dims, keepdim)


def amin(input, dim=(), keepdim=False):
    """Same as torch.amin (dim=() reduces every dim)."""
    dims = normalize_dims(dim if dim != () else None, input._data.ndim, "amin")
    _check_nonempty(input, "amin", dims)
    return Amin.apply(input, dims, keepdim)


class ValuesIndices(tuple):
    """The (values, indices) named tuple that max/min/sort/topk return."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return f"return_types(\nvalues={self[0]!r},\nindices={self[1]!r})"


def _arg_extreme(input, dim, keepdim, which):
    xp = array_module(input._data)
    data = input._data
    if dim is None:
        flat = getattr(xp, which)(data.reshape(-1))
        out = xp.asarray(flat, dtype="int64")
        return Tensor._make(out.reshape((1,) * data.ndim) if keepdim else out)
    d = normalize_dim(dim, data.ndim, which)
    if data.ndim == 0:
        return Tensor._make(xp.zeros((), dtype="int64"))
    out = getattr(xp, which)(data, axis=d, keepdims=keepdim).astype("int64")
    return Tensor._make(out)


def argmax(input, dim=None, keepdim=False):
    """Same as torch.argmax (first index of the largest value)."""
    return _arg_extreme(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Same as torch.argmin."""
    return _arg_extreme(input, dim, keepdim, "argmin")


def _select_along(input, indices, dim, keepdim):
    """values = input at `indices` along dim; the gradient goes to that element only."""
    d = normalize_dim(dim, input._data.ndim, "max") if input._data.ndim else 0
    idx = indices if keepdim or not input._data.ndim else indices.unsqueeze(d)
    if not input._data.ndim:
        return input * 1
    positions = arange(input._data.shape[d], device=input.device).reshape(
        (-1,) + (1,) * (input._data.ndim - d - 1)
    )
    one_hot = positions == idx
    values = (input * one_hot).sum(d, keepdim=True)
    return values if keepdim else values.squeeze(d)


def _max_min(input, dim, keepdim, other, which):
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        from ember.ops.pointwise_extra import maximum, minimum

        return maximum(input, other) if which == "max" else minimum(input, other)
    if dim is None:
        return amax(input) if which == "max" else amin(input)
    indices = _arg_extreme(input, dim, keepdim, "argmax" if which == "max" else "argmin")
    values = _select_along(input, indices, dim, keepdim)
    if not values.requires_grad:
        values = Tensor._make(values._data)
    return ValuesIndices(values, indices)


def max(input, dim=None, keepdim=False, *, other=None, out=None):  # noqa: A001
    """Same as torch.max: the value; with dim, (values, indices); with a tensor, maximum."""
    return _max_min(input, dim, keepdim, other, "max")


def min(input, dim=None, keepdim=False, *, other=None, out=None):  # noqa: A001
    """Same as torch.min."""
    return _max_min(input, dim, keepdim, other, "min")


def all(input, dim=None, keepdim=False):  # noqa: A001
    """Same as torch.all: a bool tensor."""
    dims = normalize_dims(dim, input._data.ndim, "all")
    return Tensor._make(
        array_module(input._data).asarray(input._data.all(axis=dims, keepdims=keepdim))
    )


def any(input, dim=None, keepdim=False):  # noqa: A001
    """Same as torch.any: a bool tensor."""
    dims = normalize_dims(dim, input._data.ndim, "any")
    return Tensor._make(
        array_module(input._data).asarray(input._data.any(axis=dims, keepdims=keepdim))
    )


__all__ = ["all", "amax", "amin", "any", "argmax", "argmin", "max", "mean", "min", "sum"]
TENSOR_METHODS = {name: globals()[name] for name in __all__}
TENSOR_METHODS["sum_to_size"] = sum_to_size

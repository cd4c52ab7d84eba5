"""Reductions: sum, mean, prod, amax/amin, max/min, argmax/argmin, all/any, cumulative ops.

Also the helpers the other reduction families share: ValuesIndices (the (values, indices)
result), take_along, and the dim handling. Variance, logsumexp and the NaN-skipping reductions
are in statistics.py; sorting and order statistics in sorting.py.

Selections (max/min with dim) index the input with the chosen positions, so the gradient goes
to exactly those elements, as PyTorch.
"""

from __future__ import annotations

import builtins
import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.autograd import forward_ad
from ember.autograd.grad_mode import _state
from ember.ops._primitive import Primitive
from ember.ops._shapes import keepdim_shape, normalize_dim, normalize_dims
from ember.ops._table import S, register
from ember.ops.convert import cast, clone
from ember.ops.creation import arange
from ember.ops.indexing import GetItem
from ember.ops.pointwise import where
from ember.ops.pointwise_extra import isnan, maximum, minimum

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
        # a total (every dim summed) broadcasts as it is; otherwise the summed dims come back
        # as size-1 dims first, so that the rest line up
        if not ctx.keepdim and len(ctx.dims) < len(ctx.in_shape):
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
        if count == 0:  # NaN, as PyTorch, without NumPy's "Mean of empty slice" warning
            total = x.sum(axis=dims, keepdims=keepdim, dtype=np_dtype)
            return total * array_module(x).nan
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
    if not is_floating(input._data.dtype) and np_dtype is None:
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

    nan_is_a_tie = False  # max()/min() of everything: a NaN result ties with every NaN

    @classmethod
    def backward(cls, ctx, grad):
        x, out = ctx.saved_tensors
        if not ctx.keepdim:
            shape = keepdim_shape(x.shape, ctx.dims)
            grad, out = grad.reshape(shape), out.reshape(shape)
        mask = x == out
        if cls.nan_is_a_tie:
            mask = mask | (isnan(x) & isnan(out))
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


ALL_NAN = (S((3, 4)), S(()))


@register("max_all", lambda lib, x: x.max(), ALL_NAN)
class MaxAll(Amax):
    """max() with no dim: ties, NaNs included, share the gradient evenly, as PyTorch's."""

    nan_is_a_tie = True
    node_name = "MaxBackward1"


@register("min_all", lambda lib, x: x.min(), ALL_NAN)
class MinAll(Amin):
    """min() with no dim: as max()."""

    nan_is_a_tie = True
    node_name = "MinBackward1"


def _check_nonempty(input, op, dims, all_dims):
    """amax/amin of nothing is undefined: PyTorch's errors for all dims, and for one dim."""
    if input._data.size != 0:
        return
    if all_dims:
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument."
        )
    for d in dims:
        if input._data.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def amax(input, dim=(), keepdim=False):
    """Same as torch.amax (dim=() reduces every dim)."""
    dims = normalize_dims(dim if dim != () else None, input._data.ndim, "amax")
    _check_nonempty(input, "amax", dims, dim in ((), None))
    return Amax.apply(input, dims, keepdim)


def amin(input, dim=(), keepdim=False):
    """Same as torch.amin (dim=() reduces every dim)."""
    dims = normalize_dims(dim if dim != () else None, input._data.ndim, "amin")
    _check_nonempty(input, "amin", dims, dim in ((), None))
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


def take_along(input, indices, dim):
    """input's values at `indices` (an int64 array shaped like input, with any size along dim)
    along dim; the gradient goes back to exactly those elements."""
    if input._data.ndim == 0:  # a new tensor, not a view of the input (as PyTorch)
        return clone(input)
    xp = array_module(indices)
    index = tuple(
        indices if k == dim else xp.arange(n).reshape((n,) + (1,) * (indices.ndim - k - 1))
        for k, n in enumerate(indices.shape)
    )
    return GetItem.apply(input, index)


def _squeezed(result, dim, keepdim, ndim):
    return result if keepdim or ndim == 0 else result.squeeze(dim)


def _max_min(input, dim, keepdim, other, which):
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        return maximum(input, other) if which == "max" else minimum(input, other)
    if dim is None:
        dims = normalize_dims(None, input._data.ndim, which)
        _check_nonempty(input, which, dims, True)
        return (MaxAll if which == "max" else MinAll).apply(input, dims, False)
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, which)
    indices = _arg_extreme(input, d, True, "argmax" if which == "max" else "argmin")
    values = take_along(input, indices._data, d)
    if not values.requires_grad:
        fresh = Tensor._make(values._data)
        forward_ad.carry(values, fresh)
        values = fresh
    return ValuesIndices(_squeezed(values, d, keepdim, ndim), _squeezed(indices, d, keepdim, ndim))


def max(input, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """Same as torch.max: the value; with dim, (values, indices); with a tensor, maximum."""
    return _max_min(input, dim, keepdim, other, "max")


def min(input, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """Same as torch.min."""
    return _max_min(input, dim, keepdim, other, "min")


register(
    "max_dim",
    lambda lib, x, **kw: x.max(**kw),
    (S((3, 4), dim=1), S((2, 3, 4), dim=-1, keepdim=True), S((), dim=0)),
)(max)
register("min_dim", lambda lib, x, **kw: x.min(**kw), (S((3, 4), dim=0), S((3, 4), dim=-2)))(min)


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


def _dims(dim, ndim, op):
    """normalize_dims, where a 0-d tensor takes dim 0 or -1 and has nothing to reduce."""
    if ndim == 0:
        if dim is not None:
            for d in dim if isinstance(dim, (tuple, list)) else (dim,):
                normalize_dim(d, 0, op)
        return ()
    return normalize_dims(dim, ndim, op)


def _count(shape, dims):
    return math.prod(shape[d] for d in dims)


def _int_result(input, dtype):
    """Integer and bool inputs accumulate in int64, as PyTorch; dtype= casts first."""
    if dtype is not None:
        return cast(input, dtype)
    if input._data.dtype.kind in "biu" and input._data.dtype.name != "int64":
        return cast(input, "int64")
    return input


# --- prod ---
@register(
    "prod",
    lambda lib, x, **kw: x.prod(**kw),
    (S((3, 4)), S((3, 4), dim=1), S((2, 3, 4), dim=-1, keepdim=True), S(()), S((), dim=0))
    + (S((2, 0, 3), dim=1),),
)
class Prod(Primitive):
    """The product; its gradient handles zeros exactly (one zero, or several), as PyTorch."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = x.prod(axis=dims, keepdims=keepdim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        dims = ctx.dims
        if not ctx.keepdim:
            shape = keepdim_shape(x.shape, dims)
            grad, out = grad.reshape(shape), out.reshape(shape)
        zero = x == 0
        if not zero.any():
            return grad * out / x, None, None
        if _state.enabled:  # a graph for higher derivatives: a division-free formula
            return grad * _product_of_others(x, dims), None, None
        # a lone zero gets the product of the others; everything else in its slice gets 0
        zeros_in_slice = zero.sum(dims, keepdim=True)
        nonzero = where(zero, 1.0, x)
        others = Prod.apply(nonzero, dims, True)
        gx = where(
            zeros_in_slice == 0,
            grad * out / nonzero,
            where(zero & (zeros_in_slice == 1), grad * others, 0.0),
        )
        return gx, None, None


def _product_of_others(x, dims):
    """prod_{k != i} x_k over dims, as (product before i) * (product after i): no division."""
    shape = x.shape
    if len(dims) != 1:
        x, d = x.reshape(-1), 0
    else:
        d = dims[0]
    n = x.shape[d]
    xp = array_module(x._data)
    position = arange(n, device=x.device).reshape((n,) + (1,) * (x.ndim - d - 1))
    lead = (slice(None),) * d
    previous = GetItem.apply(x, lead + (xp.maximum(xp.arange(n) - 1, 0),))
    before = Cumprod.apply(where(position == 0, 1.0, previous), d)
    following = GetItem.apply(x, lead + (xp.minimum(xp.arange(n) + 1, n - 1),))
    after = _flip(Cumprod.apply(_flip(where(position == n - 1, 1.0, following), d), d), d)
    return (before * after).reshape(shape)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.prod (dim an int or None; integers multiply in int64)."""
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
    x = _int_result(input, dtype)
    return Prod.apply(x, _dims(dim, x._data.ndim, "prod"), keepdim and dim is not None)


# --- cumulative sums and products ---
def _flip(t, d):
    return GetItem.apply(t, (slice(None),) * d + (slice(None, None, -1),))


def _reverse_cumsum(t, d):
    return _flip(Cumsum.apply(_flip(t, d), d), d)


CUMULATIVE = (S((3, 4), dim=1), S((3, 4), dim=0), S((2, 3, 4), dim=-2), S((), dim=0))
CUMULATIVE += (S((0, 3), dim=1),)


@register("cumsum", lambda lib, x, **kw: x.cumsum(**kw), CUMULATIVE)
class Cumsum(Primitive):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        if x.ndim == 0:
            return x.copy()
        return array_module(x).cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        if grad.ndim == 0:
            return grad, None
        return _reverse_cumsum(grad, ctx.dim), None


@register("cumprod", lambda lib, x, **kw: x.cumprod(**kw), CUMULATIVE)
class Cumprod(Primitive):
    """Running products; the gradient handles zeros exactly (only the first zero matters)."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        out = x.copy() if x.ndim == 0 else array_module(x).cumprod(x, axis=dim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        d = ctx.dim
        if x.ndim == 0:
            return grad, None
        zero = x == 0
        if not zero.any():
            return _reverse_cumsum(grad * out, d) / x, None
        if _state.enabled:  # a graph for higher derivatives: PyTorch's O(n^2) formula too
            return _cumprod_grad_quadratic(x, grad, d), None
        n = x.shape[d]
        position = arange(n, device=x.device).reshape((n,) + (1,) * (x.ndim - d - 1))
        first = where(zero.any(d, keepdim=True), zero.argmax(d, keepdim=True), n)
        before, at = position < first, position == first
        # before the first zero: sum_{j >= i} grad_j out_j / x_i over the nonzero outputs
        g_before = _reverse_cumsum(where(before, grad * out, 0.0), d) / where(before, x, 1.0)
        # at it: sum_{j >= z} grad_j * (product of x_k, k <= j, k != z); after it: zero
        skipping = Cumprod.apply(where(at, 1.0, x), d)
        g_at = where(position >= first, grad * skipping, 0.0).sum(d, keepdim=True)
        return where(before, g_before, where(at, g_at, 0.0)), None


def _cumprod_grad_quadratic(x, grad, d):
    """sum_{j >= i} grad_j * prod_{k <= j, k != i} x_k, with no division (for any zeros)."""
    n = x.shape[d]
    xt, gt = x.transpose(d, -1), grad.transpose(d, -1)
    row = arange(n, device=x.device).reshape(n, 1)
    col = row.reshape(1, n)
    diagonal, upper = row == col, row <= col
    # row i holds x with x_i replaced by 1; its running product is prod_{k <= j, k != i} x_k
    skipping = Cumprod.apply(where(diagonal, 1.0, xt.unsqueeze(-2)), xt.ndim)
    g = where(upper, skipping * gt.unsqueeze(-2), 0.0).sum(-1)
    return g.transpose(d, -1)


def cumsum(input, dim, *, dtype=None):
    """Same as torch.cumsum (integers accumulate in int64)."""
    x = _int_result(input, dtype)
    return Cumsum.apply(x, normalize_dim(dim, x._data.ndim, "cumsum"))


def cumprod(input, dim, *, dtype=None):
    """Same as torch.cumprod (integers accumulate in int64)."""
    x = _int_result(input, dtype)
    return Cumprod.apply(x, normalize_dim(dim, x._data.ndim, "cumprod"))


def _cumulative_(fn, name):
    def method(self, dim, *, dtype=None):
        from ember.ops.inplace import apply_inplace

        return apply_inplace(self, lambda x: fn(x, dim, dtype=dtype), (), f"{name}_")

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_."
    return method


__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "cumprod",
    "cumsum",
    "max",
    "mean",
    "min",
    "prod",
    "sum",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__}
TENSOR_METHODS["sum_to_size"] = sum_to_size
TENSOR_METHODS["cumsum_"] = _cumulative_(cumsum, "cumsum")
TENSOR_METHODS["cumprod_"] = _cumulative_(cumprod, "cumprod")

"""Reductions: sum, mean, prod, var/std, logsumexp, max/min, cumulative ops, sorting.

Selections (max/min with dim, sort, topk, kthvalue, median with dim) index the input with the
chosen positions, so the gradient goes to exactly those elements, as PyTorch.
"""

from __future__ import annotations

import builtins
import math
import warnings

from ember._backend import array_module, is_scalar_result, scalar_to_array
from ember._tensor import Tensor
from ember.autograd.grad_mode import _state
from ember.ops._primitive import Primitive
from ember.ops._shapes import keepdim_shape, normalize_dim, normalize_dims
from ember.ops._table import S, register
from ember.ops.convert import cast
from ember.ops.creation import arange
from ember.ops.indexing import GetItem
from ember.ops.pointwise import exp, log, where
from ember.ops.pointwise_extra import finish, floating, isnan, maximum, minimum, quiet

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
    if input._data.ndim == 0:
        return GetItem.apply(input, ())
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
        return amax(input) if which == "max" else amin(input)
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, which)
    indices = _arg_extreme(input, d, True, "argmax" if which == "max" else "argmin")
    values = take_along(input, indices._data, d)
    if not values.requires_grad:
        values = Tensor._make(values._data)
    return ValuesIndices(_squeezed(values, d, keepdim, ndim), _squeezed(indices, d, keepdim, ndim))


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


def cumsum(input, dim, *, dtype=None, out=None):
    """Same as torch.cumsum (integers accumulate in int64)."""
    x = _int_result(input, dtype)
    return finish(Cumsum.apply(x, normalize_dim(dim, x._data.ndim, "cumsum")), out)


def cumprod(input, dim, *, dtype=None, out=None):
    """Same as torch.cumprod (integers accumulate in int64)."""
    x = _int_result(input, dtype)
    return finish(Cumprod.apply(x, normalize_dim(dim, x._data.ndim, "cumprod")), out)


def _cumulative_(fn, name):
    def method(self, dim, *, dtype=None):
        from ember.ops.inplace import apply_inplace

        return apply_inplace(self, lambda x: fn(x, dim, dtype=dtype), (), f"{name}_")

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_."
    return method


# --- variance, standard deviation, logsumexp ---
def _var_mean(op, input, dim, unbiased, keepdim, correction, root=False, with_mean=True):
    """(var or std, mean or None): PyTorch's argument forms, checks and warning."""
    if isinstance(dim, bool):  # var(x, True): the legacy unbiased flag in dim's place
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    if input._data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = _dims(dim, input._data.ndim, op)
    if _count(input._data.shape, dims) <= correction:
        warnings.warn(
            f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning,
            stacklevel=3,
        )
    variance = (Std if root else Variance).apply(input, dims, keepdim, correction, root)
    return variance, (mean(input, dims, keepdim) if with_mean else None)


_VAR_SAMPLES = (
    S((3, 4)),
    S((3, 4), dim=1),
    S((2, 3, 4), dim=(0, 2), keepdim=True),
    S((3, 4), dim=-1, correction=0),
    S((3, 4), unbiased=False),
    S((5,), dim=0, correction=2),
)


@register("var", lambda lib, x, **kw: x.var(**kw), _VAR_SAMPLES)
class Variance(Primitive):
    """var (or, with root, std) over dims: sum((x - mean)^2) / max(0, N - correction).

    Computed in float64 and rounded once, as PyTorch accumulates: the std of float32 values
    near 1e-30 is not lost to squares that underflow. The gradient is PyTorch's formula,
    2 (x - mean) / (N - correction): without the mean's own term (analytically zero,
    numerically inf - inf when there are no degrees of freedom) and with N - correction
    unclamped; std's is var's times 1 / (2 std), and 0 where std is 0.
    """

    node_name = "VarBackward0"

    @staticmethod
    def forward(ctx, x, dims, keepdim, correction, root):
        ctx.dims, ctx.keepdim, ctx.root = dims, keepdim, root
        ctx.denominator = _count(x.shape, dims) - correction
        xp = array_module(x)
        wide = x.astype(xp.float64) if x.dtype != xp.float64 else x
        if x.size == 0:
            total = wide.sum(axis=dims, keepdims=keepdim)
        else:
            diff = wide - wide.mean(axis=dims, keepdims=True)
            total = (diff * diff).sum(axis=dims, keepdims=keepdim)
        with quiet(xp):  # 0/0 = nan and x/0 = inf, as PyTorch
            out = total / builtins.max(0, ctx.denominator)
            if root:
                out = xp.sqrt(out)
        out = _as_dtype(out, x.dtype, xp)
        ctx.save_for_backward(x, out if root else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if ctx.root:  # d std = d var / (2 std); 0 where std is 0, as PyTorch
            grad = where(out == 0, 0.0, grad / (2 * out))
        if not ctx.keepdim:
            grad = grad.reshape(keepdim_shape(x.shape, ctx.dims))
        scale = 2.0 / ctx.denominator if ctx.denominator else math.inf
        return grad * scale * (x - mean(x, ctx.dims, keepdim=True)), None, None, None, None


@register("std", lambda lib, x, **kw: x.std(**kw), _VAR_SAMPLES)
class Std(Variance):
    """Variance with root=True: its own node name, as PyTorch's."""

    node_name = "StdBackward0"


def _as_dtype(result, dtype, xp):
    """A reduction's result (an array, or NumPy's scalar for 0-d) in `dtype`."""
    if is_scalar_result(result):
        result = xp.asarray(result)
    return result.astype(dtype, copy=False)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Same as torch.var (correction=1 by default; unbiased= is the legacy spelling)."""
    variance, _ = _var_mean("var", input, dim, unbiased, keepdim, correction, with_mean=False)
    return finish(variance, out)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Same as torch.std (a zero gradient where the std is 0, as PyTorch)."""
    deviation, _ = _var_mean("std", input, dim, unbiased, keepdim, correction, True, False)
    return finish(deviation, out)


@register("var_mean", lambda lib, x, **kw: lib.var_mean(x, **kw), _VAR_SAMPLES[1:3])
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Same as torch.var_mean: (var, mean)."""
    return _var_mean("var_mean", input, dim, unbiased, keepdim, correction)


@register("std_mean", lambda lib, x, **kw: lib.std_mean(x, **kw), _VAR_SAMPLES[1:3])
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Same as torch.std_mean: (std, mean)."""
    return _var_mean("std_mean", input, dim, unbiased, keepdim, correction, True)


@register(
    "logsumexp",
    lambda lib, x, **kw: x.logsumexp(**kw),
    (S((3, 4), dim=1), S((2, 3, 4), dim=(0, 2), keepdim=True), S((3, 4), dim=-1, keepdim=True))
    + (S((), dim=0), S((0, 3), dim=0)),
)
def logsumexp(input, dim, keepdim=False, *, out=None):
    """Same as torch.logsumexp, shifted by the max so that no exp overflows."""
    x = floating(input, "logsumexp")
    data = x._data
    dims = _dims(dim, data.ndim, "logsumexp")
    xp = array_module(data)
    if _count(data.shape, dims) == 0:  # the log of an empty sum
        return finish(sum(x, dims, keepdim) - math.inf, out)
    shift = data.max(axis=dims, keepdims=True)
    if is_scalar_result(shift):  # a 0-d input
        shift = scalar_to_array(shift, data.__class__)
    shift[xp.isinf(shift)] = 0  # a slice of -inf (or one holding +inf) needs no shift
    shift = Tensor._make(shift)
    with quiet(xp):
        result = log(sum(exp(x - shift), dims, keepdim=True)) + shift
    if not keepdim:
        result = result.reshape(tuple(n for k, n in enumerate(data.shape) if k not in dims))
    return finish(result, out)


def _type_word(t):
    return {"int64": "Long", "int32": "Int", "bool": "Bool"}.get(
        t.dtype.name, t.dtype.name.capitalize()
    )


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.nansum: the sum with NaN counted as zero."""
    if input._data.dtype.kind == "f":
        input = where(isnan(input), 0.0, input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Same as torch.nanmean: the mean of the non-NaN values."""
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{_type_word(input)}"
        )
    count = sum(~isnan(input), dim, keepdim)
    return finish(nansum(input, dim, keepdim, dtype=dtype) / count, out)


register("nansum", lambda lib, x, **kw: x.nansum(**kw), (S((3, 4)), S((3, 4), dim=1)))(nansum)
register("nanmean", lambda lib, x, **kw: x.nanmean(**kw), (S((3, 4)), S((3, 4), dim=-1)))(nanmean)
register(
    "max_dim",
    lambda lib, x, **kw: x.max(**kw),
    (S((3, 4), dim=1), S((2, 3, 4), dim=-1, keepdim=True), S((), dim=0)),
)(max)
register("min_dim", lambda lib, x, **kw: x.min(**kw), (S((3, 4), dim=0), S((3, 4), dim=-2)))(min)


# --- sorting and order statistics ---
def _sort_indices(data, d, descending):
    """Stable argsort along d (NaN sorts as the largest value, as PyTorch)."""
    xp = array_module(data)
    if data.ndim == 0:
        return xp.zeros((), dtype="int64")
    stable = {"kind": "stable"} if xp.__name__ == "numpy" else {}  # CuPy always sorts stably
    if not descending:
        return xp.argsort(data, axis=d, **stable).astype("int64", copy=False)
    # stable and descending: sort the reversed array, reverse the order, map positions back
    n = data.shape[d]
    ascending = xp.argsort(xp.flip(data, axis=d), axis=d, **stable)
    return ((n - 1) - xp.flip(ascending, axis=d)).astype("int64", copy=False)


def _row_major(array):
    """A row-major array, as PyTorch's results are (a slice of a sort order is not)."""
    if array.flags.c_contiguous:  # 0-d included, which ascontiguousarray would make 1-d
        return array
    return array_module(array).ascontiguousarray(array)


def _select(input, indices, d):
    values = take_along(input, indices, d)
    if not values.requires_grad:
        values = Tensor._make(values._data)
    return ValuesIndices(values, Tensor._make(_row_major(indices)))


SORT_SAMPLES = (S((3, 4)), S((3, 4), dim=0), S((2, 3, 4), dim=1, descending=True), S(()))
SORT_SAMPLES += (S((0, 3), dim=0),)


@register("sort", lambda lib, x, **kw: x.sort(**kw), SORT_SAMPLES)
def sort(input, dim=-1, descending=False, *, stable=False, out=None):
    """Same as torch.sort: (values, indices); always stable."""
    d = normalize_dim(dim, input._data.ndim, "sort")
    return _select(input, _sort_indices(input._data, d, descending), d)


def argsort(input, dim=-1, descending=False, *, stable=False):
    """Same as torch.argsort (always stable)."""
    d = normalize_dim(dim, input._data.ndim, "argsort")
    return Tensor._make(_row_major(_sort_indices(input._data, d, descending)))


@register("msort", lambda lib, x: lib.msort(x), (S((3, 4)), S((5,))))
def msort(input, *, out=None):
    """Same as torch.msort: sorted along dim 0."""
    return finish(sort(input, 0).values, out)


def _size_along(input, d):
    return input._data.shape[d] if input._data.ndim else 1


@register(
    "topk",
    lambda lib, x, **kw: x.topk(**kw),
    (S((3, 4), k=2), S((3, 4), k=3, dim=0, largest=False), S((2, 3, 4), k=1, dim=-2), S((), k=1)),
)
def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):  # noqa: A002
    """Same as torch.topk: the k largest (or smallest) values along dim, in order."""
    d = normalize_dim(-1 if dim is None else dim, input._data.ndim, "topk")
    if not 0 <= k <= _size_along(input, d):
        raise RuntimeError(
            f"topk(): selected index k out of range (k={k}, dim {d} has size "
            f"{_size_along(input, d)})"
        )
    order = _sort_indices(input._data, d, largest)
    return _select(input, order[(slice(None),) * d + (slice(0, k),)] if order.ndim else order, d)


@register(
    "kthvalue",
    lambda lib, x, **kw: x.kthvalue(**kw),
    (S((3, 4), k=2), S((2, 3, 4), k=3, dim=1, keepdim=True), S((), k=1)),
)
def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    """Same as torch.kthvalue: the k-th smallest value (1-based) along dim, and its index."""
    ndim = input._data.ndim
    d = normalize_dim(-1 if dim is None else dim, ndim, "kthvalue")
    if not 1 <= k <= _size_along(input, d):
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    order = _sort_indices(input._data, d, False)
    indices = order[(slice(None),) * d + (slice(k - 1, k),)] if ndim else order
    values, indices = _select(input, indices, d)
    return ValuesIndices(_squeezed(values, d, keepdim, ndim), _squeezed(indices, d, keepdim, ndim))


def _median_position(xp, data, d, n, ignore_nan):
    """Where the (lower) median sits in sorted order: NaN propagates unless ignored."""
    if data.dtype.kind != "f":
        return (n - 1) // 2
    nans = xp.isnan(data).sum(axis=d, keepdims=True)
    if ignore_nan:
        return xp.maximum((n - nans - 1) // 2, 0)
    return xp.where(nans > 0, n - nans, (n - 1) // 2)


@register(
    "median",
    lambda lib, x, **kw: x.median(**kw),
    (S((3, 4)), S((5,)), S(()), S((3, 4), dim=1), S((2, 3, 4), dim=-1, keepdim=True)),
)
@register("nanmedian", lambda lib, x, **kw: x.nanmedian(**kw), (S((3, 4)), S((3, 4), dim=0)))
class Median(Primitive):
    """The lower median of all elements; ties share the gradient evenly, as PyTorch."""

    @staticmethod
    def forward(ctx, x, ignore_nan):
        xp = array_module(x)
        flat = x.reshape(-1)
        if flat.size == 0:
            out = xp.full((), math.nan, dtype=x.dtype)
        else:
            position = _median_position(xp, flat, 0, flat.size, ignore_nan)
            out = xp.sort(flat)[int(xp.asarray(position).reshape(-1)[0])]
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        chosen = (x == out) | (isnan(x) & isnan(out))
        return grad * chosen / chosen.sum(), None


def _median(input, dim, keepdim, ignore_nan, op):
    if dim is None:
        return Median.apply(input, ignore_nan)
    data = input._data
    ndim = data.ndim
    d = normalize_dim(dim, ndim, op)
    n = _size_along(input, d)
    if n == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    xp = array_module(data)
    order = _sort_indices(data, d, False)
    if ndim:
        position = _median_position(xp, data, d, n, ignore_nan)
        shape = keepdim_shape(data.shape, (d,))
        position = xp.broadcast_to(xp.asarray(position, dtype="int64"), shape)
        order = xp.take_along_axis(order, position, axis=d)
    values, indices = _select(input, order, d)
    return ValuesIndices(_squeezed(values, d, keepdim, ndim), _squeezed(indices, d, keepdim, ndim))


def median(input, dim=None, keepdim=False, *, out=None):
    """Same as torch.median: the lower median; with dim, (values, indices). NaN propagates."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim=False, *, out=None):
    """Same as torch.nanmedian: the lower median of the non-NaN values."""
    return _median(input, dim, keepdim, True, "nanmedian")


__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "cumprod",
    "cumsum",
    "kthvalue",
    "logsumexp",
    "max",
    "mean",
    "median",
    "min",
    "msort",
    "nanmean",
    "nanmedian",
    "nansum",
    "prod",
    "sort",
    "std",
    "std_mean",
    "sum",
    "topk",
    "var",
    "var_mean",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__ if name not in ("var_mean", "std_mean")}
TENSOR_METHODS["sum_to_size"] = sum_to_size
TENSOR_METHODS["cumsum_"] = _cumulative_(cumsum, "cumsum")
TENSOR_METHODS["cumprod_"] = _cumulative_(cumprod, "cumprod")

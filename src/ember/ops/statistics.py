"""Statistics: var, std, var_mean, std_mean, logsumexp, nansum, nanmean.

The plain reductions they build on (sum, mean and the dim handling) are in reduction.py.
"""

from __future__ import annotations

import builtins
import math

from ember._backend import array_module, is_scalar_result, scalar_to_array
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._primitive import Primitive
from ember.ops._shapes import keepdim_shape
from ember.ops._table import S, register
from ember.ops.pointwise import exp, log, where
from ember.ops.pointwise_extra import floating, isnan, quiet
from ember.ops.reduction import _count, _dims, mean, sum


# --- variance, standard deviation, logsumexp ---
def _var_mean(op, input, dim, unbiased, keepdim, correction, root=False, with_mean=True):
    """(var or std, mean or None): PyTorch's argument forms, checks and warning."""
    if isinstance(dim, bool):  # var(x, True): the legacy unbiased flag in dim's place
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    if not is_floating(input._data.dtype):
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = _dims(dim, input._data.ndim, op)
    if _count(input._data.shape, dims) <= correction:
        warn(
            f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning,
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
            zero = out == 0  # (divided by 1 there, so this backward's own derivative is finite)
            grad = where(zero, 0.0, grad / (2 * where(zero, 1.0, out)))
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


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Same as torch.var (correction=1 by default; unbiased= is the legacy spelling)."""
    variance, _ = _var_mean("var", input, dim, unbiased, keepdim, correction, with_mean=False)
    return variance


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Same as torch.std (a zero gradient where the std is 0, as PyTorch)."""
    deviation, _ = _var_mean("std", input, dim, unbiased, keepdim, correction, True, False)
    return deviation


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
def logsumexp(input, dim, keepdim=False):
    """Same as torch.logsumexp, shifted by the max so that no exp overflows."""
    x = floating(input, "logsumexp")
    data = x._data
    dims = _dims(dim, data.ndim, "logsumexp")
    xp = array_module(data)
    if _count(data.shape, dims) == 0:  # the log of an empty sum
        return sum(x, dims, keepdim) - math.inf
    shift = data.max(axis=dims, keepdims=True)
    if is_scalar_result(shift):  # a 0-d input
        shift = scalar_to_array(shift, data.__class__)
    shift[xp.isinf(shift)] = 0  # a slice of -inf (or one holding +inf) needs no shift
    shift = Tensor._make(shift)
    with quiet(xp):
        result = log(sum(exp(x - shift), dims, keepdim=True)) + shift
    if not keepdim:
        result = result.reshape(tuple(n for k, n in enumerate(data.shape) if k not in dims))
    return result


def _type_word(t):
    return {"int64": "Long", "int32": "Int", "bool": "Bool"}.get(
        t.dtype.name, t.dtype.name.capitalize()
    )


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.nansum: the sum with NaN counted as zero."""
    if is_floating(input._data.dtype):
        input = where(isnan(input), 0.0, input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.nanmean: the mean of the non-NaN values."""
    if not is_floating(input._data.dtype):
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{_type_word(input)}"
        )
    count = sum(~isnan(input), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


register("nansum", lambda lib, x, **kw: x.nansum(**kw), (S((3, 4)), S((3, 4), dim=1)))(nansum)
register("nanmean", lambda lib, x, **kw: x.nanmean(**kw), (S((3, 4)), S((3, 4), dim=-1)))(nanmean)


__all__ = ["logsumexp", "nanmean", "nansum", "std", "std_mean", "var", "var_mean"]
TENSOR_METHODS = {name: globals()[name] for name in __all__ if name not in ("var_mean", "std_mean")}

"""Running reductions beside cumsum/cumprod (reduction.py): cummax, cummin, logcumsumexp; and
diff, the n-th forward difference.
"""

from __future__ import annotations

import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.indexing import _type_name
from ember.ops.join import cat
from ember.ops.pointwise import exp, where
from ember.ops.reduction import CUMULATIVE, ValuesIndices, take_along


# --- running maximum and minimum ---
def _running_extreme(input, dim, op):
    """(values, indices) of the running max or min along dim. An element takes over when it
    ties or beats the extreme so far, or is NaN (a NaN then holds: NaN propagates), so the
    index is PyTorch's; the values are input's at those indices, which is what the gradient
    follows."""
    data = input._data
    d = normalize_dim(dim, data.ndim, op)
    xp = array_module(data)
    if data.ndim == 0:
        return ValuesIndices(input * 1, Tensor._make(xp.zeros((), dtype="int64")))
    n = data.shape[d]
    if n == 0:
        return ValuesIndices(input * 1, Tensor._make(xp.zeros(data.shape, dtype="int64")))
    ufunc = xp.maximum if op == "cummax" else xp.minimum
    running = ufunc.accumulate(data, axis=d)
    head = (slice(None),) * d
    before = xp.concatenate([data[head + (slice(0, 1),)], running[head + (slice(0, n - 1),)]], d)
    beats = data >= before if op == "cummax" else data <= before
    if is_floating(data.dtype):
        beats = xp.isnan(data) | (beats & ~xp.isnan(before))
    position = xp.arange(n, dtype="int64").reshape((n,) + (1,) * (data.ndim - d - 1))
    indices = xp.maximum.accumulate(xp.where(beats, position, 0), axis=d)
    return ValuesIndices(take_along(input, indices, d), Tensor._make(indices))


CUMULATIVE_EXTREME = CUMULATIVE[:4]


@register("cummax", lambda lib, x, **kw: lib.cummax(x, **kw), CUMULATIVE_EXTREME)
def cummax(input, dim):
    """Same as torch.cummax: (values, indices) of the running maximum along dim (the last of
    tied positions; NaN propagates). The gradient goes to the chosen elements."""
    return _running_extreme(input, dim, "cummax")


@register("cummin", lambda lib, x, **kw: x.cummin(**kw), CUMULATIVE_EXTREME)
def cummin(input, dim):
    """Same as torch.cummin: (values, indices) of the running minimum along dim."""
    return _running_extreme(input, dim, "cummin")


# --- log of running sums of exponentials ---
@register("logcumsumexp", lambda lib, x, **kw: x.logcumsumexp(**kw), CUMULATIVE)
class LogCumSumExp(Primitive):
    """A primitive for stability: each step is a logaddexp, so no exp overflows or underflows
    to log(0), whatever the spread of the values (a shifted exp-cumsum-log loses the small
    early terms). The gradient, sum_{i >= j} grad_i exp(x_j - out_i), uses every pair (i, j)
    along dim: no factor exceeds 1, and it stays linear in grad (forward mode and higher
    derivatives follow), at O(n^2) memory per row of length n."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        out = x.copy() if x.ndim == 0 else array_module(x).logaddexp.accumulate(x, axis=dim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if x.ndim == 0:
            return grad, None
        d = ctx.dim
        x, out, grad = x.movedim(d, -1), out.movedim(d, -1), grad.movedim(d, -1)
        n = x.shape[-1]
        xp = array_module(x._data)
        later = Tensor._make(xp.tri(n, dtype=bool))  # [i, j]: j <= i
        gap = where(later, x.unsqueeze(-2) - out.unsqueeze(-1), -math.inf)
        return (grad.unsqueeze(-1) * exp(gap)).sum(-2).movedim(-1, d), None


def logcumsumexp(input, dim):
    """Same as torch.logcumsumexp: log(cumsum(exp(input), dim)), computed stably."""
    if not is_floating(input._data.dtype):
        raise NotImplementedError(
            f"\"logcumsumexp_out_cpu\" not implemented for '{_type_name(input)}'"
        )
    return LogCumSumExp.apply(input, normalize_dim(dim, input._data.ndim, "logcumsumexp"))


# --- forward differences ---
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """Same as torch.diff: the n-th forward difference along dim (out[i] = x[i+1] - x[i], n
    times), after joining prepend and append (tensors with input's number of dims) on either
    side. Bool tensors give x[i+1] != x[i], as PyTorch."""
    ndim = input._data.ndim
    if ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = normalize_dim(dim, ndim, "diff")
    parts = []
    for extra in (prepend, input, append):
        if extra is None:
            continue
        if not isinstance(extra, Tensor) or extra._data.ndim != ndim:
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
        parts.append(extra)
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[d]
        if length == 0:
            break
        later, earlier = x.narrow(d, 1, length - 1), x.narrow(d, 0, length - 1)
        x = later != earlier if x._data.dtype.kind == "b" else later - earlier
    return x


def _diff_sample(lib, x, *extra, sides=(), **kw):
    return lib.diff(x, **kw, **dict(zip(sides, extra)))


register(
    "diff",
    _diff_sample,
    (
        S((3, 4)),
        S((3, 4), n=2, dim=0),
        S((5,), n=3),
        S((2, 3), (2, 1), (2, 2), sides=("prepend", "append")),
        S((2, 3), (1, 3), dim=0, sides=("append",)),
        S((2,), n=3),
    ),
)(diff)

__all__ = ["cummax", "cummin", "diff", "logcumsumexp"]
TENSOR_METHODS = {name: globals()[name] for name in __all__}

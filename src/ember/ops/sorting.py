"""Sorting and order statistics: sort, argsort, msort, topk, kthvalue, median, nanmedian.

Selections (sort, topk, kthvalue, median with dim) index the input with the chosen positions,
so the gradient goes to exactly those elements, as PyTorch.
"""

from __future__ import annotations

import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.autograd import forward_ad
from ember.ops._primitive import Primitive
from ember.ops._shapes import keepdim_shape, normalize_dim
from ember.ops._table import S, register
from ember.ops.pointwise_extra import isnan
from ember.ops.reduction import ValuesIndices, _squeezed, take_along


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
        fresh = Tensor._make(values._data)
        forward_ad.carry(values, fresh)
        values = fresh
    return ValuesIndices(values, Tensor._make(_row_major(indices)))


SORT_SAMPLES = (S((3, 4)), S((3, 4), dim=0), S((2, 3, 4), dim=1, descending=True), S(()))
SORT_SAMPLES += (S((0, 3), dim=0),)


@register("sort", lambda lib, x, **kw: x.sort(**kw), SORT_SAMPLES)
def sort(input, dim=-1, descending=False, *, stable=False):
    """Same as torch.sort: (values, indices); always stable."""
    d = normalize_dim(dim, input._data.ndim, "sort")
    return _select(input, _sort_indices(input._data, d, descending), d)


def argsort(input, dim=-1, descending=False, *, stable=False):
    """Same as torch.argsort (always stable)."""
    d = normalize_dim(dim, input._data.ndim, "argsort")
    return Tensor._make(_row_major(_sort_indices(input._data, d, descending)))


@register("msort", lambda lib, x: lib.msort(x), (S((3, 4)), S((5,))))
def msort(input):
    """Same as torch.msort: sorted along dim 0."""
    return sort(input, 0).values


def _size_along(input, d):
    return input._data.shape[d] if input._data.ndim else 1


@register(
    "topk",
    lambda lib, x, **kw: x.topk(**kw),
    (S((3, 4), k=2), S((3, 4), k=3, dim=0, largest=False), S((2, 3, 4), k=1, dim=-2), S((), k=1)),
)
def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
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
def kthvalue(input, k, dim=-1, keepdim=False):
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
    if not is_floating(data.dtype):
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


def median(input, dim=None, keepdim=False):
    """Same as torch.median: the lower median; with dim, (values, indices). NaN propagates."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim=False):
    """Same as torch.nanmedian: the lower median of the non-NaN values."""
    return _median(input, dim, keepdim, True, "nanmedian")


# --- searching sorted sequences ---
def _side(side, right, op):
    if side is None:
        return "right" if right else "left"
    if side not in ("left", "right"):
        raise RuntimeError(f"{op}(): side can only be 'left' or 'right' but got {side}")
    if right and side == "left":
        raise RuntimeError(
            f"{op}(): side and right can't be set to opposites, got side of left while right "
            "was True"
        )
    return side


def _index_dtype(out_int32):
    return "int32" if out_int32 else "int64"


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):  # noqa: A002
    """Same as torch.searchsorted: for each value of `input`, the index in the last dim of
    `sorted_sequence` where it would be inserted to keep that dim sorted (the first such
    place, or the last with `right=True` / `side="right"`).

    `sorted_sequence` is 1-D, or has input's leading dims (one sorted row per row of input);
    `input` may be a number (a 0-d result). `sorter` gives the order that sorts an unsorted
    sequence (as `argsort`). Results are int64 (int32 with `out_int32`), never differentiable.
    """
    side = _side(side, right, "searchsorted")
    seq = sorted_sequence._data
    xp = array_module(seq)
    scalar = not isinstance(input, Tensor)
    values = xp.asarray(input, dtype=seq.dtype) if scalar else input._data
    if sorter is not None:
        if sorter.shape != sorted_sequence.shape:
            raise RuntimeError(
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                f"boundary tensor {list(sorted_sequence.shape)} and got sorter tensor "
                f"{list(sorter.shape)}"
            )
        seq = xp.take_along_axis(seq, sorter._data, axis=-1) if seq.ndim else seq
    if seq.ndim == 0:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
            "dimension"
        )
    if seq.ndim > 1 and (scalar or seq.shape[:-1] != values.shape[:-1]):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor "
            f"{list(values.shape)}"
        )
    if seq.ndim == 1:
        found = xp.searchsorted(seq, values, side=side)
    else:
        rows = seq.reshape(-1, seq.shape[-1])
        wanted = values.reshape(rows.shape[0], -1)
        found = xp.stack([xp.searchsorted(r, w, side=side) for r, w in zip(rows, wanted)])
        found = found.reshape(values.shape)
    return Tensor._make(_row_major(xp.asarray(found).astype(_index_dtype(out_int32))))


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002
    """Same as torch.bucketize: for each value of `input`, the index of its bucket among the
    sorted 1-D `boundaries` (`boundaries[i-1] < v <= boundaries[i]`, or `<= v <` with
    `right=True`). int64 (int32 with `out_int32`), never differentiable."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(
            f"boundaries tensor must be 1 dimension, but got dim({boundaries._data.ndim})"
        )
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


__all__ = [
    "argsort",
    "bucketize",
    "kthvalue",
    "median",
    "msort",
    "nanmedian",
    "searchsorted",
    "sort",
    "topk",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__ if name != "searchsorted"}

"""Counting and repeating: repeat_interleave, unique, unique_consecutive, bincount,
count_nonzero, histc.

repeat_interleave selects input's entries (so its gradient adds back into them); the others
count or compare values and carry no gradient (PyTorch defines none for them).
"""

from __future__ import annotations

import builtins

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.indexing import GetItem, _type_name
from ember.ops.reduction import _dims
from ember.ops.shape import reshape


def _make(array, like):
    """A result array (NumPy may give a scalar for 0-d) as a tensor."""
    xp = array_module(like)
    return Tensor._make(xp.asarray(array))


# --- repeat_interleave ---
def _repeat_counts(repeats, n, xp, like):
    if isinstance(repeats, Tensor):
        counts = repeats._data
        if counts.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats has to be Long or Int tensor")
        if counts.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if counts.ndim == 1 and counts.shape[0] != n:
            raise RuntimeError(
                "repeats must have the same size as input along dim, but got repeats.size(0) = "
                f"{counts.shape[0]} and input.size(0) = {n}"
            )
        if counts.size and int(counts.min()) < 0:
            raise RuntimeError("repeats can not be negative")
        return xp.broadcast_to(xp.asarray(counts, dtype="int64"), (n,))
    if isinstance(repeats, bool) or not isinstance(repeats, int):
        raise TypeError(
            "repeat_interleave(): argument 'repeats' must be Tensor or int, not "
            f"{type(repeats).__name__}"
        )
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    return xp.full((n,), repeats, dtype="int64")


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Same as torch.repeat_interleave: each entry of input (flattened when dim is None)
    repeated `repeats` times along dim; repeats is an int, or a tensor of one count per entry.
    With a single integer tensor, `repeat_interleave(counts)` gives each index i counts[i]
    times. `output_size`, when given, must be the result's length along dim."""
    if repeats is None:  # repeat_interleave(counts): the indices, repeated
        if input._data.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        counts = _repeat_counts(input, input._data.size, array_module(input._data), input)
        xp = array_module(counts)
        return _make(xp.repeat(xp.arange(counts.shape[0], dtype="int64"), counts), counts)
    if dim is None:
        input = reshape(input, -1)
        d = 0
    else:
        d = normalize_dim(dim, input._data.ndim, "repeat_interleave")
    data = input._data
    xp = array_module(data)
    if data.ndim == 0:
        input, data = reshape(input, 1), data.reshape(1)
    n = data.shape[d]
    counts = _repeat_counts(repeats, n, xp, input)
    if output_size is not None and int(counts.sum()) != output_size:
        raise RuntimeError("allocated size does not match required size")
    positions = xp.repeat(xp.arange(n, dtype="int64"), counts)
    return GetItem.apply(input, (slice(None),) * d + (positions,))


def _repeat_sample(lib, x, **kw):
    repeats = kw.pop("repeats")
    if isinstance(repeats, list):
        repeats = lib.tensor(repeats)
    return x.repeat_interleave(repeats, **kw)


register(
    "repeat_interleave",
    _repeat_sample,
    (
        S((3, 4), repeats=2),
        S((3, 4), repeats=[1, 0, 3], dim=0),
        S((2, 3), repeats=[2, 1, 2], dim=-1, output_size=5),
        S((), repeats=3),
    ),
)(repeat_interleave)


# --- unique values ---
def _check_dim(dim, ndim, op):
    return None if dim is None else normalize_dim(dim, builtins.max(ndim, 1), op)


def _unique_result(values, inverse, counts, return_inverse, return_counts, like):
    parts = [_make(values, like)]
    if return_inverse:
        parts.append(_make(inverse, like))
    if return_counts:
        parts.append(_make(counts, like))
    return parts[0] if len(parts) == 1 else tuple(parts)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """Same as torch.unique: the distinct values in ascending order (or, with dim, the distinct
    slices along dim), and optionally the inverse (where each entry went, shaped like input,
    or like input's dim) and the counts. The result is always sorted, as PyTorch's CPU
    result. No gradient (PyTorch defines none)."""
    data = input._data
    xp = array_module(data)
    d = _check_dim(dim, data.ndim, "unique")
    if d is None:
        values, inverse, counts = xp.unique(
            data.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False
        )
        inverse = inverse.reshape(data.shape)
    else:
        values, inverse, counts = xp.unique(
            data, return_inverse=True, return_counts=True, axis=d, equal_nan=False
        )
        inverse = inverse.reshape(-1)
    return _unique_result(
        values, inverse.astype("int64"), counts.astype("int64"), return_inverse, return_counts, data
    )


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Same as torch.unique_consecutive: the first entry (or slice along dim) of each run of
    equal consecutive ones, and optionally the inverse (the run of each entry) and the run
    lengths. No gradient."""
    data = input._data
    xp = array_module(data)
    d = _check_dim(dim, data.ndim, "unique_consecutive")
    flat = data.reshape(-1) if d is None else xp.moveaxis(data, d, 0)
    n = flat.shape[0]
    if n == 0:
        starts = xp.zeros(0, dtype=bool)
    else:
        changed = (flat[1:] != flat[:-1]).reshape(n - 1, -1).any(axis=1)
        starts = xp.concatenate([xp.ones(1, dtype=bool), changed])
    first = xp.nonzero(starts)[0]
    values = flat[first]
    if d is not None:
        values = xp.moveaxis(values, 0, d)
    run = xp.cumsum(starts) - 1
    counts = xp.diff(xp.append(first, n))
    inverse = run.reshape(data.shape) if d is None else run
    return _unique_result(
        xp.ascontiguousarray(values),
        inverse.astype("int64"),
        counts.astype("int64"),
        return_inverse,
        return_counts,
        data,
    )


# --- counting ---
def bincount(input, weights=None, minlength=0):
    """Same as torch.bincount: how often each value 0..max occurs in a 1-D tensor of
    non-negative integers (at least `minlength` bins); with weights, the sum of the weights
    per value (float weights keep their dtype, others give float64). No gradient (PyTorch's
    is not implemented)."""
    data = input._data
    xp = array_module(data)
    if data.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_type_name(input)}'")
    if data.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if data.size and int(data.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None:
        return _make(xp.bincount(data, minlength=minlength).astype("int64"), data)
    w = weights._data
    if w.ndim != 1 or w.shape[0] != data.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    dtype = w.dtype if w.dtype.name in ("float32", "float64") else "float64"
    return _make(xp.bincount(data, weights=w, minlength=minlength).astype(dtype), data)


def count_nonzero(input, dim=None):
    """Same as torch.count_nonzero: how many entries are not zero, over dim (an int or a
    tuple) or all of them; int64."""
    data = input._data
    xp = array_module(data)
    dims = _dims(dim, data.ndim, "count_nonzero")
    return _make(xp.count_nonzero(data, axis=dims).astype("int64"), data)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """Same as torch.histc: a histogram of input's values in `bins` equal bins between min and
    max (the data's own range when both are 0; values outside are left out, max goes in the
    last bin). Float tensors only; the result has input's dtype and no gradient."""
    data = input._data
    xp = array_module(data)
    if not is_floating(data.dtype):
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_type_name(input)}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    low, high = float(min), float(max)
    if low == high and data.size:
        low, high = float(data.min()), float(data.max())
    if low == high:
        low, high = low - 1, high + 1
    if low > high:
        raise RuntimeError("torch.histc: max must be larger than min")
    if not (xp.isfinite(low) and xp.isfinite(high)):
        raise RuntimeError(f"torch.histc: range of [{low:g}, {high:g}] is not finite")
    flat = data.reshape(-1)
    flat = flat[(flat >= low) & (flat <= high)]
    slot = ((flat.astype("float64") - low) * bins / (high - low)).astype("int64")
    slot = xp.minimum(slot, bins - 1)
    return _make(xp.bincount(slot, minlength=bins).astype(data.dtype), data)


__all__ = [
    "bincount",
    "count_nonzero",
    "histc",
    "repeat_interleave",
    "unique",
    "unique_consecutive",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__}

"""vmap's batching rules: a NumPy call on one sample as one call on the whole batch.

Each rule gets the call's arguments, finds the highest vmap level among them (`_level`), and
calls the same NumPy function on the physical arrays (batch at dim 0) with every dimension
argument moved past the batch. Families:
- elementwise ufuncs (`exp`, `add`, `where`, `clip`, comparisons, ...): operands are padded
  with size-1 dimensions after the batch, so NumPy's broadcasting lines them up as for one
  sample (an unbatched operand broadcasts over the batch by itself);
- reductions and scans along axes (`sum`, `max`, `argmax`, `cumsum`, `sort`, ufunc.reduce):
  axes shift by one, `axis=None` means every axis of a sample;
- shape and view functions (`reshape`, `transpose`, `moveaxis`, `expand_dims`, `squeeze`,
  `broadcast_to`, `diagonal`, `pad`, indexing with basic and unbatched advanced indices);
- joins (`concatenate`, `stack`, `split`), gathers (`take_along_axis`, `put_along_axis`);
- matrix products (`matmul`, `dot`, `einsum`) and the stacked `numpy.linalg` functions;
- array makers from an array (`zeros_like`, ...), in-place copies (`copyto`, `out=`).
Everything else loops (`_loop`): the call runs per sample and the results are stacked, with
PyTorch's performance warning naming the function.
"""

from __future__ import annotations

import inspect
import string

import numpy as np

from ember.func._batching import BatchedArray, NotBatchable, warn_fallback


# --- finding the level and the physical arrays ---
def _level(values):
    """The highest vmap level of the BatchedArrays in `values` (nested lists/tuples), or 0."""
    top = 0
    for v in values:
        if isinstance(v, BatchedArray):
            top = max(top, v.level)
        elif isinstance(v, (list, tuple)):
            top = max(top, _level(v))
    return top


def _at(x, level):
    return isinstance(x, BatchedArray) and x.level == level


def _batch(values, level):
    for v in values:
        if _at(v, level):
            return v.physical.shape[0]
        if isinstance(v, (list, tuple)):
            size = _batch(v, level)
            if size is not None:
                return size
    return None


def _ndim(x):
    return getattr(x, "ndim", None) if not isinstance(x, (list, tuple)) else np.ndim(x)


def _pad(x, level, ndim):
    """`x`'s physical array with size-1 dims after the batch, so a sample has `ndim` dims."""
    if not _at(x, level):
        return x
    extra = ndim - x.ndim
    phys = x.physical
    if extra > 0:
        phys = phys.reshape((phys.shape[0],) + (1,) * extra + tuple(phys.shape[1:]))
    return phys


def _lift(x, level, size):
    """`x` as a physical array of the batch: its own, or an unbatched value broadcast."""
    if _at(x, level):
        return x.physical
    if not isinstance(x, (BatchedArray, np.ndarray)):
        x = np.asarray(x)
    return np.broadcast_to(np.expand_dims(x, 0), (size,) + tuple(x.shape))


def _wrap(result, level):
    """A computed result (not a view) as a BatchedArray; row-major, as ember's ops make their
    results (which they could not do themselves: `ascontiguousarray` does not dispatch)."""
    if isinstance(result, tuple):
        items = [_wrap(r, level) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    if isinstance(result, list):
        return [_wrap(r, level) for r in result]
    return BatchedArray(row_major(result), level)


def row_major(x):
    """`x` (an array or a BatchedArray) laid out row-major, copied only if it is not."""
    if isinstance(x, np.ndarray):
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    if isinstance(x, BatchedArray) and not x.physical.flags.c_contiguous:
        return BatchedArray(row_major(x.physical), x.level)
    if isinstance(x, np.generic):
        return np.asarray(x)
    return x


def _axis(axis, ndim):
    """One sample's axis as the physical one."""
    return axis % ndim + 1 if ndim else 1


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(_axis(a, ndim) for a in axis)
    return _axis(axis, ndim)


# --- the fallback: once per sample ---
def _swap(value, level, index):
    if _at(value, level):
        return value.physical[index, ...]  # (a 0-d array, not a scalar, for a 0-d sample)
    if isinstance(value, list):
        return [_swap(v, level, index) for v in value]
    if isinstance(value, tuple):
        items = [_swap(v, level, index) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def _stack(results, level):
    first = results[0]
    if first is None:
        return None
    if isinstance(first, (tuple, list)):
        items = [_stack([r[i] for r in results], level) for i in range(len(first))]
        if isinstance(first, list):
            return items
        return type(first)(*items) if hasattr(first, "_fields") else tuple(items)
    if isinstance(first, (np.ndarray, np.generic, BatchedArray)):
        return BatchedArray(np.stack(results), level)
    if all(r == first for r in results[1:]):
        return first
    raise NotBatchable("a call whose non-array result differs between samples")


def _loop(func, args, kwargs, name):
    level = _level(args) or _level(list(kwargs.values()))
    out = kwargs.get("out")
    if out is not None and _level([out]) < level:
        raise NotBatchable(f"{name} writing a batched value into an unbatched array")
    warn_fallback(name)
    size = _batch(list(args) + list(kwargs.values()), level)
    results = []
    for i in range(size):
        call_args = _swap(tuple(args), level, i)
        call_kwargs = {k: _swap(v, level, i) for k, v in kwargs.items()}
        results.append(func(*call_args, **call_kwargs))
    if size == 0:
        raise NotBatchable(f"{name} on an empty batch")
    return _stack(results, level)


# --- ufuncs ---
def batched_ufunc(ufunc, method, inputs, kwargs):
    """`ufunc.method(*inputs, **kwargs)` where an input (or `out`) is batched."""
    level = _level(inputs) or _level([kwargs.get("out", ())])
    out = kwargs.get("out")
    if out is not None and not all(_at(o, level) for o in out):
        raise NotBatchable(f"numpy.{ufunc.__name__} writing a batched value in place")
    if ufunc is np.matmul and method == "__call__" and out is None:
        return _matmul(inputs[0], inputs[1], level, kwargs)
    if method == "__call__" and ufunc.signature is None:
        ndim = max(np.ndim(x) if not isinstance(x, BatchedArray) else x.ndim for x in inputs)
        args = [_pad(x, level, ndim) for x in inputs]
        if "where" in kwargs:
            kwargs = dict(kwargs, where=_pad(kwargs["where"], level, ndim))
        if out is not None:
            kwargs = dict(kwargs, out=tuple(o.physical for o in out))
        return _wrap(ufunc(*args, **kwargs), level)
    if method in ("reduce", "accumulate") and len(inputs) == 1 and _at(inputs[0], level):
        x = inputs[0]
        kwargs = dict(kwargs)
        default = 0 if method == "reduce" or "axis" not in kwargs else kwargs["axis"]
        axis = kwargs.get("axis", default)
        if method == "accumulate" and axis is None:
            return _loop(getattr(ufunc, method), inputs, kwargs, f"numpy.{ufunc.__name__}")
        kwargs["axis"] = _axes(axis, x.ndim)
        if "where" in kwargs:
            kwargs["where"] = _pad(kwargs["where"], level, x.ndim)
        if out is not None:
            kwargs["out"] = tuple(o.physical for o in out)
        return _wrap(getattr(ufunc, method)(x.physical, **kwargs), level)
    if method == "at":
        return _ufunc_at(ufunc, level, *inputs)
    return _loop(getattr(ufunc, method), inputs, kwargs, f"numpy.{ufunc.__name__}.{method}")


def _ufunc_at(ufunc, level, target, index, values=None):
    """`ufunc.at(target, index, values)`: in place, unbuffered, on the batched target."""
    if not _at(target, level):
        raise NotBatchable(f"numpy.{ufunc.__name__}.at into an unbatched array")
    items = _index_tuple(index)
    if _level(items) == level:
        physical = _batched_index(items, level, target.physical.shape[0])
        if physical is None:
            return _loop(ufunc.at, (target, index, values), {}, f"numpy.{ufunc.__name__}.at")
    else:
        physical = (slice(None),) + items
    if values is None:
        ufunc.at(target.physical, physical)
        return None
    if _at(values, level):
        values = _pad(values, level, np.ndim(target.physical[physical]) - 1)
    ufunc.at(target.physical, physical, values)
    return None


def _matmul(a, b, level, kwargs):
    """One sample's `a @ b` for the batch: 1-D operands made 2-D, leading dims lined up."""
    a_vec, b_vec = np.ndim(a) == 1, np.ndim(b) == 1
    if a_vec:
        a = np.expand_dims(a, 0)
    if b_vec:
        b = np.expand_dims(b, -1)
    ndim = max(np.ndim(a), np.ndim(b))
    out = np.matmul(_pad(a, level, ndim), _pad(b, level, ndim), **kwargs)
    if b_vec:
        out = out[..., 0]
    if a_vec:
        out = out[..., 0, :] if not b_vec else out[..., 0]
    return _wrap(out, level)


# --- functions ---
RULES = {}


def rule(*funcs):
    def register(fn):
        for f in funcs:
            RULES[f] = fn
        return fn

    return register


_SIGNATURES = {}


def _bind(func, args, kwargs):
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(func)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def batched_function(func, args, kwargs):
    """`func(*args, **kwargs)` (a NumPy function) where an argument is batched."""
    fn = RULES.get(func)
    if fn is not None:
        level = _level(args) or _level(list(kwargs.values()))
        result = fn(func, level, args, kwargs)
        if result is not NotImplemented:
            return result
    return _loop(func, args, kwargs, f"numpy.{func.__name__}")


def _only_first(level, args, kwargs, extra=()):
    """Whether the first argument is the only batched one (besides names in `extra`)."""
    if not _at(args[0], level):
        return False
    rest = list(args[1:]) + [v for k, v in kwargs.items() if k not in extra]
    return _level(rest) < level


_FLAT_WHEN_NONE = {np.argmax, np.argmin, np.cumsum, np.cumprod, np.sort, np.argsort, np.median}
_FLAT_WHEN_NONE |= {np.nanmedian, np.nancumsum, np.nancumprod}


@rule(np.sum, np.mean, np.prod, np.amax, np.amin, np.max, np.min, np.any, np.all, np.std)
@rule(np.var, np.nansum, np.nanmean, np.nanmax, np.nanmin, np.argmax, np.argmin, np.cumsum)
@rule(np.cumprod, np.sort, np.argsort, np.median, np.nanmedian, np.count_nonzero, np.flip)
@rule(np.nancumsum, np.nancumprod, np.ptp)
def _along_axes(func, level, args, kwargs):
    if not _only_first(level, args, kwargs, ("where", "out")):
        return NotImplemented
    params = _bind(func, args, kwargs)
    names = list(params)
    x = params[names[0]]
    if "axis" not in params:
        return NotImplemented
    axis = params["axis"]
    phys = x.physical
    if axis is None and func in _FLAT_WHEN_NONE:
        phys, axis, ndim = phys.reshape(phys.shape[0], -1), 0, 1
    else:
        ndim = x.ndim
    params[names[0]] = phys
    params["axis"] = _axes(axis, ndim)
    if params.get("out") is not None:
        params["out"] = params["out"].physical
    if isinstance(params.get("where"), (BatchedArray, np.ndarray)):
        params["where"] = _pad(params["where"], level, x.ndim)
    first = params.pop(names[0])  # positionally: a nested level's rule reads args[0]
    params = {k: v for k, v in params.items() if v is not np._NoValue}
    return _wrap(func(first, **params), level)


@rule(np.where, np.clip, np.nan_to_num, np.isclose, np.around, np.round, np.isin, np.real)
@rule(np.imag)
def _elementwise(func, level, args, kwargs):
    if func is np.where and len(args) == 1:
        raise NotBatchable("numpy.where with one argument (the result's shape depends on data)")
    if func is np.isin:
        args = list(args) + [kwargs.pop("test_elements")] if "test_elements" in kwargs else args
        if _level(args[1:]) == level:
            return NotImplemented
        return _wrap(func(args[0].physical, *args[1:], **kwargs), level)
    values = list(args) + list(kwargs.values())
    ndim = max((_ndim(v) or 0) for v in values if _ndim(v) is not None)
    args = [_pad(a, level, ndim) for a in args]
    kwargs = {k: _pad(v, level, ndim) for k, v in kwargs.items()}
    return _wrap(func(*args, **kwargs), level)


@rule(np.zeros_like, np.ones_like, np.empty_like, np.full_like)
def _like(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    x = args[0]
    if kwargs.get("shape") is not None:
        shape = kwargs["shape"]
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        kwargs = dict(kwargs, shape=(x.physical.shape[0],) + shape)
    return _wrap(func(x.physical, *args[1:], **kwargs), level)


@rule(np.ascontiguousarray, np.copy, np.asfortranarray)
def _whole(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    return _wrap(func(args[0].physical, *args[1:], **kwargs), level)


@rule(np.shape, np.ndim, np.size)
def _metadata(func, level, args, kwargs):
    x = args[0]
    if func is np.shape:
        return x.shape
    if func is np.ndim:
        return x.ndim
    if len(args) > 1 or kwargs:
        return NotImplemented
    return x.size


@rule(np.result_type, np.can_cast, np.may_share_memory, np.shares_memory, np.min_scalar_type)
def _about_arrays(func, level, args, kwargs):
    def plain(v):
        if isinstance(v, BatchedArray):
            return v.physical if func in (np.may_share_memory, np.shares_memory) else v.dtype
        return v

    def deep(v):
        while isinstance(v, BatchedArray):
            v = plain(v)
        return v

    return func(*[deep(a) for a in args], **kwargs)


@rule(np.reshape)
def _reshape(func, level, args, kwargs):
    params = _bind(func, args, kwargs)
    x, shape = params["a"], params.get("shape", params.get("newshape"))
    if not _only_first(level, (x,), {}) or params.get("order", "C") != "C":
        return NotImplemented
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return BatchedArray(x.physical.reshape((x.physical.shape[0],) + shape), level)


@rule(np.ravel)
def _ravel(func, level, args, kwargs):
    x = args[0]
    if not _only_first(level, args, kwargs):
        return NotImplemented
    return BatchedArray(x.physical.reshape(x.physical.shape[0], -1), level)


@rule(np.transpose, np.permute_dims, np.matrix_transpose)
def _transpose(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    x = args[0]
    axes = args[1] if len(args) > 1 else kwargs.get("axes")
    n = x.ndim
    if func is np.matrix_transpose:
        axes = tuple(range(n - 2)) + (n - 1, n - 2)
    elif axes is None:
        axes = tuple(range(n - 1, -1, -1))
    return BatchedArray(np.transpose(x.physical, (0,) + tuple(_axis(a, n) for a in axes)), level)


@rule(np.swapaxes)
def _swapaxes(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x = params["a"]
    n = x.ndim
    return BatchedArray(
        np.swapaxes(x.physical, _axis(params["axis1"], n), _axis(params["axis2"], n)), level
    )


@rule(np.lib.stride_tricks.sliding_window_view)
def _sliding_window_view(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["x"], params["axis"]
    if axis is None:  # windows over every dim: the batch dim would be windowed too
        return NotImplemented
    n = x.ndim
    axis = tuple(_axis(a, n) for a in axis) if isinstance(axis, (tuple, list)) else _axis(axis, n)
    windows = np.lib.stride_tricks.sliding_window_view(
        x.physical, params["window_shape"], axis=axis, writeable=params["writeable"]
    )
    return BatchedArray(windows, level)  # the window dims come last, after the batch's


@rule(np.moveaxis)
def _moveaxis(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x = params["a"]
    n = x.ndim
    source, destination = _axes(params["source"], n), _axes(params["destination"], n)
    return BatchedArray(np.moveaxis(x.physical, source, destination), level)


@rule(np.expand_dims)
def _expand_dims(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["a"], params["axis"]
    axis = axis if isinstance(axis, (tuple, list)) else (axis,)
    n = x.ndim + len(axis)
    return BatchedArray(np.expand_dims(x.physical, tuple(_axis(a, n) for a in axis)), level)


@rule(np.squeeze)
def _squeeze(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["a"], params["axis"]
    if axis is None:
        axis = tuple(i for i, s in enumerate(x.shape) if s == 1)
    return BatchedArray(np.squeeze(x.physical, _axes(axis, x.ndim)), level)


@rule(np.broadcast_to)
def _broadcast_to(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, shape = params["array"], params["shape"]
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    phys = _pad(x, level, len(shape))
    return BatchedArray(np.broadcast_to(phys, (phys.shape[0],) + shape), level)


@rule(np.broadcast_arrays)
def _broadcast_arrays(func, level, args, kwargs):
    if kwargs:
        return NotImplemented
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    return tuple(np.broadcast_to(a, shape) for a in args)


@rule(np.diagonal, np.trace)
def _diagonal(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x = params["a"]
    n = x.ndim
    params["axis1"], params["axis2"] = _axis(params["axis1"], n), _axis(params["axis2"], n)
    if params.pop("out", None) is not None:
        return NotImplemented
    del params["a"]
    out = func(x.physical, **params)
    return BatchedArray(out, level) if func is np.diagonal else _wrap(out, level)


@rule(np.tril, np.triu)
def _triangle(func, level, args, kwargs):
    if not _only_first(level, args, kwargs) or args[0].ndim < 2:
        return NotImplemented
    return _wrap(func(args[0].physical, *args[1:], **kwargs), level)


@rule(np.pad)
def _pad_rule(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    x, width = args[0], args[1] if len(args) > 1 else kwargs.pop("pad_width")
    width = np.broadcast_to(np.asarray(width, dtype=np.int64), (x.ndim, 2)).tolist()
    return _wrap(func(x.physical, [(0, 0)] + width, *args[2:], **kwargs), level)


@rule(np.concatenate, np.stack)
def _join(func, level, args, kwargs):
    params = _bind(func, args, kwargs)
    arrays, axis = list(params["arrays"]), params["axis"]
    if params.get("out") is not None or not arrays:
        return NotImplemented
    size = _batch(arrays, level)
    physical = [_lift(a, level, size) for a in arrays]
    ndim = np.ndim(arrays[0])
    if axis is None:
        physical, axis = [p.reshape(size, -1) for p in physical], 1
    else:
        axis = _axis(axis, ndim + (func is np.stack))
    rest = {k: v for k, v in params.items() if k in ("dtype", "casting") and v is not None}
    return _wrap(func(physical, axis=axis, **rest), level)


@rule(np.split, np.array_split)
def _split(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x = params["ary"]
    pieces = func(x.physical, params["indices_or_sections"], axis=_axis(params["axis"], x.ndim))
    return [BatchedArray(p, level) for p in pieces]


@rule(np.take_along_axis)
def _take_along_axis(func, level, args, kwargs):
    params = _bind(func, args, kwargs)
    arr, indices, axis = params["arr"], params["indices"], params["axis"]
    if axis is None:
        return NotImplemented
    ndim = max(np.ndim(arr), np.ndim(indices))
    size = _batch([arr, indices], level)
    arr, indices = (_lift(v, level, size) for v in (arr, indices))
    return _wrap(np.take_along_axis(arr, indices, axis=_axis(axis, ndim)), level)


@rule(np.put_along_axis)
def _put_along_axis(func, level, args, kwargs):
    params = _bind(func, args, kwargs)
    arr, axis = params["arr"], params["axis"]
    if not _at(arr, level) or axis is None:
        return NotImplemented
    size = arr.physical.shape[0]
    indices, values = (_lift(params[k], level, size) for k in ("indices", "values"))
    np.put_along_axis(arr.physical, indices, values, axis=_axis(axis, arr.ndim))
    return None


@rule(np.take)
def _take(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["a"], params["axis"]
    if params.get("out") is not None:
        return NotImplemented
    phys = x.physical
    if axis is None:
        phys, axis, ndim = phys.reshape(phys.shape[0], -1), 0, 1
    else:
        ndim = x.ndim
    return _wrap(
        np.take(phys, params["indices"], axis=_axis(axis, ndim), mode=params["mode"]), level
    )


@rule(np.repeat)
def _repeat(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["a"], params["axis"]
    phys = x.physical
    if axis is None:
        phys, axis, ndim = phys.reshape(phys.shape[0], -1), 0, 1
    else:
        ndim = x.ndim
    return _wrap(np.repeat(phys, params["repeats"], axis=_axis(axis, ndim)), level)


@rule(np.roll)
def _roll(func, level, args, kwargs):
    if not _only_first(level, args, kwargs):
        return NotImplemented
    params = _bind(func, args, kwargs)
    x, axis = params["a"], params["axis"]
    if axis is None:
        return NotImplemented
    return _wrap(np.roll(x.physical, params["shift"], axis=_axes(axis, x.ndim)), level)


@rule(np.copyto)
def _copyto(func, level, args, kwargs):
    params = _bind(func, args, kwargs)
    dst, src = params["dst"], params["src"]
    if not _at(dst, level):
        raise NotBatchable("numpy.copyto writing a batched value into an unbatched array")
    where = params.get("where", True)
    if isinstance(where, (BatchedArray, np.ndarray)):
        where = _pad(where, level, dst.ndim)
    np.copyto(dst.physical, _pad(src, level, dst.ndim), casting=params["casting"], where=where)
    return None


@rule(np.dot)
def _dot(func, level, args, kwargs):
    a, b = args[:2]
    if kwargs or len(args) > 2 or not (1 <= np.ndim(a) <= 2 and 1 <= np.ndim(b) <= 2):
        return NotImplemented
    return _matmul(a, b, level, {})


@rule(np.einsum)
def _einsum(func, level, args, kwargs):
    spec, operands = args[0], list(args[1:])
    if not isinstance(spec, str) or "..." in spec or kwargs.get("out") is not None:
        return NotImplemented
    spec = spec.replace(" ", "")
    inputs, _, output = spec.partition("->")
    terms = inputs.split(",")
    if "->" not in spec:
        letters = "".join(terms)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    free = next(c for c in string.ascii_letters if c not in spec)
    terms = [free + t if _at(op, level) else t for t, op in zip(terms, operands)]
    physical = [op.physical if _at(op, level) else op for op in operands]
    new_spec = ",".join(terms) + "->" + free + output
    return _wrap(np.einsum(new_spec, *physical, **kwargs), level)


# numpy.linalg: these act on the last two dims of a stack of matrices
_STACKED = {np.linalg.inv, np.linalg.det, np.linalg.slogdet, np.linalg.cholesky}
_STACKED |= {np.linalg.eigh, np.linalg.eigvalsh, np.linalg.svd, np.linalg.qr, np.linalg.pinv}
_STACKED |= {np.linalg.matrix_rank, np.linalg.eigvals, np.linalg.eig, np.linalg.svdvals}


@rule(*_STACKED)
def _stacked(func, level, args, kwargs):
    if not _only_first(level, args, kwargs) or args[0].ndim < 2:
        return NotImplemented
    return _wrap(func(args[0].physical, *args[1:], **kwargs), level)


@rule(np.linalg.solve)
def _solve(func, level, args, kwargs):
    a, b = args
    if np.ndim(a) < 2:
        return NotImplemented
    vector = np.ndim(b) == 1
    if vector:
        b = np.expand_dims(b, -1)
    ndim = max(np.ndim(a), np.ndim(b))
    out = np.linalg.solve(_pad(a, level, ndim), _pad(b, level, ndim))
    return _wrap(out[..., 0] if vector else out, level)


# --- indexing ---
def _is_advanced(item):
    return isinstance(item, (list, np.ndarray, BatchedArray)) or (
        getattr(item, "dtype", None) is not None and getattr(item, "ndim", 0) > 0
    )


def _advanced_layout(index):
    """(has advanced indices, whether they are apart (NumPy then puts their dims first),
    the number of dims they make)."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i, item in enumerate(items) if _is_advanced(item)]
    if not arrays:
        return False, False, 0
    if any(getattr(items[i], "dtype", None) == np.bool_ for i in arrays) and len(arrays) > 1:
        return True, True, None
    positions = [
        i
        for i, item in enumerate(items)
        if _is_advanced(item) or isinstance(item, (int, np.integer))
    ]
    apart = positions != list(range(positions[0], positions[-1] + 1))
    shapes = []
    for i in positions:
        item = items[i]
        if getattr(item, "dtype", None) == np.bool_:
            shapes.append((int(np.count_nonzero(item)),))
        else:
            shapes.append(np.shape(item))
    return True, apart, len(np.broadcast_shapes(*shapes))


def _index_tuple(index):
    return index if isinstance(index, tuple) else (index,)


def _batched_index(items, level, size):
    """A physical index for an index of integer arrays some of which are batched (each
    sample picks with its own), or None when it is another kind of index."""
    for item in items:
        is_int = isinstance(item, (int, np.integer))
        kind = getattr(getattr(item, "dtype", None), "kind", None)
        if not (is_int or kind in ("i", "u")):
            return None
    ndim = max(np.ndim(item) for item in items)
    rows = np.arange(size).reshape((size,) + (1,) * ndim)
    return (rows,) + tuple(_pad(item, level, ndim) for item in items)


def getitem(x, index):
    """`x[index]` for a batched `x`."""
    items = _index_tuple(index)
    level = max(x.level, _level(items))
    if _level(items) == level:
        size = _batch(items, level)
        physical = _batched_index(items, level, size)
        if physical is not None:
            return _wrap(_lift(x, level, size)[physical], level)
    if not _at(x, level) or _level(items) == level:
        return _loop(lambda a, i: a[i], (x, index), {}, "indexing with a batched index")
    advanced, apart, ndim = _advanced_layout(index)
    if advanced and apart and ndim is None:
        return _loop(lambda a, i: a[i], (x, index), {}, "indexing with several boolean masks")
    out = x.physical[(slice(None),) + items]
    if advanced and apart:
        out = np.moveaxis(out, ndim, 0)
    return _wrap(out, level) if advanced else BatchedArray(out, level)


def setitem(x, index, value):
    """`x[index] = value` for a batched `x`."""
    items = _index_tuple(index)
    level = max(x.level, _level(items), _level([value]))
    if not _at(x, level):
        raise NotBatchable("writing a batched value into an unbatched array")
    if _level(items) == level:
        physical = _batched_index(items, level, x.physical.shape[0])
        if physical is not None:
            region = np.ndim(physical[0])
            x.physical[physical] = _pad(value, level, region + x.ndim - len(items) - 1)
            return
        _loop(_assign, (x, index, value), {}, "index assignment with a batched index")
        return
    advanced, apart, _ = _advanced_layout(index)
    if advanced and apart:
        _loop(_assign, (x, index, value), {}, "index assignment with advanced indices apart")
        return
    if _at(value, level):
        region = np.ndim(x.physical[(slice(None),) + items]) - 1
        value = _pad(value, level, region)
    x.physical[(slice(None),) + items] = value


def _assign(a, index, value):
    a[index] = value

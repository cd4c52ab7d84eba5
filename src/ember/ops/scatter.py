"""The gather/scatter family: gather, scatter, index_select, index_add, index_fill,
index_put, masked_fill, masked_select, take, nonzero, select (scatter_reduce is in
scatter_reduce.py).

Each validates its arguments (before anything is written), builds a NumPy index tuple, and
uses the indexing primitives of indexing.py (GetItem, IndexPut).
"""

from __future__ import annotations

from ember import _backend
from ember._tensor import Tensor
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.convert import cast
from ember.ops.indexing import (
    GetItem,
    _on_device_of,
    _put,
    _put_,
    _type_name,
    normalize_index,
)
from ember.ops.inplace import apply_inplace
from ember.ops.shape import broadcast_shape_of, expand, reshape

# --- argument checks shared by the ops below ---
# PyTorch's index dtype rule per op: (allowed dtypes, exception, message)
_LONG_OR_INT = ("int64", "int32")
_INDEX_RULES = {
    "gather": (_LONG_OR_INT, RuntimeError, "gather(): Expected dtype int32/int64 for index"),
    "index_select": (
        _LONG_OR_INT,
        RuntimeError,
        "index_select(): Expected dtype int32 or int64 for index",
    ),
    "index_add_": (
        _LONG_OR_INT,
        RuntimeError,
        "index_add_(): Expected dtype int32/int64 for index but got: {type}",
    ),
    "index_fill_": (("int64",), IndexError, "index_fill_(): Expected dtype int64 for index."),
    "take": (("int64",), RuntimeError, "take(): Expected a long tensor for index, but got {type}"),
    "take_along_dim": (
        _LONG_OR_INT,
        RuntimeError,
        "torch.take_along_dim(): dtype of indices should be Long but got {type}",
    ),
}


def _index_array(index, input, op):
    """The index tensor's array on input's device, after PyTorch's dtype check for `op`."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    dtypes, error, message = _INDEX_RULES.get(
        op, (_LONG_OR_INT, RuntimeError, f"{op}(): Expected dtype int32/int64 for index")
    )
    if index._data.dtype.name not in dtypes:
        raise error(message.format(type=_type_name(index)))
    if index.device != input.device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{input.device} and {index.device}! (argument 'index' of {op}(); move it with "
            f".to('{input.device}'))"
        )
    return index._data


def _check_bounds(idx, size, dim, op, negative_ok=False, error=RuntimeError, message=None):
    if idx.size == 0:
        return
    low = -size if negative_ok else 0
    bad = (idx < low) | (idx >= size)
    if bad.any():
        value = int(idx[bad].reshape(-1)[0])
        text = message or "index {value} is out of bounds for dimension {dim} with size {size}"
        raise error(f"{op}(): " + text.format(value=value, dim=dim, size=size))


def _along(idx, dim):
    """The NumPy index that picks idx's entries along dim, the rest by position (gather)."""
    xp = _backend.array_module(idx)
    ndim = idx.ndim
    return tuple(
        idx if k == dim else xp.arange(n).reshape((n,) + (1,) * (ndim - k - 1))
        for k, n in enumerate(idx.shape)
    )


def _as_1d(t):
    return reshape(t, (1,)) if isinstance(t, Tensor) and t._data.ndim == 0 else t


def _fill_value(input, value, op):
    """A fill value as PyTorch takes it: a number or a 0-d tensor, in input's dtype."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                f"{op} only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        if value.device != input.device:
            value = value.to(input.device)
        return value if value._data.dtype == input._data.dtype else cast(value, input.dtype)
    if _backend.is_scalar_result(value):
        value = value.item()
    if not isinstance(value, (int, float, bool)):
        raise TypeError(f"{op}(): value must be a number, not {type(value).__name__}")
    kind = input._data.dtype.kind
    return bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)


# --- gather / scatter ---
def _gather(x, dim, idx, op="gather"):
    _check_bounds(idx, x._data.shape[dim], dim, op)
    return GetItem.apply(x, _along(idx, dim))


def gather(input, dim, index, *, sparse_grad=False):
    """Same as torch.gather: out[i][j] = input[i][index[i][j]] (for dim=1); no negatives."""
    idx = _index_array(index, input, "gather")
    x = _as_1d(input)
    d = normalize_dim(dim, x._data.ndim, "gather")
    idx1 = idx.reshape(1) if idx.ndim == 0 else idx
    if idx1.ndim != x._data.ndim:
        raise RuntimeError(
            "gather(): Index tensor must have the same number of dimensions as input tensor"
        )
    for k, (i, s) in enumerate(zip(idx1.shape, x._data.shape)):
        if k != d and i > s:
            raise RuntimeError(
                f"gather(): Size does not match at dimension {k} expected index "
                f"{list(index.shape)} to be no larger than self {list(input.shape)} apart from "
                f"dimension {d}"
            )
    result = _gather(x, d, idx1)
    if idx.ndim == 0:
        result = reshape(result, ())
    return result


def _scatter_plan(input, dim, index, src, op):
    """Check scatter's arguments; return the NumPy index and the values (src cut to index)."""
    idx = _index_array(index, input, op)
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, op)
    if idx.ndim != ndim:
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as self tensor"
        )
    is_tensor = isinstance(src, Tensor)
    if is_tensor:
        if src._data.ndim != ndim:
            raise RuntimeError(
                f"{op}(): Index tensor must have the same number of dimensions as src tensor"
            )
        if src._data.dtype != input._data.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
    too_big = any(k != d and i > s for k, (i, s) in enumerate(zip(idx.shape, input.shape)))
    if is_tensor:
        too_big = too_big or any(i > s for i, s in zip(idx.shape, src.shape))
    if too_big:
        tail = f" and to be no larger size than src {list(src.shape)}" if is_tensor else ""
        raise RuntimeError(
            f"Expected index {list(idx.shape)} to be no larger than self {list(input.shape)} "
            f"apart from dimension {d}{tail}"
        )
    _check_bounds(idx, input._data.shape[d], d, op)
    if is_tensor:
        if src._data.shape != idx.shape:
            src = GetItem.apply(src, tuple(slice(0, n) for n in idx.shape))
        if src.device != input.device:
            src = src.to(input.device)
    else:
        src = _fill_value(input, src, op)
    return _along(idx, d), src


def _scatter_src(src, value, op):
    if src is None and value is None:
        raise TypeError(f"{op}() missing 1 required argument: 'src' or 'value'")
    return value if src is None else src


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Same as torch.scatter: out[i][index[i][j]] = src[i][j] (for dim=1); src may be a number."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported; use scatter_reduce")
    src = _scatter_src(src, value, "scatter")
    if input._data.ndim == 0:
        return reshape(scatter(_as_1d(input), dim, _as_1d(index), _as_1d(src)), ())
    where, values = _scatter_plan(input, dim, index, src, "scatter")
    return _put(input, where, values)


def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
    """Same as torch.Tensor.scatter_."""
    if reduce is not None:
        raise NotImplementedError("scatter_(reduce=...) is not supported; use scatter_reduce_")
    src = _scatter_src(src, value, "scatter_")
    if self._data.ndim == 0:
        return apply_inplace(self, lambda x: scatter(x, dim, index, src), (src,), "scatter_")
    where, values = _scatter_plan(self, dim, index, src, "scatter_")
    return _put_(self, where, values, False, "scatter_")


def _need_tensor(src, op):
    if not isinstance(src, Tensor):
        raise TypeError(
            f"{op}(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}"
        )


def scatter_add(input, dim, index, src):
    """Same as torch.scatter_add: out[i][index[i][j]] += src[i][j]; repeated indices add up."""
    _need_tensor(src, "scatter_add")
    if input._data.ndim == 0:
        return reshape(scatter_add(_as_1d(input), dim, _as_1d(index), _as_1d(src)), ())
    where, values = _scatter_plan(input, dim, index, src, "scatter_add")
    return _put(input, where, values, True)


def scatter_add_(self, dim, index, src):
    """Same as torch.Tensor.scatter_add_."""
    _need_tensor(src, "scatter_add_")
    if self._data.ndim == 0:
        return apply_inplace(
            self, lambda x: scatter_add(x, dim, index, src), (src,), "scatter_add_"
        )
    where, values = _scatter_plan(self, dim, index, src, "scatter_add_")
    return _put_(self, where, values, True, "scatter_add_")


def take_along_dim(input, indices, dim=None):
    """Same as torch.take_along_dim: gather with broadcasting (negative indices wrap)."""
    idx = _index_array(indices, input, "take_along_dim")
    if dim is None:
        return _gather(reshape(input, (-1,)), 0, idx.reshape(-1))
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, "take_along_dim")
    if idx.ndim != ndim:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {ndim} dimensions for input, and {idx.ndim} dimensions for "
            "indices"
        )
    if ndim == 0:
        return reshape(_gather(_as_1d(input), 0, idx.reshape(1), "take_along_dim"), ())
    shape = list(broadcast_shape_of((_with(input.shape, d, 1), _with(idx.shape, d, 1))))
    x = expand(input, _with(shape, d, input.shape[d]))
    xp = _backend.array_module(idx)
    idx = xp.broadcast_to(idx, _with(shape, d, idx.shape[d]))
    n = input._data.shape[d]
    _check_bounds(idx, n, d, "take_along_dim", negative_ok=True)
    return _gather(x, d, xp.where(idx < 0, idx + n, idx), "take_along_dim")


def _with(shape, dim, size):
    shape = list(shape)
    shape[dim] = size
    return tuple(shape)


# --- index_select / index_add / index_fill / index_put ---
def _vector_index(index, input, op, error, message):
    """A 0-d or 1-D index tensor's array, as 1-D."""
    idx = _index_array(index, input, op)
    if idx.ndim > 1:
        raise error(message.format(ndim=idx.ndim, type=_type_name(index), shape=list(idx.shape)))
    return idx.reshape(-1)


def index_select(input, dim, index):
    """Same as torch.index_select: the entries at `index` (a vector) along dim."""
    idx = _vector_index(
        index, input, "index_select", IndexError, "index_select(): Index is supposed to be a vector"
    )
    x = _as_1d(input)
    d = normalize_dim(dim, x._data.ndim, "index_select")
    # IndexError, as PyTorch's "index out of range in self"
    _check_bounds(idx, x._data.shape[d], d, "index_select", error=IndexError)
    result = GetItem.apply(x, (slice(None),) * d + (idx,))
    if input._data.ndim == 0 and result._data.size == 1:
        result = reshape(result, ())
    return result


def _index_add_plan(input, dim, index, source, alpha, op):
    idx = _vector_index(
        index,
        input,
        op,
        IndexError,
        f"{op}(): Index is supposed to be a vector, but got dim: {{ndim}} with type: {{type}} "
        "and size: {shape}",
    )
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, op)
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"{op}(): self ({_type_name(input)}) and source ({_type_name(source)}) must have the "
            "same scalar type"
        )
    source = _as_1d(source)
    if source._data.ndim <= d:
        raise RuntimeError(
            f"{op}(): Indexing dim {d} is out of bounds of the source tensor with dim "
            f"{source._data.ndim}"
        )
    if source._data.shape[d] != idx.size:
        raise RuntimeError(
            f"{op}(): Number of indices ({idx.size}) should be equal to source.size(dim): "
            f"({source._data.shape[d]}), for dim: {d}"
        )
    if _with(source.shape, d, 0) != _with(input.shape, d, 0):
        raise RuntimeError(
            f"{op}(): source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {list(input.shape)} source.shape = "
            f"{list(source.shape)}"
        )
    # PyTorch's 1-D kernel raises IndexError, its n-D one RuntimeError
    error = IndexError if ndim <= 1 else RuntimeError
    _check_bounds(idx, input._data.shape[d], d, op, error=error)
    if alpha != 1:
        source = source * alpha
        if source._data.dtype != input._data.dtype:
            source = cast(source, input.dtype)
    if source.device != input.device:
        source = source.to(input.device)
    return (slice(None),) * d + (idx,), source


def index_add(input, dim, index, source, *, alpha=1):
    """Same as torch.index_add: input with alpha * source added at `index` along dim."""
    if input._data.ndim == 0:
        return reshape(index_add(_as_1d(input), dim, index, source, alpha=alpha), ())
    where, values = _index_add_plan(input, dim, index, source, alpha, "index_add_")
    return _put(input, where, values, True)


def index_add_(self, dim, index, source, *, alpha=1):
    """Same as torch.Tensor.index_add_."""
    if self._data.ndim == 0:
        fn = lambda x: index_add(x, dim, index, source, alpha=alpha)  # noqa: E731
        return apply_inplace(self, fn, (source,), "index_add_")
    where, values = _index_add_plan(self, dim, index, source, alpha, "index_add_")
    return _put_(self, where, values, True, "index_add_")


def _index_fill_plan(input, dim, index, value, op):
    idx = _vector_index(index, input, op, RuntimeError, "Index has to be a vector/scalar")
    d = normalize_dim(dim, input._data.ndim, op)
    n = input._data.shape[d]
    _check_bounds(idx, n, d, op, negative_ok=True, error=IndexError)
    # each entry filled once, so a tensor value's gradient counts it once
    idx = _backend.array_module(idx).unique(idx % n) if idx.size else idx
    return (slice(None),) * d + (idx,), _fill_value(input, value, op)


def index_fill(input, dim, index, value):
    """Same as torch.index_fill: the entries at `index` along dim set to value."""
    if input._data.ndim == 0:
        return reshape(index_fill(_as_1d(input), dim, index, value), ())
    where, value = _index_fill_plan(input, dim, index, value, "index_fill_")
    return _put(input, where, value)


def index_fill_(self, dim, index, value):
    """Same as torch.Tensor.index_fill_."""
    if self._data.ndim == 0:
        fn = lambda x: index_fill(x, dim, index, value)  # noqa: E731
        return apply_inplace(self, fn, (value,), "index_fill_")
    where, value = _index_fill_plan(self, dim, index, value, "index_fill_")
    return _put_(self, where, value, False, "index_fill_")


def _index_put_plan(input, indices, values, op):
    if not isinstance(indices, (tuple, list)):
        raise TypeError(
            f"{op}(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}"
        )
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 1, but got {type(t).__name__}"
            )
    if not isinstance(values, Tensor):
        raise TypeError(
            f"{op}(): argument 'values' (position 3) must be Tensor, not {type(values).__name__}"
        )
    if values._data.dtype != input._data.dtype:
        if not (
            len(indices) == 1 and indices[0]._data.dtype.kind == "b" and values._data.ndim == 0
        ):
            raise RuntimeError(
                "Index put requires the source and destination dtypes match, got "
                f"{_type_name(input)} for the destination and {_type_name(values)} for the source."
            )
        # PyTorch runs a lone mask with a 0-d value as masked_fill, which casts the value
        values = cast(values, input.dtype)
    if len(indices) > input._data.ndim:
        raise IndexError(
            f"too many indices for tensor of dimension {input._data.ndim} (got {len(indices)})"
        )
    if values.device != input.device:
        values = values.to(input.device)
    return normalize_index(tuple(indices), input), values


def index_put(input, indices, values, accumulate=False):
    """Same as torch.index_put: input with input[indices] = values (or += with accumulate)."""
    where, values = _index_put_plan(input, indices, values, "index_put")
    return _put(input, where, values, accumulate)


def index_put_(self, indices, values, accumulate=False):
    """Same as torch.Tensor.index_put_."""
    where, values = _index_put_plan(self, indices, values, "index_put_")
    return _put_(self, where, values, accumulate, "index_put_")


# --- masks, take, nonzero, select ---
def _masked_fill_plan(input, mask, value, op):
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        name = _type_name(mask, c_type=True) if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {name}")
    value = _fill_value(input, value, op)
    shape = broadcast_shape_of((mask, input), op)
    data = _on_device_of(mask._data, mask, input)
    xp = _backend.array_module(data)
    return shape, (xp.broadcast_to(data, shape),), value


def masked_fill(input, mask, value):
    """Same as torch.masked_fill: value where mask is True (mask and input broadcast)."""
    shape, where, value = _masked_fill_plan(input, mask, value, "masked_fill_")
    return _put(expand(input, shape), where, value)


def masked_fill_(self, mask, value):
    """Same as torch.Tensor.masked_fill_ (mask must broadcast to self's shape)."""
    shape, where, value = _masked_fill_plan(self, mask, value, "masked_fill_")
    if shape != self._data.shape:
        raise RuntimeError(
            f"masked_fill_: output with shape {list(self.shape)} doesn't match the broadcast "
            f"shape {list(shape)}"
        )
    return _put_(self, where, value, False, "masked_fill_")


def masked_select(input, mask):
    """Same as torch.masked_select: the entries where mask is True, as a 1-D tensor."""
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = broadcast_shape_of((mask, input))
    data = _on_device_of(mask._data, mask, input)
    where = _backend.array_module(data).broadcast_to(data, shape)
    return GetItem.apply(expand(input, shape), (where,))


def take(input, index):
    """Same as torch.take: input seen as 1-D, at `index` (negative indices count from the end)."""
    idx = _index_array(index, input, "take")
    n = input._data.size
    _check_bounds(
        idx,
        n,
        0,
        "take",
        negative_ok=True,
        error=IndexError,
        message="out of range: tried to access index {value} on a tensor of {size} elements.",
    )
    return GetItem.apply(reshape(input, (-1,)), (idx,))


def nonzero(input, *, as_tuple=False):
    """Same as torch.nonzero: the indices of nonzero entries, (n, ndim) or one tensor per dim."""
    data = input._data
    xp = _backend.array_module(data)
    if data.ndim == 0:  # PyTorch treats a 0-d tensor as 1-D here
        hits = int(bool(data))
        if as_tuple:
            return (Tensor._make(xp.zeros(hits, dtype="int64")),)
        return Tensor._make(xp.zeros((hits, 0), dtype="int64"))
    coords = [c.astype("int64", copy=False) for c in xp.nonzero(data)]
    if as_tuple:
        return tuple(Tensor._make(c) for c in coords)
    return Tensor._make(xp.stack(coords, axis=1))


def argwhere(input):
    """Same as torch.argwhere: nonzero(input) as an (n, ndim) tensor."""
    return nonzero(input)


def select(input, dim, index):
    """Same as torch.select: the view input[..., index, ...] along dim, without that dim."""
    if input._data.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input._data.ndim, "select")
    index = int(index)
    n = input._data.shape[d]
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    return GetItem.apply(input, (slice(None),) * d + (index,))


def _tensor(lib, data, like):
    """An index or mask for a sample call, on the device of the tensor it indexes."""
    return lib.tensor(data, device=like.device)


register(
    "gather",
    lambda lib, x, **kw: lib.gather(x, kw["dim"], _tensor(lib, kw["index"], x)),
    (
        S((3, 4), dim=1, index=[[0, 1], [2, 0]]),
        S((3, 4), dim=0, index=[[0, 2, 2, 1]]),
        S((2, 3, 4), dim=-1, index=[[[3, 3, 0]], [[1, 2, 2]]]),
        S((), dim=0, index=[0, 0]),
    ),
)(gather)
register(
    "scatter",
    lambda lib, x, s, **kw: lib.scatter(x, kw["dim"], _tensor(lib, kw["index"], x), s),
    (
        S((3, 4), (2, 3), dim=1, index=[[0, 1, 3], [2, 0, 1]]),
        S((3, 4), (2, 4), dim=0, index=[[2, 0, 1, 1], [0, 1, 2, 0]]),
        S((3, 4), (1, 2), dim=-1, index=[[3, 0]]),
    ),
)(scatter)
register(
    "scatter_value",
    lambda lib, x: lib.scatter(x, 1, _tensor(lib, [[0, 2], [1, 1]], x), 0.5),
    (S((2, 4)),),
)(scatter)
register(
    "scatter_add",
    lambda lib, x, s, **kw: lib.scatter_add(x, kw["dim"], _tensor(lib, kw["index"], x), s),
    (
        S((3, 4), (2, 3), dim=1, index=[[0, 0, 3], [2, 0, 2]]),
        S((3, 4), (2, 4), dim=0, index=[[2, 2, 1, 1], [0, 0, 0, 0]]),
        S((), (), dim=0, index=0),
    ),
)(scatter_add)
register(
    "scatter_add_",
    lambda lib, x, s: (x * 1.0).scatter_add_(1, _tensor(lib, [[0, 0], [1, 0]], x), s),
    (S((2, 3), (2, 2)),),
)(scatter_add_)
register(
    "take_along_dim",
    lambda lib, x, **kw: lib.take_along_dim(x, _tensor(lib, kw["index"], x), kw.get("dim")),
    (
        S((3, 4), index=[[0], [3], [-1]], dim=1),
        S((3, 4), index=[[0, 2]], dim=1),
        S((3, 4), index=[0, 11, 5]),
        S((2, 1, 3), index=[[[0], [2]]], dim=-1),
    ),
)(take_along_dim)
register(
    "index_select",
    lambda lib, x, **kw: lib.index_select(x, kw["dim"], _tensor(lib, kw["index"], x)),
    (
        S((3, 4), dim=1, index=[0, 3, 3]),
        S((3, 4), dim=-2, index=[2]),
        S((3, 4), dim=0, index=1),
        S((), dim=0, index=[0]),
    ),
)(index_select)
register(
    "index_add",
    lambda lib, x, s, **kw: lib.index_add(
        x, kw["dim"], _tensor(lib, kw["index"], x), s, **kw["kw"]
    ),
    (
        S((3, 4), (3, 2), dim=1, index=[0, 0], kw={}),
        S((3, 4), (3, 4), dim=0, index=[2, 0, 2], kw={"alpha": 2.0}),
        S((), (), dim=0, index=[0], kw={}),
    ),
)(index_add)
register(
    "index_add_",
    lambda lib, x, s: (x * 1.0).index_add_(0, _tensor(lib, [1, 1], x), s, alpha=-1.5),
    (S((3, 2), (2, 2)),),
)(index_add_)
register(
    "index_fill",
    lambda lib, x, **kw: lib.index_fill(x, kw["dim"], _tensor(lib, kw["index"], x), 0.5),
    (S((3, 4), dim=1, index=[0, -1]), S((3, 4), dim=0, index=2)),
)(index_fill)
register(
    "index_fill_tensor_value",
    lambda lib, x, v: lib.index_fill(x, 1, _tensor(lib, [0, 2, 2], x), v),
    (S((3, 4), ()),),
)(index_fill)
register(
    "index_put",
    lambda lib, x, v, **kw: lib.index_put(
        x, tuple(_tensor(lib, i, x) for i in kw["indices"]), v, kw["accumulate"]
    ),
    (
        S((3, 4), (2,), indices=([0, 2], [1, 3]), accumulate=False),
        S((3, 4), (3,), indices=([0, 0, 2], [1, 1, 1]), accumulate=True),
        S((3, 4), (4,), indices=([2, 2],), accumulate=True),
        S((3, 4), (), indices=([True, False, True],), accumulate=False),
    ),
)(index_put)
register(
    "index_put_",
    lambda lib, x, v: (x * 1.0).index_put_((lib.tensor([1, 1]),), v, accumulate=True),
    (S((3, 2), (2,)),),
)(index_put_)
register(
    "masked_fill",
    lambda lib, x, **kw: x.masked_fill(_tensor(lib, kw["mask"], x), -0.5),
    (
        S((3, 4), mask=[True, False, True, False]),
        S((3, 1), mask=[[True], [False], [True]]),
        S((4,), mask=[[True, False, False, True], [False] * 4]),
        S((), mask=True),
    ),
)(masked_fill)
register(
    "masked_fill_tensor_value",
    lambda lib, x, v: x.masked_fill(x > 0, v),
    (S((3, 4), ()),),
    avoid=(0.0,),
)(masked_fill)
register(
    "masked_fill_",
    lambda lib, x, v: (x * 1.0).masked_fill_(x < 0, v),
    (S((3, 4), ()),),
    avoid=(0.0,),
)(masked_fill_)
register(
    "masked_select",
    lambda lib, x, **kw: lib.masked_select(x, _tensor(lib, kw["mask"], x)),
    (
        S((3, 4), mask=[True, False, True, True]),
        S((2,), mask=[[True, False], [True, True], [False, False]]),
        S((), mask=True),
    ),
)(masked_select)
register(
    "take",
    lambda lib, x, **kw: lib.take(x, _tensor(lib, kw["index"], x)),
    (S((3, 4), index=[[0, 11], [5, -1]]), S((3, 4), index=3), S((), index=[0, 0])),
)(take)
register(
    "select",
    lambda lib, x, **kw: lib.select(x, kw["dim"], kw["index"]),
    (S((3, 4), dim=1, index=-1), S((2, 3, 4), dim=0, index=1)),
)(select)

__all__ = [
    "argwhere",
    "gather",
    "index_add",
    "index_fill",
    "index_put",
    "index_select",
    "masked_fill",
    "masked_select",
    "nonzero",
    "scatter",
    "scatter_add",
    "select",
    "take",
    "take_along_dim",
]
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    "index_add_": index_add_,
    "index_fill_": index_fill_,
    "index_put_": index_put_,
    "masked_fill_": masked_fill_,
    "scatter_": scatter_,
    "scatter_add_": scatter_add_,
}

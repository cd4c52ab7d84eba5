"""More writes by position (beside scatter.py): index_copy, masked_scatter, fill_diagonal_.

The writes build an index and use the indexing primitives (IndexPut), so their gradients are
those of setting entries: zero for the overwritten entries, the written values' own.
"""

from __future__ import annotations

from ember._backend import array_module
from ember._tensor import Tensor
from ember.ops._table import S, register
from ember.ops.indexing import _on_device_of, _put, _put_, _type_name
from ember.ops.scatter import _as_1d, _fill_value, _index_add_plan
from ember.ops.shape import broadcast_shape_of, expand, reshape


# --- index_copy ---
def index_copy(input, dim, index, source):
    """Same as torch.index_copy: input with the slices at `index` along dim replaced by
    source's (a repeated index keeps one of its values, as PyTorch leaves it unspecified)."""
    if input._data.ndim == 0:
        return reshape(index_copy(_as_1d(input), dim, index, source), ())
    where, values = _index_add_plan(input, dim, index, source, 1, "index_copy_")
    return _put(input, where, values)


def index_copy_(self, dim, index, source):
    """Same as torch.Tensor.index_copy_."""
    if self._data.ndim == 0:
        from ember.ops.inplace import apply_inplace

        fn = lambda x: index_copy(x, dim, index, source)  # noqa: E731
        return apply_inplace(self, fn, (source,), "index_copy_")
    where, values = _index_add_plan(self, dim, index, source, 1, "index_copy_")
    return _put_(self, where, values, False, "index_copy_")


register(
    "index_copy",
    lambda lib, x, s, **kw: x.index_copy(kw["dim"], lib.tensor(kw["index"], device=x.device), s),
    (
        S((3, 4), (3, 2), dim=1, index=[3, 0]),
        S((3, 4), (2, 4), dim=0, index=[2, 0]),
        S((), (), dim=0, index=[0]),
    ),
)(index_copy)
register(
    "index_copy_",
    lambda lib, x, s: (x * 1.0).index_copy_(0, lib.tensor([2, 0], device=x.device), s),
    (S((3, 2), (2, 2)),),
)(index_copy_)


# --- masked_scatter ---
def _masked_scatter_plan(input, mask, source, op):
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        name = _type_name(mask) if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(
            f"masked_scatter_ only supports boolean masks, but got mask with dtype {name}"
        )
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            "masked_scatter: expected self and source to have same dtypes but got"
            f"{_type_name(input)} and {_type_name(source)}"
        )
    shape = broadcast_shape_of((mask, input), op)
    data = _on_device_of(mask._data, mask, input)
    xp = array_module(data)
    where = xp.broadcast_to(data, shape)
    count = int(where.sum())
    if source.numel() < count:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    if source.device != input.device:
        source = source.to(input.device)
    return shape, (where,), reshape(source, -1)[:count]


def masked_scatter(input, mask, source):
    """Same as torch.masked_scatter: input with the entries where mask (broadcast) is True
    replaced, in row-major order, by source's first entries."""
    shape, where, values = _masked_scatter_plan(input, mask, source, "masked_scatter")
    return _put(expand(input, shape), where, values)


def masked_scatter_(self, mask, source):
    """Same as torch.Tensor.masked_scatter_ (mask must broadcast to self's shape)."""
    shape, where, values = _masked_scatter_plan(self, mask, source, "masked_scatter_")
    if shape != self._data.shape:
        raise RuntimeError(
            f"masked_scatter_: output with shape {list(self.shape)} doesn't match the broadcast "
            f"shape {list(shape)}"
        )
    return _put_(self, where, values, False, "masked_scatter_")


register(
    "masked_scatter",
    lambda lib, x, s, **kw: x.masked_scatter(lib.tensor(kw["mask"], device=x.device), s),
    (
        S((3, 4), (12,), mask=[True, False, True, False]),
        S((2, 3), (2, 5), mask=[[True, True, False], [False, True, True]]),
        S((3,), (4,), mask=[[True, False, True], [False, False, True]]),
    ),
)(masked_scatter)
register(
    "masked_scatter_",
    lambda lib, x, s: (x * 1.0).masked_scatter_(lib.tensor([[True], [False], [True]]), s),
    (S((3, 4), (12,)),),
)(masked_scatter_)


# --- fill_diagonal_ ---
def fill_diagonal_(self, fill_value, wrap=False):
    """Same as torch.Tensor.fill_diagonal_: fill the main diagonal (entries whose indices are
    all equal) with a number. A matrix taller than wide restarts its diagonal every
    columns + 1 rows with wrap=True, as PyTorch (and NumPy)."""
    shape = self._data.shape
    if len(shape) < 2:
        raise RuntimeError("dimensions must larger than 1")
    if len(shape) > 2 and len(set(shape)) > 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    xp = array_module(self._data)
    if len(shape) == 2 and wrap and shape[0] > shape[1]:
        rows, cols = shape
        flat = xp.arange(0, rows * cols, cols + 1, dtype="int64")
        where = (flat // cols, flat % cols)
    else:
        n = min(shape)
        where = (xp.arange(n, dtype="int64"),) * len(shape)
    value = _fill_value(self, fill_value, "fill_diagonal_")
    return _put_(self, where, value, False, "fill_diagonal_")


register(
    "fill_diagonal_",
    lambda lib, x, **kw: (x * 1.0).fill_diagonal_(0.5, **kw),
    (S((3, 4)), S((7, 3), wrap=True), S((2, 2, 2))),
)(fill_diagonal_)


__all__ = ["index_copy", "masked_scatter"]
TENSOR_METHODS = {
    "fill_diagonal_": fill_diagonal_,
    "index_copy": index_copy,
    "index_copy_": index_copy_,
    "masked_scatter": masked_scatter,
    "masked_scatter_": masked_scatter_,
}

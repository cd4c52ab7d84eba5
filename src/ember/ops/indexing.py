"""Indexing: tensor[index] and tensor[index] = value.

Three primitives carry all indexing (here and in scatter.py): GetItem (x[index]), IndexGrad
(its adjoint: zeros with values added at index) and IndexPut (x with x[index] set, or added to
with accumulate).
"""

from __future__ import annotations

import re

from ember import _backend
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.autograd.graph import FREED_MESSAGE
from ember.ops._primitive import Primitive
from ember.ops._table import S, register
from ember.ops.convert import cast
from ember.ops.inplace import apply_inplace, write_through
from ember.ops.shape import reshape

_BAD_INDEX = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
    "valid indices (got {})"
)
_INDEX_DTYPES = ("int64", "int32", "uint8", "bool")
# dtype -> (PyTorch's ScalarType name, its C type name), as error messages print them
_TYPE_NAMES = {
    "float16": ("Half", "c10::Half"),
    "bfloat16": ("BFloat16", "c10::BFloat16"),
    "float32": ("Float", "float"),
    "float64": ("Double", "double"),
    "int64": ("Long", "long int"),
    "int32": ("Int", "int"),
    "int16": ("Short", "short int"),
    "int8": ("Char", "signed char"),
    "uint8": ("Byte", "unsigned char"),
    "bool": ("Bool", "bool"),
}


def _type_name(t, c_type=False):
    name = t._data.dtype.name
    return _TYPE_NAMES[name][c_type] if name in _TYPE_NAMES else name


def type_word(t):
    """PyTorch's name for a tensor's scalar type in error messages ("Float", "Long")."""
    return _type_name(t)


# --- tensor[index]: turning a Python index into a NumPy one ---
def normalize_index(index, x):
    """Turn an index into one NumPy understands, refusing what PyTorch refuses."""
    if isinstance(index, list) and _list_is_tuple(index):
        index = tuple(index)
    items = index if isinstance(index, tuple) else (index,)
    out = tuple(_index_item(item, x) for item in items)
    _check_masks(out, x._data.shape)
    return _staged_if_needed(out)


class _Staged:
    """An index PyTorch applies in two steps: ints (and slices, None) first, then the arrays.

    NumPy counts an int beside an index array as one more advanced index, which moves the
    result's dims around (x[0, ..., [1, 2]]); PyTorch selects with the int first.
    """

    __slots__ = ("first", "second")

    def __init__(self, first, second):
        self.first, self.second = first, second


def _is_array(item):
    return hasattr(item, "dtype") and item.ndim > 0


def _is_int(item):
    if isinstance(item, int):
        return not isinstance(item, bool)
    return hasattr(item, "dtype") and item.ndim == 0 and item.dtype.kind in "iu"


def _staged_if_needed(index):
    if not (any(_is_int(i) for i in index) and any(_is_array(i) for i in index)):
        return index
    first, second = [], []
    for item in index:
        if _is_array(item):
            first.extend([slice(None)] * (item.ndim if item.dtype.kind == "b" else 1))
            second.append(item)
        elif _is_int(item):
            first.append(int(item))  # NumPy would take a 0-d array beside a slice as advanced
        else:
            first.append(item)
            second.append(item if item is Ellipsis else slice(None))
    return _Staged(tuple(first), tuple(second))


def _list_is_tuple(seq):
    # PyTorch's legacy rule: a list holding tensors, sequences, slices, None or ... is a tuple
    return any(
        isinstance(i, (Tensor, list, tuple, slice)) or i is None or i is Ellipsis for i in seq
    )


def _index_item(item, x):
    if isinstance(item, Tensor):
        data = item._data
        if data.dtype.name not in _INDEX_DTYPES:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return _on_device_of(data, item, x)
    if isinstance(item, slice):
        if item.step is not None and _int(item.step) <= 0:
            raise ValueError("step must be greater than zero")
        return item
    if item is None or item is Ellipsis or isinstance(item, int):
        return item
    if isinstance(item, float):
        raise IndexError(_BAD_INDEX.format("float"))
    if _backend.is_scalar_result(item):
        if item.dtype.kind not in "iub":
            raise IndexError(_BAD_INDEX.format(item.dtype.name))
        return item
    if isinstance(item, (list, tuple, range)) or hasattr(item, "__array_interface__"):
        array = _backend.as_array(_plain(item))
        if array.size == 0 and is_floating(array.dtype):
            array = array.astype("int64")  # [] indexes nothing, as a long tensor
        if array.dtype.kind not in "iub":
            raise IndexError(_BAD_INDEX.format("float" if is_floating(array.dtype) else "list"))
        return _backend.to_device(array, x.device)
    raise IndexError(_BAD_INDEX.format(type(item).__name__))


def _plain(item):
    if isinstance(item, Tensor):
        return item.tolist()
    if isinstance(item, (list, tuple, range)):
        return [_plain(i) for i in item]
    return item


def _on_device_of(data, item, x):
    if data.dtype.name == "uint8":
        data = data.astype(bool)  # byte tensors index as masks (PyTorch's legacy rule)
    if item.device != x.device:
        if item.device.type != "cpu":
            raise RuntimeError(
                "indices should be either on cpu or on the same device as the indexed tensor "
                f"({x.device})"
            )
        data = _backend.to_device(data, x.device)
    return data


def _int(value):
    return value.item() if isinstance(value, Tensor) else value


def _is_mask(item):
    return hasattr(item, "dtype") and item.dtype.kind == "b" and item.ndim > 0


def _consumed(item):
    """How many of the indexed tensor's dims an index item uses up."""
    if item is None or item is Ellipsis or isinstance(item, bool):
        return 0
    if hasattr(item, "dtype") and item.dtype.kind == "b":
        return item.ndim
    return 1


def _check_masks(index, shape):
    """A bool mask must match the shape of the dims it covers (PyTorch's IndexError)."""
    if not any(_is_mask(i) for i in index):
        return
    dim = 0
    total = sum(_consumed(i) for i in index)
    for item in index:
        if item is Ellipsis:
            dim += max(len(shape) - total, 0)
            continue
        if _is_mask(item):
            for k, size in enumerate(item.shape):
                if dim + k < len(shape) and shape[dim + k] != size:
                    raise IndexError(
                        f"The shape of the mask {list(item.shape)} at index {k} does not match "
                        f"the shape of the indexed tensor {list(shape)} at index {dim + k}"
                    )
        dim += _consumed(item)


def _is_basic(index):
    if index.__class__ is _Staged:
        return False
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def _index_error(error, shape):
    """NumPy's indexing errors in PyTorch's words."""
    msg = str(error)
    if msg.startswith("too many indices"):
        return IndexError(f"too many indices for tensor of dimension {len(shape)}")
    if msg.startswith("shape mismatch: indexing arrays"):
        shapes = ", ".join(
            "[" + ", ".join(s.strip() for s in group.split(",") if s.strip()) + "]"
            for group in re.findall(r"\(([^)]*)\)", msg)
        )
        return IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
        )
    return IndexError(msg.replace("axis", "dimension"))


def _take(x, index):
    try:
        if index.__class__ is _Staged:
            out = x[index.first][index.second]
        else:
            out = x[index]
    except IndexError as e:
        raise _index_error(e, x.shape) from None
    if not _is_basic(index) and _backend.shares_storage(out, x):
        out = out.copy()  # a 0-d integer array indexes like an int in NumPy: PyTorch copies
    elif index.__class__ is not _Staged and (
        not hasattr(out, "shape") or (out.ndim == 0 and not _backend.shares_storage(out, x))
    ):
        # NumPy gives a scalar (a copy) for x[1] of a 1-d array; PyTorch a 0-d view
        out = x[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
    return out


def _write(out, index, value, accumulate):
    """out[index] = value (or += with repeats adding up), raising before any change."""
    target = out
    try:
        if index.__class__ is _Staged:
            target, index = out[index.first], index.second  # a view: writes reach `out`
        if accumulate:
            _backend.add_at(target, index, value)
        else:
            target[index] = value
    except IndexError as e:
        raise _index_error(e, out.shape) from None
    except ValueError:
        result = list(_take(target, index).shape)
        given = list(getattr(value, "shape", ()))
        raise RuntimeError(
            f"index_put_: shape mismatch: value tensor of shape {given} cannot "
            f"be broadcast to indexing result of shape {result}"
        ) from None


@register(
    "getitem",
    lambda lib, x, **kw: x[kw["index"]],
    (
        S((4, 5), index=(slice(1, 3), 2)),
        S((4, 5), index=(Ellipsis, None, slice(None, None, 2))),
        S((4, 5), index=([0, 2, 2],)),
        S((3, 4, 5), index=(slice(None), [1, 0], [4, 4])),
        S((3,), index=-1),
        S((3, 4), index=[True, False, True]),
        S((3, 4), index=(Ellipsis, [[0, 1], [3, 3]])),
        S((2, 3, 4), index=(0, Ellipsis, [1, -1], None)),
        S((3, 4), index=([[True, False, True, True]] * 3,)),
        S((3, 4), index=(slice(None), [])),
        S((), index=None),
    ),
)
class GetItem(Primitive):
    view_of = 0
    node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        if not _is_basic(index):
            ctx._saved = ()  # PyTorch saves index tensors: a second backward raises
        return _take(x, index)

    @staticmethod
    def backward(ctx, grad):
        if ctx._freed:
            raise RuntimeError(FREED_MESSAGE)
        return IndexGrad.apply(grad, ctx.in_shape, ctx.index), None

    @staticmethod
    def write_back(base, values, index):
        return IndexPut.apply(base, values, index)


@register("index_grad", lambda lib, x: x[[0, 2, 2]] * 1.0, (S((4, 3)),))
class IndexGrad(Primitive):
    """The adjoint of indexing: a zero tensor with `grad` added at `index` (repeats add up)."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        # zeros_like, not zeros: a batched grad under vmap makes a batched buffer
        out = _backend.array_module(grad).zeros_like(grad, shape=shape)
        _write(out, index, grad, accumulate=not _is_basic(index))
        return out

    @staticmethod
    def backward(ctx, grad):
        return GetItem.apply(grad, ctx.index), None, None


@register(
    "setitem",
    lambda lib, x, v, **kw: _setitem_call(x, v, kw["index"]),
    (
        S((4, 5), (5,), index=slice(1, 3)),
        S((4, 5), (), index=(Ellipsis, 1)),
        S((4, 5), (2, 1), index=([0, 2],)),
        S((4, 5), (2,), index=([True, False, True, False], 2)),
        S((2, 3, 4), (3, 2), index=(0, Ellipsis, [1, -1])),
        S((3, 4), (2, 2), index=(slice(None, 2), [3, 1])),
    ),
)
class IndexPut(Primitive):
    """x with x[index] = value as a new array; with accumulate, x[index] += value (repeats add).

    tensor[index] = value, index_put, scatter, index_add, masked_fill, ... all record this op.
    """

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, value, index, accumulate=False):
        ctx.index, ctx.accumulate = index, accumulate
        if not _is_basic(index):
            ctx._saved = ()  # PyTorch saves index tensors: a second backward raises
        out = x.copy()
        _write(out, index, value, accumulate)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx._freed:
            raise RuntimeError(FREED_MESSAGE)
        needs = ctx.needs_input_grad
        gx = gv = None
        if needs[0]:
            gx = grad if ctx.accumulate else IndexPut.apply(grad, 0.0, ctx.index)
        if needs[1]:
            gv = GetItem.apply(grad, ctx.index)
        return gx, gv, None, None


def _setitem_call(x, v, index):
    y = x * 1.0
    y[index] = v * 2.0
    return y


def getitem(input, index):
    """input[index]: basic indexing gives a view, advanced indexing a copy."""
    if input._data.ndim == 0 and isinstance(index, int) and not isinstance(index, bool):
        return input._legacy_scalar_index(index)
    index = normalize_index(index, input)
    return GetItem.apply(input, index)


def _put(input, index, value, accumulate=False):
    """Out of place: input with input[index] set to (or, accumulating, added to) value."""
    return IndexPut.apply(input, value, index, accumulate)


def _put_(input, index, value, accumulate, op):
    """In place: write straight into the storage when no graph is recorded."""
    if write_through(input, value):
        _write(input._data, index, value._data if isinstance(value, Tensor) else value, accumulate)
        input._vc[0] += 1
        return input
    return apply_inplace(input, lambda x: IndexPut.apply(x, value, index, accumulate), (value,), op)


def setitem(input, index, value):
    """input[index] = value, in place; differentiable w.r.t. both input and value."""
    index = normalize_index(index, input)
    if isinstance(value, Tensor):
        if value.device != input.device:
            value = value.to(input.device)
        if value._data.dtype != input._data.dtype:
            value = cast(value, input.dtype)
        lead = 0
        while lead < value._data.ndim and value._data.shape[lead] == 1:
            lead += 1
        if lead:  # PyTorch drops a value's leading 1-sized dims (x[0] = ones(1, n))
            value = reshape(value, value._data.shape[lead:])
    elif _backend.is_scalar_result(value):
        value = value.item()
    elif not isinstance(value, (int, float, bool)):
        raise TypeError(f"can't assign a {type(value).__name__} to a {input.type()}")
    _put_(input, index, value, False, "setitem")


__all__ = []
TENSOR_METHODS = {}

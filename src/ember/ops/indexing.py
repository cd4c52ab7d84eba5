"""Indexing: tensor[index] and tensor[index] = value, differentiable in both directions."""

from __future__ import annotations

from ember import _backend
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import S, register

_BAD_INDEX = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
    "valid indices (got {})"
)


def normalize_index(index, x):
    """Turn an index into one NumPy understands, refusing what PyTorch refuses."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            if item._data.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if item.device != x.device:
                raise RuntimeError(
                    "indices should be either on cpu or on the same device as the indexed tensor "
                    f"({x.device})"
                )
            out.append(item._data)
        elif isinstance(item, slice):
            if item.step is not None and _int(item.step) <= 0:
                raise ValueError("step must be greater than zero")
            out.append(item)
        elif isinstance(item, (list, range)):
            array = _backend.array_module(x._data).asarray(
                [i._data if isinstance(i, Tensor) else i for i in item]
            )
            if array.dtype.kind == "f":
                raise IndexError(_BAD_INDEX.format("float"))
            out.append(array)
        elif isinstance(item, float):
            raise IndexError(_BAD_INDEX.format("float"))
        elif item is None or item is Ellipsis or isinstance(item, int):
            out.append(item)
        elif _backend.is_scalar_result(item) and item.dtype.kind in "iub":
            out.append(item)
        else:
            raise IndexError(_BAD_INDEX.format(type(item).__name__))
    return tuple(out)


def _int(value):
    return value.item() if isinstance(value, Tensor) else value


def _is_basic(index):
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def _take(x, index):
    try:
        return x[index]
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None


@register(
    "getitem",
    lambda lib, x, **kw: x[kw["index"]],
    (
        S((4, 5), index=(slice(1, 3), 2)),
        S((4, 5), index=(Ellipsis, None, slice(None, None, 2))),
        S((4, 5), index=([0, 2, 2],)),
        S((3, 4, 5), index=(slice(None), [1, 0], [4, 4])),
        S((3,), index=-1),
    ),
)
class GetItem(Primitive):
    view_of = 0
    node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        return _take(x, index)

    @staticmethod
    def backward(ctx, grad):
        return IndexGrad.apply(grad, ctx.in_shape, ctx.index), None


@register("index_grad", lambda lib, x: x[[0, 2, 2]] * 1.0, (S((4, 3)),))
class IndexGrad(Primitive):
    """The adjoint of indexing: a zero tensor with `grad` added at `index` (repeats add up)."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        out = _backend.array_module(grad).zeros(shape, dtype=grad.dtype)
        if _is_basic(index):
            out[index] = grad
        else:
            _backend.add_at(out, index, grad)
        return out

    @staticmethod
    def backward(ctx, grad):
        return GetItem.apply(grad, ctx.index), None, None


@register(
    "index_put",
    lambda lib, x, v: _index_put_call(lib, x, v),
    (S((4, 5), (5,)), S((4, 5), ())),
)
class IndexPut(Primitive):
    """x with x[index] = value, as a new array (tensor[index] = value records this op)."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.index = index
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        gx = IndexPut.apply(grad, 0.0, ctx.index) if needs[0] else None
        gv = GetItem.apply(grad, ctx.index) if needs[1] else None
        return gx, gv, None


def _index_put_call(lib, x, v):
    y = x * 1.0
    y[1:3] = v * 2.0
    return y


def getitem(input, index):
    """input[index]: basic indexing gives a view, advanced indexing a copy."""
    if input._data.ndim == 0 and isinstance(index, int) and not isinstance(index, bool):
        return input._legacy_scalar_index(index)
    index = normalize_index(index, input)
    return GetItem.apply(input, index)


def setitem(input, index, value):
    """input[index] = value, in place; differentiable w.r.t. both input and value."""
    from ember.ops.inplace import apply_inplace, write_through

    index = normalize_index(index, input)
    if isinstance(value, Tensor) and value._data.dtype != input._data.dtype:
        value = value.to(input.dtype)
    if write_through(input, value):
        data = value._data if isinstance(value, Tensor) else value
        try:
            input._data[index] = data
        except IndexError as e:
            raise IndexError(str(e).replace("axis", "dimension")) from None
        except ValueError as e:
            raise RuntimeError(f"setitem: {e}") from None
        input._vc[0] += 1
        return
    apply_inplace(input, lambda x: IndexPut.apply(x, value, index), (value,))


__all__ = []
TENSOR_METHODS = {}

"""as_strided: a view of the storage itself, with any sizes and strides that stay inside it.

Its gradient goes back through the storage: backward adds the incoming gradient into a scratch
copy of the base's storage at the view's positions, and reads the input's positions back out.
"""

from __future__ import annotations

import builtins

from ember._backend import array_module
from ember._storage import _address, _storage_span
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import S, register


def _geometry(x):
    """Where array x sits in its storage, in elements: (strides, offset, storage size)."""
    start, nbytes = _storage_span(x)
    item = x.itemsize
    return tuple(s // item for s in x.strides), (_address(x) - start) // item, nbytes // item


def _positions(xp, shape, strides, offset):
    """The storage position (in elements) of each element of a (shape, strides, offset) view."""
    positions = xp.zeros(shape, dtype="int64") + offset
    for k, (n, s) in enumerate(zip(shape, strides)):
        positions += (xp.arange(n, dtype="int64") * s).reshape((n,) + (1,) * (len(shape) - k - 1))
    return positions


def _strided_sample(lib, x, **kw):
    if "expand" in kw:
        x = x.expand(*kw["expand"])
    x = {"t": x.t, "slice": lambda: x[1:]}.get(kw.get("view"), lambda: x)()
    return lib.as_strided(x, kw["size"], kw["stride"], kw.get("offset"))


@register(
    "as_strided",
    _strided_sample,
    (
        S((6,), size=(2, 2), stride=(1, 2)),
        S((5,), size=(3, 3), stride=(1, 1)),
        S((3, 4), size=(2, 3), stride=(4, 2), offset=1),
        S((3, 4), size=(3, 2), stride=(5, 1), view="t"),
        S((6,), size=(2, 2), stride=(2, 1), view="slice"),
        S((4,), size=(3,), stride=(1,), expand=(3, 4)),
        S((2, 3), size=(2, 4), stride=(0, 1), offset=2),
        S((), size=(), stride=()),
    ),
)
class AsStrided(Primitive):
    """as_strided's view. Backward adds the gradient into a scratch storage at the view's
    positions and reads it back at the input's (dividing by how often the input itself
    covers a position, as PyTorch does for an overlapping input)."""

    view_of = 0

    @staticmethod
    def forward(ctx, x, size, stride, offset):
        x_strides, x_offset, _ = _geometry(x)
        ctx.geometry = (size, stride, offset, x.shape, x_strides, x_offset)
        item = x.itemsize
        strided = array_module(x).lib.stride_tricks.as_strided
        if offset != x_offset and all(size):  # start elsewhere in the storage than x does
            x = strided(x, (2,), ((offset - x_offset) * item,))[1:]
        out = strided(x, size, tuple(s * item for s in stride))
        if any(s == 0 and n > 1 for n, s in zip(size, stride)) and hasattr(out.flags, "writeable"):
            out.flags.writeable = False  # entries share memory: writes refused, as PyTorch
        return out

    @staticmethod
    def backward(ctx, grad):
        from ember.ops.indexing import GetItem, IndexGrad

        size, stride, offset, x_shape, x_strides, x_offset = ctx.geometry
        xp = array_module(grad._data)
        out_at = _positions(xp, size, stride, offset).reshape(-1)
        x_at = _positions(xp, x_shape, x_strides, x_offset)
        if not x_at.size:
            return Tensor._make(xp.zeros(x_shape, dtype=grad._data.dtype)), None, None, None
        low = builtins.min(int(p.min()) for p in (out_at, x_at) if p.size)
        length = builtins.max(int(p.max()) for p in (out_at, x_at) if p.size) - low + 1
        out_at, x_at = out_at - low, x_at - low
        storage = IndexGrad.apply(grad.reshape(-1), (length,), (out_at,))
        result = GetItem.apply(storage, (x_at,))
        covered = xp.zeros(length, dtype=grad._data.dtype)
        xp.add.at(covered, x_at.reshape(-1), 1)
        times = covered[x_at]
        if (times > 1).any():
            result = result / Tensor._make(times)
        return result, None, None, None

    @staticmethod
    def write_back(base, values, size, stride, offset):
        from ember.ops.indexing import IndexPut

        xp = array_module(base._data)
        x_strides, x_offset, _ = _geometry(base._data)
        x_at = _positions(xp, base.shape, x_strides, x_offset).reshape(-1)
        out_at = _positions(xp, size, stride, offset).reshape(-1)
        order = xp.argsort(x_at)
        slot = xp.minimum(xp.searchsorted(x_at[order], out_at), builtins.max(x_at.size - 1, 0))
        if x_at.size == 0 or (x_at[order][slot] != out_at).any():
            raise RuntimeError(
                "as_strided: an in-place op on this view that records a graph would write to "
                "memory outside the tensor it was made from; apply it out of place"
            )
        flat = IndexPut.apply(base.reshape(-1), values.reshape(-1), (order[slot],))
        return flat.reshape(base.shape)


def _int_tuple(value, name, position):
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"as_strided(): argument '{name}' (position {position}) must be tuple of ints, not "
            f"{type(value).__name__}"
        )
    for i, v in enumerate(value):
        if not hasattr(v, "__index__"):
            raise TypeError(
                f"as_strided(): argument '{name}' (position {position}) must be tuple of ints, "
                f"but found element of type {type(v).__name__} at pos {i}"
            )
    return tuple(v.__index__() for v in value)


def as_strided(input, size, stride, storage_offset=None):
    """Same as torch.as_strided: a view of input's storage with the given sizes and strides
    (in elements), starting storage_offset elements into the storage (default: where input
    starts). Differentiable: the gradient of the storage entries the view covers goes back to
    the input entries that sit on them.

    ember's storage is the array that owns the memory (see `Tensor.untyped_storage`): a view's
    base, or a fresh tensor's own array. Sizes and strides that reach outside it are refused,
    as are negative strides (as PyTorch). Writing to a view whose entries share memory (a
    stride of 0) is refused, as PyTorch; other overlaps are the caller's business.
    """
    size = _int_tuple(size, "size", 1)
    stride = _int_tuple(stride, "stride", 2)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(n < 0 for n in size):
        raise RuntimeError(
            f"Storage size calculation overflowed with sizes={list(size)} and strides="
            f"{list(stride)}"
        )
    if any(s < 0 for s in stride):
        raise RuntimeError(
            f"as_strided: Negative strides are not supported at the moment, got strides: "
            f"{list(stride)}"
        )
    _, own_offset, length = _geometry(input._data)
    offset = own_offset if storage_offset is None else storage_offset.__index__()
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    if all(size):
        needed = offset + 1 + builtins.sum((n - 1) * s for n, s in zip(size, stride))
        item = input._data.itemsize
        if needed > length:
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                f"{offset}, and itemsize {item} requiring a storage size of {needed * item} are "
                f"out of bounds for storage of size {length * item}"
            )
    return AsStrided.apply(input, size, stride, offset)


__all__ = ["as_strided"]
TENSOR_METHODS = {"as_strided": as_strided}

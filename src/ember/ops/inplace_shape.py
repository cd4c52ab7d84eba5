"""In-place changes of a tensor's shape and strides: transpose_, t_, squeeze_, unsqueeze_,
swapaxes_/swapdims_, as_strided_, and the storage-level resize_, resize_as_ and set_.

The values stay where they are in memory; the tensor object takes a new view of them. As in
PyTorch, each bumps the version counter (so a backward that saved the old tensor raises
rather than reading it with the new shape), and when it records a graph the tensor takes the
out-of-place op's grad_fn (TransposeBackward0, ...). A view keeps its recipe from its base
(the old recipe, then this op), so a later in-place op on it still updates the base's graph.

Limitation: the other views of a tensor whose shape changed in place are re-made from it by
their own recipe when they next record a graph; with the base's new shape that recipe may no
longer fit (PyTorch re-makes them from their sizes and strides).
"""

from __future__ import annotations

import math

from ember import _backend
from ember._storage import TypedStorage, UntypedStorage, _address, _owner, _storage_span
from ember._tensor import InferenceVersion, Tensor, inference_on
from ember.autograd import forward_ad
from ember.autograd.function import Function
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state
from ember.autograd.graph import refresh_view
from ember.ops import shape, strided
from ember.ops.inplace import check_inplace

_DUAL = DUAL_LEVEL_OPEN


class _ViewChain:
    """The recipe of a view whose shape changed in place: its old recipe from the base, then
    the in-place op's view op. Has the two methods inplace.py and autograd call on a view op
    (`apply(base, *args)`, `write_back(base, values, *args)`); stateless, args carry all."""

    @staticmethod
    def apply(base, first, first_args, then, then_args):
        return then.apply(first.apply(base, *first_args), *then_args)

    @staticmethod
    def write_back(base, values, first, first_args, then, then_args):
        middle = first.apply(base, *first_args)
        return first.write_back(base, then.write_back(middle, values, *then_args), *first_args)


class _EmptyView:
    """The step of a chain whose result is empty (NumPy reports no shared memory for it, so
    no view op was recorded): re-made by `make`, and writing it back changes nothing."""

    @staticmethod
    def apply(t, make):
        return make(t)

    @staticmethod
    def write_back(t, values, make):
        return t.clone()


def _records(tensor):
    return _state.enabled and tensor._requires_grad


def _restride(self, make):
    """Give `self` the view `make(self)` of its own memory, in place (see the module doc)."""
    check_inplace(self)  # inference tensors, leaves that require grad, views it can't follow
    records = _records(self)
    dual = _DUAL[0] and forward_ad.wants((self,))
    view = self._view_of
    if records and view is not None and view[3] != self._vc[0]:
        refresh_view(self)  # its grad_fn must be the current one before it moves on
        view = self._view_of
    if records or dual:
        before = Tensor._make(self._data, self._requires_grad, self.grad_fn, self._output_nr)
    else:
        before = Tensor._make(self._data)
    if dual:
        forward_ad.set_tangent(before, forward_ad.tangent_of(self))
    out = make(before)
    self._data = out._data
    if records:
        self.grad_fn, self._output_nr = out.grad_fn, out._output_nr
    if dual:
        forward_ad.set_tangent(self, forward_ad.tangent_of(out))
    self._vc[0] += 1
    if view is not None:
        recipe = out._view_of  # (before, view op, its args, version): how out was made
        then = (_EmptyView, (make,)) if recipe is None else (recipe[1], recipe[2])
        base, op, args, _ = view
        self._view_of = (base, _ViewChain, (op, args, *then), self._vc[0])
    return self


def transpose_(self, dim0, dim1):
    """Same as torch.Tensor.transpose_: swap two dims of this tensor in place."""
    return _restride(self, lambda t: shape.transpose(t, dim0, dim1))


def t_(self):
    """Same as torch.Tensor.t_: transpose a matrix in place (0-D and 1-D stay as they are)."""
    if self._data.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return _restride(self, shape.t)


def squeeze_(self, dim=None):
    """Same as torch.Tensor.squeeze_: drop size-1 dims (all, one, or a tuple) in place."""
    return _restride(self, lambda t: shape.squeeze(t, dim))


def unsqueeze_(self, dim):
    """Same as torch.Tensor.unsqueeze_: insert a size-1 dim at `dim` in place."""
    return _restride(self, lambda t: shape.unsqueeze(t, dim))


def swapaxes_(self, axis0, axis1):
    """Same as torch.Tensor.swapaxes_ (and swapdims_): transpose_ under NumPy's name."""
    return transpose_(self, axis0, axis1)


def as_strided_(self, size, stride, storage_offset=None):
    """Same as torch.Tensor.as_strided_: this tensor becomes `as_strided(self, size, stride,
    storage_offset)`, a view of its own storage (see ember.as_strided for what fits)."""
    return _restride(self, lambda t: strided.as_strided(t, size, stride, storage_offset))


# --- storage level: resize_, resize_as_, set_ ---
def _check_not_inference(self):
    if self._vc.__class__ is InferenceVersion and not inference_on():
        check_inplace(self)  # raises PyTorch's inference-tensor error


def _sizes(sizes, op):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    for s in sizes:
        if isinstance(s, bool) or not hasattr(s, "__index__"):
            raise TypeError(
                f"{op}(): argument 'size' must be tuple of ints, but found element of type "
                f"{type(s).__name__}"
            )
        if s < 0:
            raise RuntimeError(
                f"{op}(): Trying to resize storage to a negative size {list(sizes)}; sizes "
                "must be non-negative"
            )
    return tuple(s.__index__() for s in sizes)


def _storage_offset(array):
    return (_address(array) - _storage_span(array)[0]) // array.itemsize


def resize_(self, *sizes, memory_format=None):
    """Same as torch.Tensor.resize_: give this tensor the row-major shape `sizes` on its own
    storage (starting where it starts now), growing the storage when it is too small (new
    elements are zero in ember; PyTorch leaves them uninitialized). The same shape is a
    no-op; anything else bumps the version. A tensor that requires grad cannot be resized
    (outside inference mode), as PyTorch.

    ember differs where storage is shared: growing a storage copies it to new memory, which
    the tensor's views and the tensors it views do not see (PyTorch's do).
    """
    _check_not_inference(self)
    if self._requires_grad and not inference_on():
        raise RuntimeError("cannot resize variables that require grad")
    new_shape = _sizes(sizes, "resize_")
    data = self._data
    if new_shape == data.shape:
        return self
    xp = _backend.array_module(data)
    n = math.prod(new_shape)
    owner = _owner(data)
    offset = _storage_offset(data) if data.size else 0
    flat_owner = owner.flags.c_contiguous and _backend.writeable(owner) and owner.size
    if flat_owner and offset + n <= owner.size:
        self._data = owner.reshape(-1)[offset : offset + n].reshape(new_shape)
    else:
        storage = xp.zeros(offset + n if flat_owner else n, dtype=data.dtype)
        if flat_owner:
            storage[: owner.size] = owner.reshape(-1)
        else:
            kept = min(n, data.size)
            storage[:kept] = data.reshape(-1)[:kept]
        self._data = storage[storage.size - n :].reshape(new_shape)
        self._base = self._view_of = None  # it no longer shares memory with anything
    self._vc[0] += 1
    return self


def resize_as_(self, the_template, memory_format=None):
    """Same as torch.Tensor.resize_as_: resize_ to the shape of `the_template`."""
    if not isinstance(the_template, Tensor):
        raise TypeError(
            "resize_as_(): argument 'the_template' (position 1) must be Tensor, not "
            f"{type(the_template).__name__}"
        )
    return resize_(self, tuple(the_template.shape), memory_format=memory_format)


_C_NAMES = {"float64": "double", "float32": "float", "float16": "half", "int64": "long"}


def _c_name(t):
    """A dtype as PyTorch's set_ error names it (the C type)."""
    name = t._data.dtype.name
    return _C_NAMES.get(name, name)


class _SetBackward(Function):
    """The grad_fn of a tensor that set_ changed while recording: backward refuses, as
    PyTorch's (set_ has no derivative)."""

    node_name = "NotImplemented"

    @staticmethod
    def forward(ctx, x, source):
        return source.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("derivative for set_ is not implemented")


def set_(self, source=None, storage_offset=0, size=None, stride=None):
    """Same as torch.Tensor.set_: make this tensor look at another tensor's memory.

    `set_()` gives it an empty storage; `set_(t)` t's memory, shape and strides;
    `set_(t, storage_offset, size, stride)` a view of t's storage with those sizes and
    strides (row-major when stride is omitted). Bumps the version; the tensor stops being a
    view of what it viewed, and gets a new gradient accumulator (a graph recorded before
    does not reach it, as PyTorch). Inside a recorded graph backward through it raises, as
    PyTorch's (set_ has no derivative).

    ember's storages (`untyped_storage()`) describe memory but do not hold it, so a storage
    cannot be the source: pass the tensor that owns it.
    """
    if isinstance(source, (UntypedStorage, TypedStorage)):
        raise TypeError(
            "set_(): ember's storage objects describe memory but do not hold it; pass a tensor "
            "instead (x.set_(t) or x.set_(t, storage_offset, size, stride))"
        )
    if source is not None and not isinstance(source, Tensor):
        raise TypeError(f"set_(): argument 'source' must be Tensor, not {type(source).__name__}")
    others = () if source is None else (source,)
    check_inplace(self, others)
    if source is None:
        data = _backend.array_module(self._data).zeros((0,), dtype=self._data.dtype)
    else:
        if source._data.dtype != self._data.dtype:
            raise RuntimeError(
                f"Could not set tensor of type {_c_name(source)} to a tensor of type "
                f"{_c_name(self)}"
            )
        if source.device != self.device:
            raise RuntimeError(
                f"Expected source to be on {self.device}, but it is on {source.device}"
            )
        data = source._data
        if size is not None:
            size = _sizes((size,), "set_")
            if stride is None:
                stride = tuple(math.prod(size[k + 1 :]) for k in range(len(size)))
            data = strided.as_strided(Tensor._make(data), size, tuple(stride), storage_offset)
            data = data._data
        elif storage_offset:
            raise RuntimeError("set_(): pass size (and stride) together with storage_offset")
    records = _state.enabled and (
        self._requires_grad or (source is not None and source._requires_grad)
    )
    if records:
        before = Tensor._make(self._data, self._requires_grad, self.grad_fn, self._output_nr)
        source_t = source if source is not None else Tensor._make(data)
        node_out = _SetBackward.apply(before, source_t)
        self.grad_fn, self._output_nr = node_out.grad_fn, 0
        self._requires_grad = True
    self._data = data
    self._base = self._view_of = None
    self._accum = None  # its shape may have changed: a new AccumulateGrad, as PyTorch
    self._vc[0] += 1
    return self


__all__ = []
TENSOR_METHODS = {
    "transpose_": transpose_,
    "t_": t_,
    "squeeze_": squeeze_,
    "unsqueeze_": unsqueeze_,
    "swapaxes_": swapaxes_,
    "swapdims_": swapaxes_,
    "as_strided_": as_strided_,
    "resize_": resize_,
    "resize_as_": resize_as_,
    "set_": set_,
}

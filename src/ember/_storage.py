"""A tensor's memory as PyTorch shows it: storages (`Tensor.untyped_storage()`), where an
array sits in the memory it views, pickling's rebuild, and the memory-format constants.

ember's storage is the NumPy (or CuPy) array that owns the memory; these helpers answer
PyTorch's questions about it without copying.
"""

from __future__ import annotations

from ember import _backend
from ember._dtype import from_numpy_dtype


def _address(array) -> int:
    """The address of an array's first element (NumPy or CuPy)."""
    interface = getattr(array, "__cuda_array_interface__", None) or array.__array_interface__
    return interface["data"][0]


def _owner(array):
    """The outermost array in `array`'s chain of bases: the one whose memory all its views
    share (NumPy's as_strided puts a non-array link in the chain, which is walked through)."""
    owner, link = array, array.base
    while link is not None:
        if hasattr(link, "strides") and hasattr(link, "dtype"):
            owner = link
        link = getattr(link, "base", None)
    return owner


def _storage_span(array):
    """(address, nbytes) of the storage under `array`: the memory its owner spans."""
    owner = _owner(array)
    low = high = 0
    for size, stride in zip(owner.shape, owner.strides):
        if stride > 0:
            high += (size - 1) * stride
        else:
            low += (size - 1) * stride
    nbytes = high - low + owner.itemsize if owner.size else 0
    return _address(owner) + low, nbytes


def _copied_memory(array, memo):
    """`array`'s values in new memory, for deepcopy: arrays on one storage land on one new
    storage (memo maps the old owner to the new one), so views stay views of each other."""
    owner = _owner(array)
    if not (owner.flags.c_contiguous and array.size and _backend.writeable(array)):
        return array.copy()  # an odd owner, an empty array or a broadcast: a plain copy
    new_owner = memo.get(id(owner))
    if new_owner is None:
        new_owner = memo[id(owner)] = owner.copy()
    if array is owner:
        return new_owner
    start = _address(array) - _address(owner)
    first = new_owner.reshape(-1).view("uint8")[start : start + array.itemsize].view(array.dtype)
    strided = _backend.array_module(array).lib.stride_tricks.as_strided
    return _backend.adopt(strided(first, array.shape, array.strides), array.__class__)


class UntypedStorage:
    """Same as torch.UntypedStorage, in its basics: the memory block under a tensor
    (`Tensor.untyped_storage()`), sizes in bytes. ember's storage is the NumPy (or CuPy) array
    that owns the memory: a view's base, or the array `ember.from_numpy` was given. It
    describes the memory, for telling whether tensors share it
    (`x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr()`); it cannot be
    indexed, resized or written."""

    __slots__ = ("_address", "_nbytes", "_device")

    def __init__(self, array):
        self._address, self._nbytes = _storage_span(array)
        self._device = _backend.device_of(array)

    def data_ptr(self) -> int:
        """The address of the storage's first byte."""
        return self._address

    def nbytes(self) -> int:
        """The storage's size in bytes."""
        return self._nbytes

    def size(self) -> int:
        """The storage's size in bytes."""
        return self._nbytes

    def element_size(self) -> int:
        """Bytes per element: 1 (an untyped storage counts bytes)."""
        return 1

    def __len__(self) -> int:
        return self.size()

    @property
    def device(self):
        """The device the memory lives on."""
        return self._device

    def __repr__(self) -> str:
        return f"<ember.UntypedStorage of {len(self)} bytes on {self._device}>"


class TypedStorage:
    """What `Tensor.storage()` returns: the same storage counted in elements of the tensor's
    dtype (PyTorch's TypedStorage, which it deprecates for UntypedStorage)."""

    __slots__ = ("_untyped", "dtype")

    def __init__(self, array):
        self._untyped = UntypedStorage(array)
        self.dtype = from_numpy_dtype(array.dtype)

    def untyped(self) -> UntypedStorage:
        """The storage counted in bytes."""
        return self._untyped

    def data_ptr(self) -> int:
        """The address of the storage's first byte."""
        return self._untyped.data_ptr()

    def nbytes(self) -> int:
        """The storage's size in bytes."""
        return self._untyped.nbytes()

    def size(self) -> int:
        """The storage's size in elements of the dtype."""
        return self.nbytes() // self.dtype.itemsize

    def element_size(self) -> int:
        """Bytes per element of the dtype."""
        return self.dtype.itemsize

    def __len__(self) -> int:
        return self.size()

    @property
    def device(self):
        """The device the memory lives on."""
        return self._untyped.device

    def __repr__(self) -> str:
        return f"<ember.TypedStorage of {len(self)} {self.dtype} on {self.device}>"


def _rebuild_tensor(cls, array, device, requires_grad, state):
    """Unpickle a tensor (see Tensor.__reduce_ex__)."""
    if device != "cpu":
        array = _backend.to_device(array, _backend.Device(device))
    t = object.__new__(cls)
    t._init(array, requires_grad)
    if state:
        t.__dict__.update(state)
    return t


class memory_format:
    """Same as torch.memory_format: the layout a tensor's elements are stored in.

    ember tensors are always row-major (C order, PyTorch's `contiguous_format`).
    `ember.contiguous_format` and `ember.preserve_format` are accepted wherever PyTorch takes
    `memory_format=` (`clone`, `contiguous`, `empty`, the `*_like` creators, `Module.to`) and
    change nothing. `ember.channels_last` (and `channels_last_3d`) are accepted there too, but
    the data stays row-major: the values are the same, only PyTorch's strides would differ
    (and `is_contiguous(memory_format=ember.channels_last)` answers for the row-major layout).
    """

    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def __repr__(self) -> str:
        return f"ember.{self._name}"

    def __reduce__(self) -> tuple:
        return (_memory_format_named, (self._name,))


def _memory_format_named(name):
    return _MEMORY_FORMATS[name]


_MEMORY_FORMATS = {
    name: memory_format(name)
    for name in ("contiguous_format", "preserve_format", "channels_last", "channels_last_3d")
}

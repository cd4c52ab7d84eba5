"""Devices and their array modules: numpy on "cpu", cupy on "cuda".

This is the only module that imports cupy. Everything else asks `array_module(array)` for the
module that owns an array, so each op has one implementation for every device.
"""

from __future__ import annotations

import numpy

try:  # a CPU-only install has no cupy, and that is fine
    import cupy
except Exception:  # ImportError, or a cupy that cannot find a driver
    cupy = None

# PyTorch computes inf and nan silently (log(0), 0/0, overflow); so do ember's ops. Each op's
# array work runs with NumPy's floating-point warnings off, scoped to that op, so the user's
# own NumPy code keeps whatever error state it set. NumPy 2 keeps that state in a context
# variable: ops set it with two C calls (about 70 ns), where `with numpy.errstate(...)` costs
# about 700 ns, an eighth of a small op. Use: `token = FLOAT_STATE.set(QUIET_FLOATS)`, then
# `FLOAT_STATE.reset(token)` in a finally block; `FLOAT_STATE.get() is QUIET_FLOATS` says that
# an enclosing scope (a backward pass) has already turned them off.
try:
    from numpy._core._ufunc_config import _extobj_contextvar as FLOAT_STATE
    from numpy._core._ufunc_config import _make_extobj

    QUIET_FLOATS = _make_extobj(all="ignore")
except ImportError:  # NumPy 1.x: the public (thread-local) error state, same effect

    class _ErrorState:
        def get(self):
            return numpy.geterr()

        def set(self, state):
            return numpy.seterr(**state)

        def reset(self, token):
            numpy.seterr(**token)

    FLOAT_STATE = _ErrorState()
    QUIET_FLOATS = {"divide": "ignore", "over": "ignore", "under": "ignore", "invalid": "ignore"}


def quiet_floats():
    """Turn NumPy's floating-point warnings off in this context; returns the token that
    `restore_floats` takes. Pair them with try/finally."""
    return FLOAT_STATE.set(QUIET_FLOATS)


def restore_floats(token) -> None:
    """Undo one `quiet_floats()`."""
    FLOAT_STATE.reset(token)


CUDA_HELP = (
    "CUDA is not available: ember runs on a GPU through CuPy. Install it with "
    "`pip install ember[cuda]` (cupy-cuda12x) on a machine with an NVIDIA GPU and driver."
)


class Device:
    """Same as torch.device: a device type ("cpu" or "cuda") and an optional index."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | Device, index: int | None = None):
        if isinstance(type, Device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or a device, got {type!r}")
        if ":" in type:
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'")
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {type}"
            )
        self.type = type
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        if not isinstance(other, Device):
            return NotImplemented
        same_index = self.index is None or other.index is None or self.index == other.index
        return self.type == other.type and same_index

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


CPU = Device("cpu")


class CupyDevice:
    """Runs "cuda" tensors on CuPy arrays. Another object with the same attributes can stand
    in for it through `set_cuda_backend` (ember's tests use a NumPy-backed one)."""

    def __init__(self, cupy):
        self.module = cupy
        self.array_type = cupy.ndarray

    def is_available(self) -> bool:
        """True when CuPy finds at least one GPU."""
        try:
            return self.module.cuda.runtime.getDeviceCount() > 0
        except Exception:
            return False

    def device_count(self) -> int:
        """Number of GPUs CuPy sees."""
        return self.module.cuda.runtime.getDeviceCount()

    def index_of(self, array) -> int:
        """The GPU an array lives on."""
        return array.device.id

    def from_host(self, array, index: int):
        """A copy of a NumPy array on GPU `index`."""
        with self.module.cuda.Device(index):
            return self.module.asarray(array)

    def to_host(self, array):
        """A NumPy copy of a GPU array."""
        return self.module.asnumpy(array)

    def adopt(self, result):
        """An op's result as this device's array (CuPy's results already are)."""
        return result

    def set_device(self, index: int) -> None:
        """Make GPU `index` current."""
        self.module.cuda.Device(index).use()

    def synchronize(self) -> None:
        """Wait for the queued GPU work."""
        self.module.cuda.Stream.null.synchronize()

    def memory_allocated(self) -> int:
        """Bytes held by CuPy's memory pool."""
        return self.module.get_default_memory_pool().used_bytes()

    def empty_cache(self) -> None:
        """Return the pool's unused blocks to the driver."""
        self.module.get_default_memory_pool().free_all_blocks()


_cuda = CupyDevice(cupy) if cupy is not None else None


def set_cuda_backend(backend) -> object:
    """Install the object that runs "cuda" tensors (None: no CUDA); returns the previous one.

    By default that is `CupyDevice` when CuPy imports. The attributes ember uses are those of
    `CupyDevice`; ember's test suite installs a NumPy-backed stand-in through this seam to
    test the device plumbing on machines without a GPU.
    """
    global _cuda
    previous, _cuda = _cuda, backend
    return previous


def cuda_backend():
    """The object that runs "cuda" tensors, or None."""
    return _cuda


def cuda_available() -> bool:
    """True when a CUDA device can be used."""
    return _cuda is not None and _cuda.is_available()


def array_module(*arrays):
    """Return numpy or cupy, whichever owns these arrays."""
    cuda = _cuda
    if cuda is not None:
        cuda_type = cuda.array_type
        for a in arrays:
            if isinstance(a, cuda_type):
                return cuda.module
    return numpy


def device_of(array) -> Device:
    """The device an array lives on."""
    cuda = _cuda
    if cuda is not None and isinstance(array, cuda.array_type):
        return Device("cuda", cuda.index_of(array))
    return CPU


def to_device(array, device: Device):
    """Copy `array` to `device` (no copy when it is already there)."""
    if device_of(array) == device:
        return array
    if device.type == "cpu":
        return _cuda.to_host(array)
    if not cuda_available():
        raise RuntimeError(CUDA_HELP)
    if device_of(array).type == "cuda":
        array = _cuda.to_host(array)
    return _cuda.from_host(array, device.index or 0)


def as_array(value, dtype=None, device: Device | None = None):
    """Build a backend array from data (nested lists, numbers, arrays) on `device`."""
    if device is not None and device.type == "cuda":
        host = numpy.asarray(value, dtype=dtype)
        return to_device(host, device)
    return numpy.asarray(value, dtype=dtype)


SCALAR_TYPES = (numpy.generic,)  # what NumPy returns instead of a 0-d array


def is_scalar_result(value) -> bool:
    """NumPy returns scalars (not 0-d arrays) from ops on 0-d arrays; this spots them."""
    return isinstance(value, numpy.generic)


def scalar_to_array(value, like_cls=None):
    """A NumPy scalar as a 0-d array of the array class `like_cls` (the class of the op's
    inputs' arrays), so a 0-d result stays on its device."""
    return adopt(numpy.asarray(value), like_cls)


def adopt(result, like_cls):
    """An op's result array as an array of class `like_cls`: a CUDA backend whose module hands
    back plain NumPy arrays from some calls turns them into its own here."""
    cuda = _cuda
    if cuda is None or like_cls is not cuda.array_type or result.__class__ is like_cls:
        return result
    return cuda.adopt(result)


def writeable(array) -> bool:
    """False for read-only NumPy views (broadcasts, diagonals); CuPy arrays are always writable."""
    return getattr(array.flags, "writeable", True)


def shares_storage(a, b) -> bool:
    """True when two arrays may overlap in memory (a cheap bounds check)."""
    return array_module(a).may_share_memory(a, b)


def add_at(target, index, values):
    """target[index] += values, accumulating over repeated indices (in place)."""
    array_module(target).add.at(target, index, values)


def to_host(array):
    """A NumPy view or copy of `array`, for printing, .tolist() and .item()."""
    cuda = _cuda
    if cuda is not None and isinstance(array, cuda.array_type):
        return cuda.to_host(array)
    return array


def module_for(device: Device):
    """The array module (numpy or cupy) that creates arrays on `device`."""
    if device.type == "cuda":
        if not cuda_available():
            raise RuntimeError(CUDA_HELP)
        return _cuda.module
    return numpy

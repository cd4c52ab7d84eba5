"""Devices and their array modules: numpy on "cpu", cupy on "cuda".

This is the only module that imports cupy. Everything else asks `array_module(array)` for the
module that owns an array, so each op has one implementation for every device.
"""

from __future__ import annotations

import numpy

# PyTorch computes inf and nan silently (log(0), 0/0, overflow); so does ember. NumPy's
# floating-point warnings would otherwise fire from inside ops and backward passes.
numpy.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")

try:  # a CPU-only install has no cupy, and that is fine
    import cupy
except Exception:  # ImportError, or a cupy that cannot find a driver
    cupy = None

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


class FakeCudaArray(numpy.ndarray):
    """A NumPy array that calls itself a CUDA array: lets the device plumbing be tested on CPU."""


_fake_cuda = False


def _as_fake(value):
    """Results of NumPy calls made for the fake device, turned into fake-device arrays."""
    if type(value) is numpy.ndarray:
        return value.view(FakeCudaArray)
    if isinstance(value, tuple):
        items = [_as_fake(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


class _FakeCudaProxy:
    """numpy (or one of its functions or submodules), standing in for cupy on the fake device:
    every array it returns is a FakeCudaArray, as cupy's would be cupy arrays."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if isinstance(attr, type) or not (callable(attr) or hasattr(attr, "__path__")):
            return attr  # dtypes, classes and constants pass through
        return _FakeCudaProxy(attr)

    def __call__(self, *args, **kwargs):
        return _as_fake(self._target(*args, **kwargs))


_FAKE_NUMPY = _FakeCudaProxy(numpy)


def use_fake_cuda(enabled: bool = True) -> None:
    """Test hook: pretend a CUDA device exists, backed by `FakeCudaArray` (NumPy) arrays."""
    global _fake_cuda
    _fake_cuda = enabled


def cuda_available() -> bool:
    """True when a CUDA device can be used (CuPy with a GPU, or the test-only fake device)."""
    if _fake_cuda:
        return True
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def array_module(*arrays):
    """Return numpy or cupy, whichever owns these arrays."""
    if _fake_cuda:
        for a in arrays:
            if isinstance(a, FakeCudaArray):
                return _FAKE_NUMPY
    if cupy is not None:
        for a in arrays:
            if isinstance(a, cupy.ndarray):
                return cupy
    return numpy


def device_of(array) -> Device:
    """The device an array lives on."""
    if isinstance(array, FakeCudaArray):
        return Device("cuda", 0)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return Device("cuda", array.device.id)
    return CPU


def to_device(array, device: Device):
    """Copy `array` to `device` (no copy when it is already there)."""
    if device_of(array) == device:
        return array
    if device.type == "cpu":
        if isinstance(array, FakeCudaArray):
            return array.view(numpy.ndarray).copy()
        return cupy.asnumpy(array)
    if not cuda_available():
        raise RuntimeError(CUDA_HELP)
    if _fake_cuda:
        return numpy.array(array).view(FakeCudaArray)
    with cupy.cuda.Device(device.index or 0):
        return cupy.asarray(array)


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
    """A NumPy scalar as a 0-d array, of the array class `like_cls` (e.g. the fake CUDA one)."""
    out = numpy.asarray(value)
    if like_cls is not None and like_cls is not out.__class__:
        out = out.view(like_cls)
    return out


def writeable(array) -> bool:
    """False for read-only NumPy views (broadcasts, diagonals); CuPy arrays are always writable."""
    return getattr(array.flags, "writeable", True)


def shares_storage(a, b) -> bool:
    """True when two arrays may overlap in memory (a cheap bounds check)."""
    return array_module(a).may_share_memory(a, b)


def add_at(target, index, values):
    """target[index] += values, accumulating over repeated indices (in place)."""
    if cupy is not None and isinstance(target, cupy.ndarray):
        cupy.add.at(target, index, values)
    else:
        numpy.add.at(target, index, values)


def to_host(array):
    """A NumPy view or copy of `array`, for printing, .tolist() and .item()."""
    if isinstance(array, FakeCudaArray):
        return array.view(numpy.ndarray)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return array


def module_for(device: Device):
    """The array module (numpy or cupy) that creates arrays on `device`."""
    if device.type == "cuda":
        if _fake_cuda:
            return _FAKE_NUMPY
        if not cuda_available():
            raise RuntimeError(CUDA_HELP)
        return cupy
    return numpy

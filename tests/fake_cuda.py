"""A NumPy-backed stand-in for a CUDA device, so the device plumbing is tested on any machine.

`install()` puts it behind ember's CUDA seam (`ember._backend.set_cuda_backend`); its arrays
are `FakeCudaArray`s, a NumPy subclass that reports itself as living on "cuda:0". Use the
`fake_cuda` fixture from conftest.py, or `with fake_cuda.installed(): ...` in scripts.
"""

from __future__ import annotations

import contextlib

import numpy

from ember import _backend


class FakeCudaArray(numpy.ndarray):
    """A NumPy array that calls itself a CUDA array."""


def _as_fake(value):
    """Results of NumPy calls made for the fake device, turned into fake-device arrays."""
    if type(value) is numpy.ndarray:
        return value.view(FakeCudaArray)
    if isinstance(value, tuple):
        items = [_as_fake(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


class _FakeModule:
    """numpy (or one of its functions or submodules) standing in for cupy: every array it
    returns is a FakeCudaArray, as cupy's would be cupy arrays."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if isinstance(attr, type) or not (callable(attr) or hasattr(attr, "__path__")):
            return attr  # dtypes, classes and constants pass through
        return _FakeModule(attr)

    def __call__(self, *args, **kwargs):
        return _as_fake(self._target(*args, **kwargs))


class FakeCudaDevice:
    """The CUDA backend interface of `ember._backend.CupyDevice`, on NumPy memory."""

    module = _FakeModule(numpy)
    array_type = FakeCudaArray

    def is_available(self):
        return True

    def device_count(self):
        return 1

    def index_of(self, array):
        return 0

    def from_host(self, array, index):
        return numpy.array(array).view(FakeCudaArray)

    def to_host(self, array):
        return array.view(numpy.ndarray).copy()

    def adopt(self, result):
        return result.view(FakeCudaArray)

    def set_device(self, index):
        pass

    def synchronize(self):
        pass

    def memory_allocated(self):
        return 0

    def empty_cache(self):
        pass


_previous = []


def install():
    """Put the fake device behind ember's CUDA seam."""
    _previous.append(_backend.set_cuda_backend(FakeCudaDevice()))


def remove():
    """Put back the CUDA backend that was there before `install()`."""
    _backend.set_cuda_backend(_previous.pop())


@contextlib.contextmanager
def installed():
    """The fake device, for the length of a with-block."""
    install()
    try:
        yield
    finally:
        remove()

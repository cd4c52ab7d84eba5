"""ember.cuda: is_available, the legacy CUDA tensor types, and device helpers."""

from __future__ import annotations

from ember import _backend, _random
from ember._tensor_types import CUDA_TYPES

globals().update(CUDA_TYPES)
_current = [0]


def is_available() -> bool:
    """True when ember can use a CUDA GPU (CuPy installed and a device present)."""
    return _backend.cuda_available()


def _require():
    if not is_available():
        raise RuntimeError(_backend.CUDA_HELP)


def device_count() -> int:
    """Number of CUDA devices (0 without CuPy or a GPU)."""
    if not is_available():
        return 0
    if _backend.cupy is None:
        return 1  # the test-only fake device
    return _backend.cupy.cuda.runtime.getDeviceCount()


def current_device() -> int:
    """Index of the current CUDA device."""
    _require()
    return _current[0]


def set_device(device) -> None:
    """Select the current CUDA device."""
    _require()
    index = _backend.Device(device).index if not isinstance(device, int) else device
    _current[0] = index or 0
    if _backend.cupy is not None:
        _backend.cupy.cuda.Device(_current[0]).use()


def synchronize(device=None) -> None:
    """Wait for all queued GPU work to finish."""
    _require()
    if _backend.cupy is not None:
        _backend.cupy.cuda.Stream.null.synchronize()


def manual_seed(seed) -> None:
    """Seed the generator used for CUDA tensors (ember draws them on the host)."""
    _random.manual_seed(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None) -> int:
    """Bytes held by CuPy's memory pool for tensors."""
    if _backend.cupy is None or not is_available():
        return 0
    return _backend.cupy.get_default_memory_pool().used_bytes()


def empty_cache() -> None:
    """Return cached, unused GPU memory to the driver."""
    if _backend.cupy is not None and is_available():
        _backend.cupy.get_default_memory_pool().free_all_blocks()


__all__ = [
    "current_device",
    "device_count",
    "empty_cache",
    "is_available",
    "manual_seed",
    "manual_seed_all",
    "memory_allocated",
    "set_device",
    "synchronize",
    *CUDA_TYPES,
]

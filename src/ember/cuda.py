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
    return _backend.cuda_backend().device_count()


def current_device() -> int:
    """Index of the current CUDA device."""
    _require()
    return _current[0]


def set_device(device) -> None:
    """Select the current CUDA device."""
    _require()
    index = _backend.Device(device).index if not isinstance(device, int) else device
    _current[0] = index or 0
    _backend.cuda_backend().set_device(_current[0])


def synchronize(device=None) -> None:
    """Wait for all queued GPU work to finish."""
    _require()
    _backend.cuda_backend().synchronize()


def manual_seed(seed) -> None:
    """Seed the generator used for CUDA tensors (ember draws them on the host)."""
    _random.manual_seed(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None) -> int:
    """Bytes held by CuPy's memory pool for tensors."""
    if not is_available():
        return 0
    return _backend.cuda_backend().memory_allocated()


def empty_cache() -> None:
    """Return cached, unused GPU memory to the driver."""
    if is_available():
        _backend.cuda_backend().empty_cache()


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

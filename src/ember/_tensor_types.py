"""The legacy typed constructors: ember.FloatTensor(...), ember.cuda.FloatTensor, and friends."""

from __future__ import annotations

from ember import _backend, _dtype
from ember._tensor import Tensor


class _TensorTypeMeta(type):
    def __instancecheck__(cls, obj):
        return (
            isinstance(obj, Tensor)
            and obj.dtype is cls.dtype
            and (obj.device.type == "cuda") == (cls.device.type == "cuda")
        )

    def __repr__(cls):
        return f"<class '{cls.__module__}.{cls.__name__}'>"


def _make_type(name, dtype, device):
    def __new__(cls, *args, device=None):
        if cls.device.type == "cuda" and not _backend.cuda_available():
            raise RuntimeError(_backend.CUDA_HELP)
        if len(args) == 1 and not isinstance(args[0], int):
            t = Tensor(args[0], dtype=cls.dtype)
        else:
            t = Tensor(*args, dtype=cls.dtype)
        return t.to(cls.device) if cls.device.type == "cuda" else t

    cls = _TensorTypeMeta(
        name,
        (),
        {
            "__new__": __new__,
            "__doc__": f"Legacy constructor: a {dtype.name} tensor on {device} from data or sizes.",
            "dtype": dtype,
            "device": _backend.Device(device),
            "is_cuda": device == "cuda",
            "__module__": "ember.cuda" if device == "cuda" else "ember",
        },
    )
    cls._tensor_type = cls
    return cls


_NAMES = {
    "FloatTensor": _dtype.float32,
    "DoubleTensor": _dtype.float64,
    "HalfTensor": _dtype.float16,
    "ByteTensor": _dtype.uint8,
    "CharTensor": _dtype.int8,
    "ShortTensor": _dtype.int16,
    "IntTensor": _dtype.int32,
    "LongTensor": _dtype.int64,
    "BoolTensor": _dtype.bool,
}
CPU_TYPES = {name: _make_type(name, d, "cpu") for name, d in _NAMES.items()}
CUDA_TYPES = {name: _make_type(name, d, "cuda") for name, d in _NAMES.items()}


def by_name(name: str):
    """'torch.cuda.FloatTensor' or 'ember.FloatTensor' -> the legacy type."""
    parts = name.split(".")
    table = CUDA_TYPES if "cuda" in parts else CPU_TYPES
    try:
        return table[parts[-1]]
    except KeyError:
        raise ValueError(f"invalid type: '{name}'") from None

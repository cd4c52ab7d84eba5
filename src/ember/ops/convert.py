"""dtype and device moves, and copies: cast, to_device, clone, contiguous, and the Tensor
methods built on them (to, type, cuda, cpu, float, double, ...)."""

from __future__ import annotations

from ember import _backend, _dtype
from ember._dtype import to_dtype
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import UNARY, S, register


@register(
    "cast",
    lambda lib, x: x.to(lib.float32).to(lib.float64) * 1.0,
    UNARY,
    atol=1e-6,
    eps=1e-2,  # exact for a linear op, and far above float32's rounding
)
class Cast(Primitive):
    """A dtype conversion; its gradient is converted back to the input's dtype."""

    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, np_dtype):
        ctx.in_dtype = x.dtype
        return x.astype(np_dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.in_dtype), None


def cast(x, dtype):
    """x converted to `dtype` (differentiable between floating types). To bfloat16, values are
    rounded to nearest even, as PyTorch's; bfloat16 needs the optional ml_dtypes package."""
    dtype = to_dtype(dtype)
    out = Cast.apply(x, dtype.np)
    if not dtype.is_floating_point and out.requires_grad:
        out = out.detach()  # an integer result carries no gradient
    return out


@register("to_device", lambda lib, x: x.to("cpu") * 1.0, (S((3, 4)),))
class ToDevice(Primitive):
    """A copy to another device; its gradient is copied back."""

    node_name = "ToCopyBackward0"
    moves_device = True

    @staticmethod
    def forward(ctx, x, device):
        ctx.in_device = _backend.device_of(x)
        return _backend.to_device(x, device)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.in_device), None


def to_device(x, device):
    """x copied to `device`."""
    return ToDevice.apply(x, _backend.Device(device))


@register("clone", lambda lib, x: x.clone(), UNARY)
class Clone(Primitive):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def clone(input, *, memory_format=None):
    """Same as torch.clone: a copy that stays in the graph."""
    return Clone.apply(input)


def contiguous(input, memory_format=None):
    """Same as torch.Tensor.contiguous: a row-major copy when the data is not already."""
    if input._data.flags.c_contiguous:
        return input
    return Clone.apply(input)


# --- the Tensor methods that move a tensor to a dtype or device ---
_TYPE_NAMES = {
    "float16": "HalfTensor",
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "bfloat16": "BFloat16Tensor",
    "uint8": "ByteTensor",
    "int8": "CharTensor",
    "int16": "ShortTensor",
    "int32": "IntTensor",
    "int64": "LongTensor",
    "bool": "BoolTensor",
}


def _is_dtype_name(value):
    if isinstance(value, str):
        name = value.removeprefix("torch.").removeprefix("ember.")
        return name in _dtype._NAMES
    return False


def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False, **kwargs):
    """Same as torch.Tensor.to: move to a dtype and/or device (a tensor gives both)."""
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (_backend.Device, str)) and not _is_dtype_name(a):
            device = a
        else:
            dtype = a
    out = self
    if device is not None:
        device = _backend.Device(device)
        if device.type == "cuda" and device.index is None:
            device = _backend.Device("cuda", 0)
        if self.device != device:
            out = to_device(out, device)
    if dtype is not None:
        dtype = to_dtype(dtype)
        if out._data.dtype != dtype.np:
            out = cast(out, dtype)
    if copy and out is self:
        out = clone(self)
    return out


def tensor_type(self, dtype=None, non_blocking=False, **kwargs):
    """Same as torch.Tensor.type: with no argument, the type name ('ember.FloatTensor');
    else a converted tensor."""
    if dtype is None:
        prefix = "ember.cuda." if self.device.type == "cuda" else "ember."
        return prefix + _TYPE_NAMES[self.dtype.name]
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        from ember import _tensor_types

        dtype = _tensor_types.by_name(dtype)
    tensor_type = getattr(dtype, "_tensor_type", None)
    if tensor_type is not None:  # ember.FloatTensor, ember.cuda.FloatTensor, ...
        return to(self, device=tensor_type.device, dtype=tensor_type.dtype)
    return to(self, dtype)


def cuda(self, device=None, non_blocking=False):
    """A copy on the CUDA device (this tensor if it is already there)."""
    return to(self, device=_backend.Device("cuda", 0 if device is None else device))


def cpu(self):
    """A copy on the CPU (this tensor if it is already there)."""
    return to(self, device="cpu")


def type_as(self, other):
    """Same as self.to(other.dtype)."""
    return to(self, other.dtype)


def _to_dtype_method(name):
    dtype = _dtype._NAMES[name]

    def method(self):
        return to(self, dtype)

    method.__doc__ = f"Same as self.to(ember.{name})."
    return method


TENSOR_METHODS = {
    "clone": clone,
    "contiguous": contiguous,
    "to": to,
    "type": tensor_type,
    "cuda": cuda,
    "cpu": cpu,
    "type_as": type_as,
    **{
        method: _to_dtype_method(name)
        for method, name in (
            ("float", "float32"),
            ("double", "float64"),
            ("half", "float16"),
            ("bfloat16", "bfloat16"),
            ("long", "int64"),
            ("int", "int32"),
            ("short", "int16"),
            ("byte", "uint8"),
            ("char", "int8"),
            ("bool", "bool"),
        )
    },
}

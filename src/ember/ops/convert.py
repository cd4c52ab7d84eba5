"""dtype and device moves, and copies: cast, to_device, clone, contiguous."""

from __future__ import annotations

from ember import _backend
from ember._dtype import to_dtype
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
    """x converted to `dtype` (differentiable between floating types)."""
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


TENSOR_METHODS = {"clone": clone, "contiguous": contiguous}

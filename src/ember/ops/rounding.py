"""Rounding: floor, ceil, round, trunc, frac, and the rounded divisions //, %, fmod.

Rounding has a zero gradient almost everywhere, and PyTorch returns exactly that (zeros, not
no gradient), so these are Primitives whose backward gives zeros.
"""

from __future__ import annotations

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, unary
from ember.ops._table import BINARY, UNARY, S, register
from ember.ops.pointwise import operands
from ember.ops.pointwise_extra import inplace_method, quiet


def _zeros(_x, _out, grad):
    return grad.new_zeros(grad.shape)


_INTEGERS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _rounding(name, forward):
    op = unary(name, forward, _zeros, avoid=_INTEGERS)

    def fn(input):
        if not is_floating(input._data.dtype):  # integers are already whole
            return Tensor._make(input._data.copy())
        return op(input)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Same as torch.{name} (zero gradient, as PyTorch)."
    return fn


floor = _rounding("floor", lambda xp, x: xp.floor(x))
ceil = _rounding("ceil", lambda xp, x: xp.ceil(x))
trunc = _rounding("trunc", lambda xp, x: xp.trunc(x))
fix = trunc


@register(
    "round",
    lambda lib, x, **kw: lib.round(x, **kw),
    (*UNARY, S((3, 4), decimals=1), S((3, 4), decimals=-1)),
    domain=(-20.0, 20.0),  # the kinks (integers and halves) are a measure-zero set
)
class Round(Primitive):
    """Round half to even, as PyTorch; with decimals, round(x * 10**d) / 10**d."""

    @staticmethod
    def forward(ctx, x, decimals):
        return array_module(x).round(x, decimals)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(grad.shape), None


def round(input, *, decimals=0):  # noqa: A001
    """Same as torch.round: half to even, with optional decimals (zero gradient)."""
    if not is_floating(input._data.dtype):
        if decimals != 0:
            raise NotImplementedError(
                f"\"round_cpu\" not implemented for '{input.dtype.name.capitalize()}'"
            )
        return Tensor._make(input._data.copy())
    return Round.apply(input, decimals)


@register("frac", lambda lib, x: lib.frac(x), UNARY, avoid=_INTEGERS)
def frac(input):
    """Same as torch.frac: input - trunc(input), with the sign of input."""
    if not is_floating(input._data.dtype):
        raise NotImplementedError(
            f"\"frac_cpu\" not implemented for '{input.dtype.name.capitalize()}'"
        )
    return input - trunc(input)


# --- rounded division ---
_MODES = ("trunc", "floor")


def _check_operands(op, a, b):
    """Refuse bool division, and integer division by zero, as PyTorch (floats give inf/NaN)."""
    if any(isinstance(x, Tensor) and x._data.dtype.kind == "b" for x in (a, b)):
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for 'Bool'")
    if isinstance(b, Tensor):
        if not is_floating(b._data.dtype) and (b._data == 0).any():
            raise RuntimeError("ZeroDivisionError")
    elif isinstance(b, int) and b == 0 and not is_floating(a._data.dtype):
        raise RuntimeError("ZeroDivisionError")


def _trunc_div(xp, a, b):
    if getattr(a, "dtype", None) is not None and is_floating(a.dtype):
        return xp.trunc(a / b)
    if getattr(b, "dtype", None) is not None and is_floating(b.dtype):
        return xp.trunc(a / b)
    q = xp.floor_divide(a, b)
    # floor and trunc differ by one where the quotient is negative and inexact
    return q + ((a - q * b != 0) & ((a < 0) != (b < 0)))


@register(
    "div_floor",
    lambda lib, a, b: lib.div(a, b, rounding_mode="floor") * 1.0,
    BINARY,
    avoid=(0.0,),
)
@register(
    "div_trunc",
    lambda lib, a, b: lib.div(a, b, rounding_mode="trunc") * 1.0,
    BINARY,
    avoid=(0.0,),
)
class RoundedDiv(Primitive):
    """a / b rounded toward zero ('trunc') or down ('floor'); zero gradient, as PyTorch."""

    node_name = "DivBackward2"

    @staticmethod
    def forward(ctx, a, b, mode):
        xp = array_module(a, b)
        if mode == "floor":
            return xp.floor_divide(a, b)
        return _trunc_div(xp, a, b)

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        zeros = grad.new_zeros(grad.shape)
        return (zeros if needs[0] else None), (zeros if needs[1] else None), None


def rounded_div(input, other, rounding_mode):
    """div with rounding_mode 'trunc' or 'floor' (integer tensors stay integer)."""
    if rounding_mode not in _MODES:
        raise RuntimeError(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"{rounding_mode!r}"
        )
    a, b = operands(input, other, "div")
    _check_operands("div_floor" if rounding_mode == "floor" else "div_trunc", a, b)
    with quiet(_module(a, b)):
        return RoundedDiv.apply(a, b, rounding_mode)


def _module(a, b):
    return array_module(*(x._data for x in (a, b) if isinstance(x, Tensor)))


def floor_divide(input, other):
    """Same as torch.floor_divide: division rounded down (same as div(rounding_mode='floor')).

    PyTorch's floor_divide has no derivative at all; ember's gives zeros, like div's.
    """
    return rounded_div(input, other, "floor")


class _Modulo(Primitive):
    """The remainder of a rounded division: d/da = 1, d/db = -(a / b rounded)."""

    _ufunc = ""
    _mode = ""

    @classmethod
    def forward(cls, ctx, a, b):
        if ctx.needs_input_grad[1]:  # only b's gradient reads the operands, as PyTorch
            ctx.save_for_backward(a, b)
        return getattr(array_module(a, b), cls._ufunc)(a, b)

    @classmethod
    def backward(cls, ctx, grad):
        needs = ctx.needs_input_grad
        gb = None
        if needs[1]:
            a, b = ctx.saved_tensors
            gb = -grad * RoundedDiv.apply(a, b, cls._mode)
        return (grad if needs[0] else None), gb


@register("remainder", lambda lib, a, b: lib.remainder(a, b), BINARY, avoid=(0.0,))
class Remainder(_Modulo):
    """Python's %: the result has the sign of the divisor."""

    _ufunc = "remainder"
    _mode = "floor"


@register("fmod", lambda lib, a, b: lib.fmod(a, b), BINARY[:3] + BINARY[4:], avoid=(0.0,))
class Fmod(_Modulo):
    """C's fmod: the result has the sign of the dividend."""

    _ufunc = "fmod"
    _mode = "trunc"


def _modulo(cls, op, input, other):
    a, b = operands(input, other, op)
    _check_operands(op, a, b)
    with quiet(_module(a, b)):
        return cls.apply(a, b)


def remainder(input, other):
    """Same as torch.remainder: Python's %, with the sign of other."""
    return _modulo(Remainder, "remainder", input, other)


def fmod(input, other):
    """Same as torch.fmod: C's fmod, with the sign of input."""
    return _modulo(Fmod, "fmod", input, other)


__all__ = [
    "ceil",
    "fix",
    "floor",
    "floor_divide",
    "fmod",
    "frac",
    "remainder",
    "round",
    "trunc",
]
_INPLACE = "ceil fix floor floor_divide fmod frac remainder round trunc".split()
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    **{f"{name}_": inplace_method(name, globals()[name]) for name in _INPLACE},
}

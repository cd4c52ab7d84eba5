"""Elementwise odds and ends: logaddexp, logaddexp2, heaviside, deg2rad, rad2deg, copysign,
float_power, positive, sgn, frexp, ldexp, gcd, lcm.

All are composites of ember's differentiable ops (the integer-only gcd and lcm, and heaviside,
which PyTorch does not differentiate, compute on arrays and carry no gradient).
"""

from __future__ import annotations

import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import BINARY, UNARY, S, register
from ember.ops.convert import cast
from ember.ops.indexing import _type_name
from ember.ops.inplace import apply_inplace
from ember.ops.pointwise import abs, exp, operands, pow, sign, where  # noqa: A004
from ember.ops.pointwise_extra import (
    _wrap_bool,
    exp2,
    floating,
    inplace_method,
    log1p,
    maximum,
    signbit,
)

_LN2 = math.log(2.0)


def _need_float(a, op):
    if not is_floating(a._data.dtype):
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{_type_name(a)}'")


def _tensor_pair(input, other, op):
    for position, (name, value) in enumerate((("input", input), ("other", other)), start=1):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
                f"{type(value).__name__}"
            )
    a, b = operands(input, other, op)
    _need_float(a, op)
    return a, b


# --- log-sum-exp of two ---
def logaddexp(input, other):
    """Same as torch.logaddexp: log(exp(input) + exp(other)), computed without overflow
    (the larger operand plus log1p(exp(-|input - other|)))."""
    a, b = _tensor_pair(input, other, "logaddexp")
    gap = where(a == b, 0.0, -abs(a - b))  # equal infinities: no inf - inf
    return maximum(a, b) + log1p(exp(gap))


def logaddexp2(input, other):
    """Same as torch.logaddexp2: log2(2**input + 2**other), computed without overflow."""
    a, b = _tensor_pair(input, other, "logaddexp2")
    gap = where(a == b, 0.0, -abs(a - b))
    return maximum(a, b) + log1p(exp2(gap)) / _LN2


register("logaddexp", lambda lib, a, b: lib.logaddexp(a, b), BINARY)(logaddexp)
register("logaddexp2", lambda lib, a, b: a.logaddexp2(b), BINARY[:3])(logaddexp2)


# --- angles, signs, powers ---
def deg2rad(input):
    """Same as torch.deg2rad: degrees to radians (integers become the default float)."""
    return floating(input, "deg2rad") * (math.pi / 180.0)


def rad2deg(input):
    """Same as torch.rad2deg: radians to degrees (integers become the default float)."""
    return floating(input, "rad2deg") * (180.0 / math.pi)


register("deg2rad", lambda lib, x: lib.deg2rad(x), UNARY)(deg2rad)
register("rad2deg", lambda lib, x: x.rad2deg(), UNARY[:2])(rad2deg)


def heaviside(input, values):
    """Same as torch.heaviside: 0 where input < 0, `values` where input == 0, 1 where
    input > 0. Both must have the same dtype. No gradient (PyTorch defines none)."""
    if not isinstance(values, Tensor):
        raise TypeError(
            f"heaviside(): argument 'values' (position 2) must be Tensor, not "
            f"{type(values).__name__}"
        )
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    x, v = input._data, values._data
    xp = array_module(x)
    if v.__class__ is not x.__class__:
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, "
            f"{input.device} and {values.device}!"
        )
    step = xp.where(x == 0, v, (x > 0).astype(x.dtype))
    return Tensor._make(xp.asarray(step, dtype=x.dtype))


class CopySign(Primitive):
    """copysign: |a| with b's sign bit. The gradient is +-1 for a (0 where a is 0, as
    PyTorch) and none for b; a primitive so that the result requires grad when b does."""

    float_safe = True
    node_name = "CopysignBackward0"

    @staticmethod
    def forward(ctx, a, b):
        out = array_module(a).copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        flipped = signbit(a) != signbit(out)
        return where(a == 0, 0.0, where(flipped, -grad, grad)), None


def copysign(input, other):
    """Same as torch.copysign: |input| with the sign of other (a tensor or number; -0.0 counts
    as negative). Integers become the default float. The gradient is sign(input) times
    sign(result), and 0 where input is 0, as PyTorch; other gets none."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"copysign(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    a, b = operands(input, other, "copysign", floating=True)
    a = floating(a, "copysign")
    if isinstance(b, Tensor):
        b = floating(b, "copysign")
    return CopySign.apply(a, b)


register("copysign", lambda lib, a, b: lib.copysign(a, b), BINARY[:3])(CopySign)
register(
    "copysign_number",
    lambda lib, a, **kw: a.copysign(kw["sign"]),
    (S((3, 4), sign=-2.0), S((2, 3), sign=0.0), S((2, 3), sign=-0.0)),
)(copysign)


def float_power(input, exponent):
    """Same as torch.float_power: pow computed in float64 (the result is float64)."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power(): expected at least one Tensor argument")
    base = cast(input, "float64") if isinstance(input, Tensor) else float(input)
    power = cast(exponent, "float64") if isinstance(exponent, Tensor) else float(exponent)
    return pow(base, power)


def float_power_(self, exponent):
    """Same as torch.Tensor.float_power_ (self must be float64, as PyTorch)."""
    if self._data.dtype.name != "float64":
        raise RuntimeError(
            f"the base given to float_power_ has dtype {_type_name(self)} but the operation's "
            "result requires dtype Double"
        )
    others = (exponent,) if isinstance(exponent, Tensor) else ()
    return apply_inplace(self, lambda x: float_power(x, exponent), others, "float_power_")


register(
    "float_power",
    lambda lib, a, b: lib.float_power(a, b),
    (S((3, 4), (3, 4)), S((3, 1), (1, 4))),
    domain=(0.5, 2.0),
)(float_power)
register(
    "float_power_number",
    lambda lib, a: (a.float_power(2.5), lib.float_power(1.5, a)),
    (S((3, 4)),),
    domain=(0.5, 2.0),
)(float_power)


def positive(input):
    """Same as torch.positive: input itself (bool tensors raise, as PyTorch)."""
    if input._data.dtype.kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def sgn(input):
    """Same as torch.sgn: sign of a real tensor (ember has no complex numbers)."""
    return sign(input)


register("positive", lambda lib, x: lib.positive(x) * 1.0, UNARY[:2])(positive)
register("sgn", lambda lib, x: x.sgn() * x, UNARY[:2], avoid=(0.0,))(sgn)


# --- mantissas and exponents ---
class MantissaExponent(tuple):
    """The (mantissa, exponent) named tuple that frexp returns."""

    def __new__(cls, mantissa, exponent):
        return super().__new__(cls, (mantissa, exponent))

    mantissa = property(lambda self: self[0])
    exponent = property(lambda self: self[1])

    def __repr__(self):
        return f"return_types.frexp(\nmantissa={self[0]!r},\nexponent={self[1]!r})"


def frexp(input):
    """Same as torch.frexp: (mantissa, exponent) with input = mantissa * 2**exponent and
    0.5 <= |mantissa| < 1 (0 for 0); exponent is int32. The mantissa's gradient is
    grad / 2**exponent, as PyTorch."""
    if not is_floating(input._data.dtype):
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    data = input._data
    xp = array_module(data)
    _, exponent = xp.frexp(data)
    exponent = exponent.astype("int32")
    # 2**-exponent in two factors: one factor overflows for subnormal inputs
    half = -exponent // 2
    one = xp.ones((), dtype=data.dtype)
    first = xp.ldexp(one, half).astype(data.dtype)
    second = xp.ldexp(one, -exponent - half).astype(data.dtype)
    mantissa = input * Tensor._make(first) * Tensor._make(second)
    return MantissaExponent(mantissa, Tensor._make(exponent))


register("frexp", lambda lib, x: lib.frexp(x * 7.0), UNARY)(frexp)


def ldexp(input, other):
    """Same as torch.ldexp: input * 2**other (a float result)."""
    for position, (name, value) in enumerate((("input", input), ("other", other)), start=1):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"ldexp(): argument '{name}' (position {position}) must be Tensor, not "
                f"{type(value).__name__}"
            )
    return input * pow(2.0, other)


register(
    "ldexp",
    # (non-negative integer exponents: torch's gradient for negative ones is 0, a bug)
    lambda lib, x, e: (lib.ldexp(x, e), x.ldexp((e * 2).round().long().abs())),
    (S((3, 4), (3, 4)), S((3, 4), (4,))),
)(ldexp)


# --- integer divisors ---
def _integer_pair(input, other, op):
    a, b = operands(input, other, op)
    if not isinstance(a, Tensor):
        a, b = b, a
    b = b._data if isinstance(b, Tensor) else b
    if a._data.dtype.kind not in "iu" or getattr(b, "dtype", a._data.dtype).kind not in "iu":
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{_type_name(a)}'")
    return a._data, b


def gcd(input, other):
    """Same as torch.gcd: the elementwise greatest common divisor of integer tensors (>= 0)."""
    a, b = _integer_pair(input, other, "gcd")
    return _wrap_bool(array_module(a).gcd(a, b), a)


def lcm(input, other):
    """Same as torch.lcm: the elementwise least common multiple of integer tensors (>= 0)."""
    a, b = _integer_pair(input, other, "lcm")
    return _wrap_bool(array_module(a).lcm(a, b), a)


__all__ = [
    "copysign",
    "deg2rad",
    "float_power",
    "frexp",
    "gcd",
    "heaviside",
    "lcm",
    "ldexp",
    "logaddexp",
    "logaddexp2",
    "positive",
    "rad2deg",
    "sgn",
]
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    **{
        f"{name}_": inplace_method(name, globals()[name])
        for name in ("copysign", "deg2rad", "gcd", "heaviside", "lcm", "ldexp", "rad2deg", "sgn")
    },
    "float_power_": float_power_,
}

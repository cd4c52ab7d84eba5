"""More elementwise math: inverse and hyperbolic trig, logs and exps, erf, extrema, lerp, ...

The activation functions live in activation_math.py, floor/ceil/round and the rounded
divisions in rounding.py.
"""

from __future__ import annotations

import contextlib
import math

from ember import _backend
from ember._backend import array_module
from ember._dtype import get_default_dtype, is_floating, result_type
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, unary
from ember.ops._table import BINARY, UNARY, S, register
from ember.ops.convert import cast
from ember.ops.inplace import apply_inplace
from ember.ops.pointwise import clamp, log, operands, pow, where
from ember.ops.shape import broadcast_shape_of


# --- helpers shared with rounding.py and activation_math.py ---
def floating(input, op):
    """`input` as a floating tensor: integer and bool tensors become the default float."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if not is_floating(input._data.dtype):
        return cast(input, get_default_dtype())
    return input


def quiet(xp):
    """Silence NumPy's floating-point warnings for values PyTorch computes without a word."""
    errstate = getattr(xp, "errstate", None)
    return errstate(all="ignore") if errstate is not None else contextlib.nullcontext()


def inplace_method(name, fn):
    """The Tensor method `name_`: `fn(self, ...)` computed out of place and written back."""

    def method(self, *args, **kwargs):
        others = tuple(a for a in (*args, *kwargs.values()) if isinstance(a, Tensor))
        return apply_inplace(self, lambda x: fn(x, *args, **kwargs), others, f"{name}_")

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_: {name} in place."
    return method


def number_like(value, tensor):
    """A Python number as a 0-d tensor of `tensor`'s dtype and device (no gradient)."""
    data = tensor._data
    array = array_module(data).asarray(value, dtype=data.dtype)
    if array.__class__ is not data.__class__:
        array = array.view(data.__class__)
    return Tensor._make(array)


def _tensors(a, b):
    """Two promoted operands as tensors (a number becomes a 0-d tensor like the other)."""
    if not isinstance(a, Tensor):
        a = number_like(a, b)
    if not isinstance(b, Tensor):
        b = number_like(b, a)
    return a, b


def _wrap_bool(result, like):
    if _backend.is_scalar_result(result):
        result = _backend.scalar_to_array(result, like.__class__)
    return Tensor._make(result)


# --- erf, erfc, erfinv on arrays (NumPy/CuPy only, no SciPy) ---
# erfc(z) = t * exp(-z^2 + h(u)) for z >= 0, with t = 2 / (2 + z) and u = 2t - 1 in (-1, 1].
# h is smooth on [-1, 1]; these are its Chebyshev coefficients, from interpolating
# log(erfc(z) / t) + z^2 at 26 Chebyshev nodes in 40-digit arithmetic. Relative error of
# erfc below 1e-15 for all z >= 0 (checked against mpmath on a dense grid).
_ERFC_CHEB = (
    -0.6513268598908547,
    0.6419697923564902,
    0.019476473204185836,
    -0.009561514786808632,
    -0.0009465953444820369,
    0.00036683949785276145,
    4.252332480690777e-05,
    -2.0278578112534242e-05,
    -1.6242900046470256e-06,
    1.3036558355805232e-06,
    1.5626441722066142e-08,
    -8.523809591492654e-08,
    6.5290544390988515e-09,
    5.0593434955514685e-09,
    -9.913641564930322e-10,
    -2.2736512229318417e-10,
    9.646791102014962e-11,
    2.394038083065756e-12,
    -6.886027526536277e-12,
    8.944879271730368e-13,
    3.130921408127142e-13,
    -1.1270822525221733e-13,
    3.8108713588528985e-16,
    7.106125536922576e-15,
    -1.5230878975373303e-15,
    -9.464871412184462e-17,
)
# erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)): 13 terms reach 1e-17 for |x| < 0.5
_ERF_TAYLOR = tuple(
    2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(13)
)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _erf_small(x):
    """erf by its Taylor series (accurate for |x| < 0.5)."""
    x2 = x * x
    acc = _ERF_TAYLOR[-1]
    for c in _ERF_TAYLOR[-2::-1]:
        acc = acc * x2 + c
    return x * acc


def _erfc_nonneg(xp, z):
    """erfc(z) for z >= 0 from the Chebyshev expansion above (Clenshaw's recurrence)."""
    z = xp.minimum(z, 40.0)  # erfc(40) is 0 in float64; keeps inf out of z - zh below
    t = 2 / (2 + z)
    u = 2 * t - 1
    b1 = b2 = 0.0
    for c in _ERFC_CHEB[:0:-1]:
        b1, b2 = 2 * u * b1 - b2 + c, b1
    h = u * b1 - b2 + _ERFC_CHEB[0]
    # exp(-z^2) with z^2 split into an exact part and a small one: keeps 1e-16 for large z
    zh = xp.round(z * 16) / 16
    return t * xp.exp(-zh * zh) * xp.exp(-(z - zh) * (z + zh) + h)


def erf_array(xp, x):
    """erf on a backend array."""
    with quiet(xp):
        ax = xp.abs(x)
        return xp.where(ax < 0.5, _erf_small(x), xp.sign(x) * (1 - _erfc_nonneg(xp, ax)))


def erfc_array(xp, x):
    """erfc on a backend array (accurate in the far tail, where 1 - erf(x) is not)."""
    with quiet(xp):
        ax = xp.abs(x)
        tail = _erfc_nonneg(xp, ax)
        return xp.where(ax < 0.5, 1 - _erf_small(x), xp.where(x < 0, 2 - tail, tail))


def erfinv_array(xp, y):
    """erfinv: Winitzki's closed-form guess, then four Newton steps on erf (or erfc near 1)."""
    with quiet(xp):
        ay = xp.abs(y)
        inside = ay < 1
        ay_in = xp.where(inside, ay, 0.5)
        a = 0.147
        log_term = xp.log1p(-ay_in * ay_in)
        b = 2 / (math.pi * a) + log_term / 2
        x = xp.sqrt(xp.sqrt(b * b - log_term / a) - b)
        tail = ay_in > 0.5
        for _ in range(4):
            slope = _TWO_OVER_SQRT_PI * xp.exp(-x * x)
            # erf(x) - y, as (1 - y) - erfc(x) near 1 where erf(x) has no digits left
            resid = xp.where(tail, (1 - ay_in) - _erfc_nonneg(xp, x), _erf_small(x) - ay_in)
            x = x - resid / slope
        inf, nan = (xp.asarray(v, dtype=y.dtype) for v in (math.inf, math.nan))
        x = xp.where(inside, x, xp.where(ay == 1, inf, nan))
        return xp.copysign(x, y)


# --- one-input math: integer inputs become the default float, as PyTorch ---
def _float_unary(name, forward, derivative, **spec):
    op = unary(name, forward, derivative, **spec)

    def fn(input):
        return op(floating(input, name))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Same as torch.{name}."
    return fn


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)

reciprocal = _float_unary(
    "reciprocal", lambda xp, x: 1 / x, lambda _x, out, grad: -grad * out * out, avoid=(0.0,)
)
rsqrt = _float_unary(
    "rsqrt",
    lambda xp, x: 1 / xp.sqrt(x),
    lambda _x, out, grad: grad * (-0.5 * out * out * out),
    domain=(0.5, 3.0),
)
exp2 = _float_unary("exp2", lambda xp, x: xp.exp2(x), lambda _x, out, grad: grad * out * _LN2)
expm1 = _float_unary("expm1", lambda xp, x: xp.expm1(x), lambda _x, out, grad: grad * (out + 1))
log1p = _float_unary(
    "log1p", lambda xp, x: xp.log1p(x), lambda x, _out, grad: grad / (x + 1), domain=(-0.5, 2.0)
)
log2 = _float_unary(
    "log2", lambda xp, x: xp.log2(x), lambda x, _out, grad: grad / (x * _LN2), domain=(0.5, 3.0)
)
log10 = _float_unary(
    "log10",
    lambda xp, x: xp.log10(x),
    lambda x, _out, grad: grad / (x * _LN10),
    domain=(0.5, 3.0),
)
tan = _float_unary(
    "tan", lambda xp, x: xp.tan(x), lambda _x, out, grad: grad * (1 + out * out), domain=(-1.2, 1.2)
)
asin = _float_unary(
    "asin",
    lambda xp, x: xp.arcsin(x),
    lambda x, _out, grad: grad * (1 - x * x).rsqrt(),
    domain=(-0.9, 0.9),
)
acos = _float_unary(
    "acos",
    lambda xp, x: xp.arccos(x),
    lambda x, _out, grad: -grad * (1 - x * x).rsqrt(),
    domain=(-0.9, 0.9),
)
atan = _float_unary("atan", lambda xp, x: xp.arctan(x), lambda x, _out, grad: grad / (1 + x * x))
sinh = _float_unary("sinh", lambda xp, x: xp.sinh(x), lambda x, _out, grad: grad * x.cosh())
cosh = _float_unary("cosh", lambda xp, x: xp.cosh(x), lambda x, _out, grad: grad * x.sinh())
asinh = _float_unary(
    "asinh", lambda xp, x: xp.arcsinh(x), lambda x, _out, grad: grad * (x * x + 1).rsqrt()
)
acosh = _float_unary(
    "acosh",
    lambda xp, x: xp.arccosh(x),
    lambda x, _out, grad: grad * (x * x - 1).rsqrt(),
    domain=(1.1, 3.0),
)
atanh = _float_unary(
    "atanh",
    lambda xp, x: xp.arctanh(x),
    lambda x, _out, grad: grad / (1 - x * x),
    domain=(-0.9, 0.9),
)
erf = _float_unary(
    "erf",
    erf_array,
    lambda x, _out, grad: grad * (_TWO_OVER_SQRT_PI * (-x * x).exp()),
    samples=(*UNARY, S((0, 3))),
)
erfc = _float_unary(
    "erfc",
    erfc_array,
    lambda x, _out, grad: grad * (-_TWO_OVER_SQRT_PI * (-x * x).exp()),
)
erfinv = _float_unary(
    "erfinv",
    erfinv_array,
    # recomputed from x, as PyTorch: the output stays free to change in place
    lambda x, _out, grad: grad * ((math.sqrt(math.pi) / 2) * (x.erfinv() ** 2).exp()),
    domain=(-0.9, 0.9),
)


@register("square", lambda lib, x: lib.square(x), (S((3, 4)), S(())))
def square(input):
    """Same as torch.square (integer tensors stay integer)."""
    return pow(input, 2)


# --- two-input math ---
class _Extremum(Primitive):
    """maximum/minimum: NaN propagates; at a tie each input gets half the gradient, as PyTorch."""

    _ufunc = ""

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return getattr(array_module(a, b), cls._ufunc)(a, b)

    @classmethod
    def _loses(cls, a, b):
        raise NotImplementedError

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved_tensors
        needs = ctx.needs_input_grad
        tie = a == b
        half = grad * 0.5
        ga = where(tie, half, where(cls._loses(a, b), 0.0, grad)) if needs[0] else None
        gb = where(tie, half, where(cls._loses(b, a), 0.0, grad)) if needs[1] else None
        return ga, gb


@register("maximum", lambda lib, a, b: lib.maximum(a, b), (*BINARY, S((0, 3), (3,))))
class Maximum(_Extremum):
    _ufunc = "maximum"

    @classmethod
    def _loses(cls, a, b):
        return a < b


@register("minimum", lambda lib, a, b: lib.minimum(a, b), BINARY)
class Minimum(_Extremum):
    _ufunc = "minimum"

    @classmethod
    def _loses(cls, a, b):
        return a > b


def maximum(input, other):
    """Same as torch.maximum (also takes a number for other)."""
    a, b = operands(input, other, "maximum")
    return Maximum.apply(a, b)


def minimum(input, other):
    """Same as torch.minimum (also takes a number for other)."""
    a, b = operands(input, other, "minimum")
    return Minimum.apply(a, b)


@register("fmax", lambda lib, a, b: lib.fmax(a, b), BINARY)
def fmax(input, other):
    """Same as torch.fmax: the larger value, ignoring NaN; ties give input the gradient."""
    a, b = _tensors(*operands(input, other, "fmax"))
    keep_a = (a >= b) | isnan(b)
    return where(keep_a, a, b)


@register("fmin", lambda lib, a, b: lib.fmin(a, b), BINARY)
def fmin(input, other):
    """Same as torch.fmin: the smaller value, ignoring NaN; ties give input the gradient."""
    a, b = _tensors(*operands(input, other, "fmin"))
    keep_a = (a <= b) | isnan(b)
    return where(keep_a, a, b)


@register(
    "clamp_tensor",
    lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
    (S((3, 4), (3, 4), (3, 4)), S((3, 4), (4,), (3, 1)), S((2, 3), (), ())),
)
@register(
    "clamp_tensor_min",
    lambda lib, x, lo: lib.clamp(x, min=lo),
    (S((3, 4), (3, 4)), S((3, 4), (4,))),
)
@register("clamp_tensor_max", lambda lib, x, hi: x.clamp(max=hi), (S((3, 4), (1, 4)), S((), ())))
class ClampTensor(Primitive):
    """clamp with tensor bounds; the gradient masks are PyTorch's (bounds included for input)."""

    node_name = "ClampBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = array_module(x)
        ctx.save_for_backward(x, lo, hi)
        out = x if lo is None else xp.maximum(x, lo)
        return out if hi is None else xp.minimum(out, hi)

    @staticmethod
    def backward(ctx, grad):
        x, lo, hi = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if lo is not None and hi is not None:
            gx = where((x >= lo) & (x <= hi), grad, 0.0) if needs[0] else None
            glo = where((x < lo) & (lo < hi), grad, 0.0) if needs[1] else None
            ghi = where((x > hi) | (hi < lo), grad, 0.0) if needs[2] else None
            return gx, glo, ghi
        if lo is not None:
            return where(x >= lo, grad, 0.0), where(x < lo, grad, 0.0), None
        return where(x <= hi, grad, 0.0), None, where(x > hi, grad, 0.0)


def clamp_tensor(input, min, max):  # noqa: A002
    """clamp with tensor (or number) bounds, either of which may be None."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    present = [v for v in (input, min, max) if v is not None]
    dtype = result_type(*present)
    x, lo, hi = (
        cast(v, dtype) if isinstance(v, Tensor) and v._data.dtype != dtype.np else v
        for v in (input, min, max)
    )
    return ClampTensor.apply(x, lo, hi)


def clamp_min(input, min):  # noqa: A002
    """Same as torch.clamp_min."""
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """Same as torch.clamp_max."""
    return clamp(input, max=max)


@register("atan2", lambda lib, a, b: lib.atan2(a, b), BINARY, avoid=(0.0,))
class Atan2(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a, b).arctan2(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        norm = a * a + b * b
        # at (0, 0) both partial derivatives are taken as 0, as PyTorch
        scale = where(norm == 0, 0.0, grad / where(norm == 0, 1.0, norm))
        needs = ctx.needs_input_grad
        return (scale * b if needs[0] else None), (-scale * a if needs[1] else None)


def atan2(input, other):
    """Same as torch.atan2 (the angle of the point (other, input))."""
    a, b = operands(input, other, "atan2", floating=True)
    return Atan2.apply(a, b)


@register("hypot", lambda lib, a, b: lib.hypot(a, b), BINARY)
class Hypot(Primitive):
    """sqrt(a^2 + b^2) without overflow for large a or b (why it is a primitive)."""

    @staticmethod
    def forward(ctx, a, b):
        out = array_module(a, b).hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        scale = grad / out
        needs = ctx.needs_input_grad
        return (scale * a if needs[0] else None), (scale * b if needs[1] else None)


def hypot(input, other):
    """Same as torch.hypot."""
    a, b = operands(input, other, "hypot", floating=True)
    return Hypot.apply(a, b)


@register(
    "xlogy",
    lambda lib, x, y: lib.xlogy(x, y),
    (S((3, 4), (3, 4)), S((3, 4), (4,)), S((), (2, 3)), S((2, 3), ())),
    domain=(0.5, 2.0),
)
class Xlogy(Primitive):
    """x * log(y), and 0 where x == 0 (unless y is NaN); a primitive to keep PyTorch's
    conventions there: d/dx is log(y), except 0 where y <= 0 too."""

    @staticmethod
    def forward(ctx, x, y):
        xp = array_module(x, y)
        ctx.save_for_backward(x, y)
        with quiet(xp):
            return xp.where((x == 0) & ~xp.isnan(y), 0, x * xp.log(y)).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = gy = None
        if needs[0]:
            undefined = (x == 0) & (y <= 0)
            gx = where(undefined, 0.0, grad * log(where(undefined, 1.0, y)))
        if needs[1]:
            gy = grad * x / y
        return gx, gy


def xlogy(input, other):
    """Same as torch.xlogy: input * log(other), and 0 where input == 0 (unless other is NaN)."""
    x, y = _tensors(*operands(input, other, "xlogy", floating=True))
    return Xlogy.apply(x, y)


_LERP_SAMPLES = (
    S((3, 4), (3, 4), (3, 4)),
    S((3, 4), (4,), (3, 1)),
    S((), (2, 3), ()),
)


def _check_broadcast(op, *operands):
    """A composite's shape error names the composite, not the step inside it that fails."""
    tensors = [t for t in operands if isinstance(t, Tensor)]
    if len({t._data.shape for t in tensors}) > 1:
        broadcast_shape_of(tensors, op)


@register("lerp", lambda lib, a, b, w: lib.lerp(a, b, w), _LERP_SAMPLES)
@register("lerp_scalar", lambda lib, a, b: a.lerp(b, 0.3), BINARY)
def lerp(input, end, weight):
    """Same as torch.lerp: input + weight * (end - input)."""
    a, b = operands(input, end, "lerp")
    _check_broadcast("lerp", a, b, weight)
    return a + weight * (b - a)


def _same_dtype(*tensors):
    """The tensors in their result dtype, as PyTorch promotes a fused op's operands."""
    dtype = result_type(*tensors)
    return [t if t._data.dtype == dtype.np else cast(t, dtype) for t in tensors]


@register("addcmul", lambda lib, a, b, c: lib.addcmul(a, b, c, value=0.5), _LERP_SAMPLES)
class Addcmul(Primitive):
    """input + value * t1 * t2, fused as PyTorch's, with its gradient formulas (so float32
    rounding, and its higher derivatives, agree)."""

    @staticmethod
    def forward(ctx, x, t1, t2, value):
        needs = ctx.needs_input_grad
        ctx.value = value
        ctx.save_for_backward(t1 if needs[2] else None, t2 if needs[1] else None)
        return x + value * t1 * t2

    @staticmethod
    def backward(ctx, grad):
        t1, t2 = ctx.saved_tensors
        needs, value = ctx.needs_input_grad, ctx.value
        g1 = grad * t2 * value if needs[1] else None
        g2 = grad * t1 * value if needs[2] else None
        return grad, g1, g2, None


def addcmul(input, tensor1, tensor2, *, value=1):
    """Same as torch.addcmul: input + value * tensor1 * tensor2."""
    _check_broadcast("addcmul", input, tensor1, tensor2)
    if not all(isinstance(t, Tensor) for t in (input, tensor1, tensor2)):
        prod = tensor1 * tensor2
        return input + (prod if value == 1 else value * prod)
    return Addcmul.apply(*_same_dtype(input, tensor1, tensor2), value)


@register(
    "addcdiv",
    lambda lib, a, b, c: lib.addcdiv(a, b, c, value=-2),
    _LERP_SAMPLES,
    avoid=(0.0,),
)
class Addcdiv(Primitive):
    """input + value * t1 / t2, fused as PyTorch's, with its gradient formulas (t2's is
    -grad value t1 / (t2 t2), not div's -grad (t1 / t2) / t2: the rounding differs)."""

    @staticmethod
    def forward(ctx, x, t1, t2, value):
        ctx.value = value
        ctx.save_for_backward(t1 if ctx.needs_input_grad[2] else None, t2)
        return x + value * (t1 / t2)

    @staticmethod
    def backward(ctx, grad):
        t1, t2 = ctx.saved_tensors
        needs, value = ctx.needs_input_grad, ctx.value
        g1 = grad * value / t2 if needs[1] else None
        g2 = -grad * value * t1 / (t2 * t2) if needs[2] else None
        return grad, g1, g2, None


def addcdiv(input, tensor1, tensor2, *, value=1):
    """Same as torch.addcdiv: input + value * tensor1 / tensor2."""
    _check_broadcast("addcdiv", input, tensor1, tensor2)
    if not is_floating(tensor1._data.dtype) and not is_floating(tensor2._data.dtype):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future release "
            "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
            "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))."
            "to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) for "
            "float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes."
        )
    if not isinstance(input, Tensor):
        quotient = tensor1 / tensor2
        return input + (quotient if value == 1 else value * quotient)
    return Addcdiv.apply(*_same_dtype(input, tensor1, tensor2), value)


# --- NaN and infinity ---
def _classify(name, test, integer_answer):
    def fn(input):
        data = input._data
        xp = array_module(data)
        if not is_floating(data.dtype):
            return Tensor._make(getattr(xp, integer_answer)(data.shape, dtype=bool))
        return _wrap_bool(test(xp, data), data)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Same as torch.{name}: a bool tensor."
    return fn


isnan = _classify("isnan", lambda xp, x: xp.isnan(x), "zeros")
isinf = _classify("isinf", lambda xp, x: xp.isinf(x), "zeros")
isfinite = _classify("isfinite", lambda xp, x: xp.isfinite(x), "ones")
isposinf = _classify("isposinf", lambda xp, x: xp.isinf(x) & (x > 0), "zeros")
isneginf = _classify("isneginf", lambda xp, x: xp.isinf(x) & (x < 0), "zeros")


def signbit(input):
    """Same as torch.signbit: True where the sign bit is set (negative numbers, -0.0 and
    negative NaNs); a bool tensor, never differentiable."""
    data = input._data
    xp = array_module(data)
    if is_floating(data.dtype):
        return _wrap_bool(xp.signbit(data), data)
    if data.dtype.kind == "b":
        return Tensor._make(xp.zeros(data.shape, dtype=bool))
    return _wrap_bool(data < 0, data)


@register("nan_to_num", lambda lib, x: lib.nan_to_num(x, nan=1.0), (S((3, 4)), S(())))
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """Same as torch.nan_to_num: NaN and +-inf replaced; the gradient flows where finite."""
    data = input._data
    if not is_floating(data.dtype):
        return Tensor._make(data.copy())
    xp = array_module(data)
    if data.dtype.kind == "V":  # bfloat16, whose infinities NumPy's nan_to_num leaves alone
        info = xp.finfo(data.dtype)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf
        wide = data.astype("float32")
        replaced = xp.nan_to_num(wide, nan=nan, posinf=posinf, neginf=neginf).astype(data.dtype)
    else:
        replaced = xp.nan_to_num(data, nan=nan, posinf=posinf, neginf=neginf)
    if _backend.is_scalar_result(replaced):
        replaced = _backend.scalar_to_array(replaced, data.__class__)
    replaced = Tensor._make(replaced)
    return where(isfinite(input), input, replaced)


__all__ = [
    "acos",
    "acosh",
    "addcdiv",
    "addcmul",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "clamp_max",
    "clamp_min",
    "cosh",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expm1",
    "fmax",
    "fmin",
    "hypot",
    "isfinite",
    "isinf",
    "isnan",
    "isneginf",
    "isposinf",
    "lerp",
    "log10",
    "log1p",
    "log2",
    "maximum",
    "minimum",
    "nan_to_num",
    "reciprocal",
    "rsqrt",
    "signbit",
    "sinh",
    "square",
    "tan",
    "xlogy",
]
ALIASES = {
    "arcsin": asin,
    "arccos": acos,
    "arctan": atan,
    "arctan2": atan2,
    "arcsinh": asinh,
    "arccosh": acosh,
    "arctanh": atanh,
}
_INPLACE = (
    "acos acosh addcdiv addcmul asin asinh atan atan2 atanh clamp_max clamp_min cosh erf erfc "
    "erfinv exp2 expm1 hypot lerp log10 log1p log2 nan_to_num reciprocal rsqrt sinh square tan "
    "xlogy"
).split()
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    **ALIASES,
    **{f"{name}_": inplace_method(name, globals()[name]) for name in _INPLACE},
    **{f"{alias}_": inplace_method(alias, fn) for alias, fn in ALIASES.items()},
}

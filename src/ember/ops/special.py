"""Special functions: gamma-family, Bessel I0/I1, the normal distribution's CDF, and friends.

Each array function is NumPy/CuPy only (no SciPy): a recurrence or series that converges
fast where it is used, and an asymptotic expansion beyond. The ones PyTorch has at top level
(`lgamma`, `digamma`, `polygamma`, `mvlgamma`, `i0`, `sinc`) are `ember.<name>` too; the rest
live in `ember.special` only, as in PyTorch. Each elementwise primitive has its derivative
beside it; its forward-mode rule is that same derivative applied to the tangent.
"""

from __future__ import annotations

import fractions
import math
import sys

from ember import _backend
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, make_primitive, raise_not_tensor, unary
from ember.ops._table import UNARY, S, register
from ember.ops.pointwise_extra import erfc_array, erfinv_array, floating, quiet

_LOG_PI = math.log(math.pi)
_LOG_2PI = math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2 * math.pi)

# --- array functions ---

# Lanczos approximation, g = 7, nine coefficients: relative error of Gamma about 1e-15.
_LANCZOS_G = 7.0
_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)


def _lgamma_right(xp, x):
    """log Gamma(x) for x >= 0.5."""
    z = x - 1
    series = xp.full_like(z, _LANCZOS[0])
    for k, c in enumerate(_LANCZOS[1:], start=1):
        series = series + c / (z + k)
    t = z + _LANCZOS_G + 0.5
    return 0.5 * _LOG_2PI + (z + 0.5) * xp.log(t) - t + xp.log(series)


def lgamma_array(xp, x):
    """log|Gamma(x)|, with the reflection formula below 1/2 (+inf at 0, -1, -2, ...)."""
    with quiet(xp):
        right = _lgamma_right(xp, xp.where(x < 0.5, 1 - x, x))
        sine = xp.abs(xp.sin(math.pi * (x - xp.floor(x))))  # exact zeros at the integers
        left = _LOG_PI - xp.log(sine) - right
        out = xp.where(x < 0.5, left, right)
        out = xp.where((x == 1) | (x == 2), 0.0, out)  # exact, as log(1)
        return xp.where(x == xp.inf, xp.inf, out).astype(x.dtype, copy=False)


_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma_array(xp, x):
    """psi(x): recurrence up to x >= 10, then the asymptotic series; reflection below 1/2.

    As PyTorch: -inf at 0 (approached from the right), NaN at the negative integers."""
    with quiet(xp):
        reflect = x < 0.5
        z = xp.where(reflect, 1 - x, x)
        shift = xp.zeros_like(z)
        for _ in range(10):  # psi(z) = psi(z + 1) - 1/z
            small = z < 10
            shift = shift - xp.where(small, 1 / xp.where(small, z, 1), 0)
            z = xp.where(small, z + 1, z)
        inv2 = 1 / (z * z)
        tail = 0.0  # sum of B_2k / (2k z^2k), k = 1..7: truncation error below 1e-16 at z >= 10
        for coefficient in reversed(_DIGAMMA_SERIES):
            tail = inv2 * (coefficient + tail)
        psi = xp.log(z) - 0.5 / z - tail + shift
        frac = x - xp.floor(x)
        cot = xp.where(frac == 0, xp.nan, xp.cos(math.pi * frac) / xp.sin(math.pi * frac))
        left = psi - math.pi * cot
        out = xp.where(reflect, left, psi)
        out = xp.where(x == 0, -xp.inf, out)
        return out.astype(x.dtype, copy=False)


def _bernoulli_terms(count):
    """B_2j / (2j)! for j = 1..count, from the Bernoulli numbers' recurrence."""
    b = [fractions.Fraction(1)]
    for m in range(1, 2 * count + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return tuple(float(b[2 * j] / math.factorial(2 * j)) for j in range(1, count + 1))


_EULER_MACLAURIN = _bernoulli_terms(12)


def zeta_array(xp, s, q):
    """Hurwitz zeta(s, q) = sum over k >= 0 of (q + k)^-s, for s > 1, by Euler-Maclaurin:
    direct terms until q + n > 9, then the integral, the half term and twelve corrections."""
    with quiet(xp):
        s, q = xp.broadcast_arrays(s, q)  # also what compile's zeta replay test exercises
        total = xp.zeros(s.shape, dtype=s.dtype)
        a = q.copy()
        for _ in range(9):
            total = total + a**-s
            a = a + 1
        far = a <= 9  # q was negative: keep summing, at most 10**4 more terms
        for _ in range(10**4):
            if not far.any():
                break
            total = total + xp.where(far, a**-s, 0)
            a = xp.where(far, a + 1, a)
            far = a <= 9
        total = total + a ** (1 - s) / (s - 1) + 0.5 * a**-s
        rising = s.copy()  # s (s+1) ... (s + 2j - 2)
        power = a ** (-s - 1)
        for j, coefficient in enumerate(_EULER_MACLAURIN, start=1):
            total = total + coefficient * rising * power
            rising = rising * (s + 2 * j - 1) * (s + 2 * j)
            power = power / (a * a)
        bad = (s <= 1) | ((q <= 0) & (q == xp.floor(q))) | far
        total = xp.where(s == 1, xp.inf, xp.where(bad, xp.nan, total))
        return xp.where((q <= 0) & (q == xp.floor(q)) & (s > 1), xp.inf, total)


def polygamma_array(xp, n, x):
    """The n-th derivative of digamma: (-1)^(n+1) n! zeta(n + 1, x) for n >= 1."""
    if n == 0:
        return digamma_array(xp, x)
    sign = -1.0 if n % 2 == 0 else 1.0
    out = sign * math.factorial(n) * zeta_array(xp, xp.full_like(x, n + 1.0), x)
    return out.astype(x.dtype, copy=False)


def _bessel_series(xp, ax, order):
    """I_order(|x|) for |x| <= 30 from its power series (all terms positive; 64 are plenty)."""
    half = ax / 2
    term = xp.ones_like(ax) if order == 0 else half
    total = term
    quarter = half * half
    for k in range(1, 64):
        term = term * quarter / (k * (k + order))
        total = total + term
    return total


def _bessel_scaled_asymptotic(xp, ax, order):
    """exp(-|x|) I_order(|x|) for |x| > 30: Hankel's expansion, twenty terms."""
    mu = 4.0 * order * order
    term = xp.ones_like(ax)
    total = term
    for k in range(1, 21):
        term = -term * (mu - (2 * k - 1) ** 2) / (k * 8 * ax)
        total = total + term
    return total / xp.sqrt(2 * math.pi * ax)


def bessel_i_array(xp, x, order, scaled):
    """I0 / I1 (scaled: times exp(-|x|)) of x; I1 is odd, I0 even."""
    with quiet(xp):
        ax = xp.abs(x)
        near = ax <= 30
        safe_near, safe_far = xp.where(near, ax, 0), xp.where(near, 31, ax)
        series = _bessel_series(xp, safe_near, order)
        series = series * xp.exp(-safe_near) if scaled else series
        far = _bessel_scaled_asymptotic(xp, safe_far, order)
        far = far if scaled else far * xp.exp(safe_far)
        out = xp.where(near, series, far)
        if order == 1:
            out = xp.where(x < 0, -out, out)
        return out.astype(x.dtype, copy=False)


def log_ndtr_array(xp, x):
    """log of the normal CDF: log1p near the top, erfc in between, the asymptotic series of
    log(erfc) far in the lower tail (where erfc underflows)."""
    with quiet(xp):
        upper = xp.log1p(-0.5 * erfc_array(xp, xp.maximum(x, 0) / _SQRT2))
        middle = xp.log(0.5 * erfc_array(xp, -xp.minimum(x, 0) / _SQRT2))
        t = xp.where(x < -20, x, -20.0)
        inv2 = 1 / (t * t)
        term, correction = xp.ones_like(t), xp.ones_like(t)
        for k in range(1, 12):  # 1 - 1/x^2 + 3/x^4 - 15/x^6 + ...
            term = -term * (2 * k - 1) * inv2
            correction = correction + term
        far = -0.5 * t * t - xp.log(-t) - 0.5 * _LOG_2PI + xp.log(correction)
        return xp.where(x > 0, upper, xp.where(x < -20, far, middle))


def ndtri_array(xp, p):
    """The normal quantile: an erfinv guess, then Newton steps on log_ndtr (exact in the tails,
    where 2p - 1 has no digits left); symmetric about p = 1/2."""
    with quiet(xp):
        lower = xp.minimum(p, 1 - p)
        guess = _SQRT2 * erfinv_array(xp, 2 * lower - 1)
        x = xp.where(xp.isfinite(guess), guess, -xp.sqrt(-2 * xp.log(lower)))
        x = xp.where(lower > 0, x, -1.0)
        log_p = xp.log(xp.where(lower > 0, lower, 1.0))
        for _ in range(5):
            log_cdf = log_ndtr_array(xp, x)
            ratio = xp.exp(-0.5 * x * x - log_cdf - 0.5 * _LOG_2PI)  # pdf / cdf
            x = x - (log_cdf - log_p) / ratio
        x = xp.where(lower == 0, -xp.inf, x)
        out = xp.where(p > 0.5, -x, x)
        return xp.where((p < 0) | (p > 1) | xp.isnan(p), xp.nan, out).astype(p.dtype, copy=False)


def erfcx_array(xp, x):
    """exp(x^2) erfc(x): directly up to 25, then the asymptotic series; 2 exp(x^2) - erfcx(-x)
    below 0 (overflowing to inf there, as PyTorch)."""
    with quiet(xp):
        ax = xp.abs(x)
        direct = xp.exp(xp.minimum(ax, 25) ** 2) * erfc_array(xp, xp.minimum(ax, 25))
        t = xp.maximum(ax, 25)
        inv = 1 / (2 * t * t)
        term, series = xp.ones_like(t), xp.ones_like(t)
        for k in range(1, 12):
            term = -term * (2 * k - 1) * inv
            series = series + term
        far = series / (t * math.sqrt(math.pi))
        positive = xp.where(ax <= 25, direct, far)
        return xp.where(x < 0, 2 * xp.exp(x * x) - positive, positive)


def entr_array(xp, x):
    """-x log x, 0 at 0, -inf below 0."""
    with quiet(xp):
        out = -x * xp.log(xp.where(x > 0, x, 1))
        out = xp.where(x < 0, -xp.inf, out)
        return xp.where(xp.isnan(x), xp.nan, out)


def sinc_array(xp, x):
    """sin(pi x) / (pi x), 1 at 0."""
    with quiet(xp):
        px = math.pi * xp.where(x == 0, 1, x)
        return xp.where(x == 0, 1.0, xp.sin(px) / px).astype(x.dtype, copy=False)


# --- primitives ---


def _elementwise(name, forward, derivative, *, call, **spec):
    """A one-input elementwise primitive (see `unary`) whose op-table row calls it as
    `call(lib, x)`; the input is made floating first, as PyTorch's special functions do with
    integers."""
    return unary(name, forward, derivative, call=call, prepare=lambda t: floating(t, name), **spec)


def _top(name):
    return lambda lib, x: getattr(lib, name)(x)


def _in_special(name):
    return lambda lib, x: getattr(lib.special, name)(x)


def _polygamma_derivative(n):
    return lambda x, _out, grad: grad * polygamma(n + 1, x)


lgamma = _elementwise(
    "lgamma",
    lgamma_array,
    lambda x, _out, grad: grad * digamma(x),
    call=_top("lgamma"),
    avoid=(0.0, -1.0, -2.0),
)
digamma = _elementwise(
    "digamma",
    digamma_array,
    lambda x, _out, grad: grad * polygamma(1, x),
    call=_top("digamma"),
    domain=(0.2, 4.0),
)
_polygamma_ops = {}


def polygamma(n, input):
    """Same as torch.polygamma: the n-th derivative of digamma (n >= 0)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n (got n={n!r})")
    if not isinstance(input, Tensor):
        raise_not_tensor("polygamma", "input", 2, input)
    if n == 0:
        return digamma(input)
    op = _polygamma_ops.get(n)
    if op is None:
        op = _polygamma_ops.setdefault(n, _polygamma_primitive(n))
    return op.apply(floating(input, "polygamma"))


def _polygamma_primitive(n):
    class Op(Primitive):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return polygamma_array(_backend.array_module(x), n, x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * polygamma(n + 1, x)

    Op.__module__ = __name__
    Op.elementwise_derivative = staticmethod(_polygamma_derivative(n))
    Op._table_name = "polygamma"  # the table's polygamma row runs these, one class per n
    return make_primitive(Op, "polygamma")


register(
    "polygamma",
    lambda lib, x, n=1: lib.polygamma(n, x),
    (S((3, 4), n=1), S((5,), n=2), S((), n=3)),
    domain=(0.3, 3.0),
)(polygamma)


@register(
    "mvlgamma",
    lambda lib, x, p=2: lib.mvlgamma(x, p),
    (S((3,), p=1), S((2, 3), p=3)),
    domain=(1.2, 3.0),
)
def mvlgamma(input, p):
    """Same as torch.mvlgamma: the multivariate log-gamma of dimension p."""
    if not isinstance(p, int) or p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got p={p!r}")
    x = floating(input, "mvlgamma")
    if bool((x <= (p - 1) / 2).any()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2, with p={p}")
    offsets = x.new_tensor([-j / 2 for j in range(p)])
    return lgamma(x.unsqueeze(-1) + offsets).sum(-1) + p * (p - 1) / 4 * _LOG_PI


i0 = _elementwise(
    "i0",
    lambda xp, x: bessel_i_array(xp, x, 0, False),
    lambda x, _out, grad: grad * i1(x),
    call=_top("i0"),
)
i0e = _elementwise(
    "i0e",
    lambda xp, x: bessel_i_array(xp, x, 0, True),
    lambda x, out, grad: grad * (i1e(x) - x.sign() * out),
    call=_in_special("i0e"),
)
i1 = _elementwise(
    "i1",
    lambda xp, x: bessel_i_array(xp, x, 1, False),
    lambda x, out, grad: grad * (i0(x) - out / x),
    call=_in_special("i1"),
    avoid=(0.0,),
)
i1e = _elementwise(
    "i1e",
    lambda xp, x: bessel_i_array(xp, x, 1, True),
    lambda x, out, grad: grad * (i0e(x) - out * (x.sign() + 1 / x)),
    call=_in_special("i1e"),
    avoid=(0.0,),
)


@register("ndtr", _in_special("ndtr"), UNARY)
def ndtr(input):
    """Same as torch.special.ndtr: the standard normal CDF, 0.5 erfc(-x / sqrt 2).

    A composite, as PyTorch's: erfc keeps its own (new) argument, so changing `input` in
    place later does not touch this backward. erfc is accurate in the lower tail."""
    from ember.ops.pointwise_extra import erfc

    if not isinstance(input, Tensor):
        raise_not_tensor("ndtr", "input", 1, input)
    return 0.5 * erfc(floating(input, "ndtr") * (-1 / _SQRT2))


log_ndtr = _elementwise(
    "log_ndtr",
    log_ndtr_array,
    lambda x, out, grad: grad * ((-0.5 * x * x - out).exp() / _SQRT_2PI),
    call=_in_special("log_ndtr"),
    domain=(-6.0, 3.0),
)
ndtri = _elementwise(
    "ndtri",
    ndtri_array,
    lambda _x, out, grad: grad * (_SQRT_2PI * (0.5 * out * out).exp()),
    call=_in_special("ndtri"),
    domain=(0.05, 0.95),
)
erfcx = _elementwise(
    "erfcx",
    erfcx_array,
    lambda x, out, grad: grad * (2 * x * out - 2 / math.sqrt(math.pi)),
    call=_in_special("erfcx"),
)
entr = _elementwise(
    "entr",
    entr_array,
    lambda x, _out, grad: grad * -(x.log() + 1),
    call=_in_special("entr"),
    domain=(0.1, 3.0),
)
sinc = _elementwise(
    "sinc",
    sinc_array,
    # from x alone, as PyTorch: the output stays free to change in place
    lambda x, _out, grad: (
        grad * ((x == 0).logical_not() * ((math.pi * x).cos() - sinc(x)) / (x + (x == 0)))
    ),
    call=_top("sinc"),
    avoid=(0.0,),
)


@register(
    "xlog1py",
    lambda lib, x, y: lib.special.xlog1py(x, y),
    (S((3, 4), (3, 4)), S((3, 1), (4,))),
    domain=(-0.5, 2.0),
)
def xlog1py(input, other):
    """Same as torch.special.xlog1py: input * log1p(other), and 0 where input == 0."""
    from ember.ops.pointwise import where

    x = floating(input, "xlog1py") if isinstance(input, Tensor) else input
    y = floating(other, "xlog1py") if isinstance(other, Tensor) else other
    product = x * y.log1p() if isinstance(y, Tensor) else x * math.log1p(y)
    zero = x == 0
    if isinstance(y, Tensor):
        zero = zero & ~y.isnan()
    return where(zero, 0.0, product)


class _Zeta(Primitive):
    @staticmethod
    def forward(ctx, x, q):
        x_number, q_number = isinstance(x, float), isinstance(q, float)
        ctx.save_for_backward(None if x_number else x, None if q_number else q)
        ctx.x_number = x if x_number else None
        like = x if q_number else q
        xp = _backend.array_module(like)
        return zeta_array(xp, xp.asarray(x, like.dtype), xp.asarray(q, like.dtype))

    @staticmethod
    def backward(ctx, grad):
        if ctx.needs_input_grad[0]:
            raise RuntimeError(
                "the derivative of zeta(x, q) with respect to x is not implemented (as in "
                "PyTorch): detach() x, or pass it as a number"
            )
        x, q = ctx.saved_tensors
        x = ctx.x_number if x is None else x
        return None, grad * -x * zeta(x + 1, q)


@register(
    "zeta",
    lambda lib, q, x=2.0: lib.special.zeta(x, q),
    (S((3,), x=2.5), S((2, 3), x=3.0)),
    domain=(0.5, 4.0),
)
def zeta(input, other):
    """Same as torch.special.zeta: Hurwitz's zeta(x, q), differentiable in q (as PyTorch).
    Either argument may be a number."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("zeta(): expected at least one of input and other to be a Tensor")
    x = floating(input, "zeta") if isinstance(input, Tensor) else float(input)
    q = floating(other, "zeta") if isinstance(other, Tensor) else float(other)
    return _Zeta.apply(x, q)


make_primitive(_Zeta, "zeta")
_Zeta._table_name = "zeta"  # the table's zeta row calls it through the zeta function

__all__ = ["digamma", "i0", "lgamma", "mvlgamma", "polygamma", "sinc"]
SPECIAL = {
    "entr": entr,
    "erfcx": erfcx,
    "i0e": i0e,
    "i1": i1,
    "i1e": i1e,
    "log_ndtr": log_ndtr,
    "ndtr": ndtr,
    "ndtri": ndtri,
    "xlog1py": xlog1py,
    "zeta": zeta,
}


def _polygamma_method(self, n):
    """Same as torch.Tensor.polygamma."""
    return polygamma(n, self)


TENSOR_METHODS = {name: getattr(sys.modules[__name__], name) for name in __all__}
TENSOR_METHODS["polygamma"] = _polygamma_method

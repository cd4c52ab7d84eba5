"""Activation functions with torch.nn.functional's signatures (re-exported by ember.nn.functional).

Those PyTorch also has at top level (torch.selu, torch.celu, torch.logit, ...) are exported as
ember.<name>; the rest are reached through ember.nn.functional (the FUNCTIONAL list below).
Softplus and logsigmoid are Primitives for numerical stability, logit for PyTorch's gradient at
its edges, gelu and the ELU family for speed (one node, one pass).
"""

from __future__ import annotations

import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._select import select
from ember.ops._table import UNARY, S, register
from ember.ops.inplace import apply_inplace
from ember.ops.pointwise import clamp, tanh, where
from ember.ops.pointwise_extra import erf, erf_array, floating, inplace_method, quiet

_SQRT1_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _functional(lib, name):
    """torch.nn.functional.<name> for torch; for ember, nn.functional's or else this module's."""
    namespace = getattr(getattr(lib, "nn", None), "functional", None)
    fn = getattr(namespace, name, None)
    return fn if fn is not None else globals()[name]


def _check_float(input, op):
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if not is_floating(input._data.dtype):
        raise NotImplementedError(
            f"\"{op}_cpu\" not implemented for '{input.dtype.name.capitalize()}'"
        )


def _maybe_inplace(input, inplace, fn, name):
    if inplace:
        return apply_inplace(input, fn, (), f"{name}_")
    return fn(input)


# --- primitives ---
@register(
    "softplus",
    lambda lib, x, **kw: _functional(lib, "softplus")(x, **kw),
    (*UNARY, S((3, 4), beta=2.0, threshold=1.0), S((3, 4), beta=0.5)),
    avoid=(0.5,),  # the switch to the identity at x * beta = threshold for the second sample
)
class Softplus(Primitive):
    """log(1 + exp(beta x)) / beta, and x itself past the threshold; never overflows."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        scaled = x * beta
        soft = xp.log1p(xp.exp(xp.minimum(scaled, threshold))) / beta
        return select(scaled > threshold, x, soft)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        scaled = x * ctx.beta
        return where(scaled > ctx.threshold, grad, grad * stable_sigmoid(scaled)), None, None


def softplus(input, beta=1.0, threshold=20.0):
    """Same as torch.nn.functional.softplus."""
    _check_float(input, "softplus")
    return Softplus.apply(input, beta, threshold)


@register("logsigmoid", lambda lib, x: _functional(lib, "logsigmoid")(x), UNARY)
class Logsigmoid(Primitive):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): finite for any x."""

    node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.save_for_backward(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * stable_sigmoid(-x)


def stable_sigmoid(x):
    """sigmoid as exp(logsigmoid(x)): keeps every digit of tiny values for very negative x."""
    return Logsigmoid.apply(x).exp()


def logsigmoid(input):
    """Same as torch.nn.functional.logsigmoid."""
    _check_float(input, "log_sigmoid_forward")
    return Logsigmoid.apply(input)


@register(
    "gelu",
    lambda lib, x, **kw: _functional(lib, "gelu")(x, **kw),
    (*UNARY, S((3, 4), approximate="tanh"), S((), approximate="tanh")),
    domain=(-3.0, 3.0),
)
class Gelu(Primitive):
    """x * Phi(x) (the normal CDF), or its tanh approximation."""

    @staticmethod
    def forward(ctx, x, approximate):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
            return 0.5 * x * (1 + xp.tanh(inner))
        return 0.5 * x * (1 + erf_array(xp, x * _SQRT1_2))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            t = tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x))
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner), None
        cdf = 0.5 * (1 + erf(x * _SQRT1_2))
        pdf = (-0.5 * x * x).exp() * _INV_SQRT_2PI
        return grad * (cdf + x * pdf), None


def gelu(input, approximate="none"):
    """Same as torch.nn.functional.gelu (approximate 'none' or 'tanh')."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    _check_float(input, "GeluKernelImpl")
    return Gelu.apply(input, approximate)


@register(
    "leaky_relu",
    lambda lib, x, **kw: _functional(lib, "leaky_relu")(x, **kw),
    (*UNARY, S((3, 4), negative_slope=0.2)),
    avoid=(0.0,),
)
class LeakyRelu(Primitive):
    # the slope at 0 is negative_slope (x > 0 is strict), as PyTorch
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return select(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return where(x > 0, grad, grad * ctx.negative_slope), None


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """Same as torch.nn.functional.leaky_relu."""
    _check_float(input, "leaky_relu")
    return _maybe_inplace(
        input, inplace, lambda x: LeakyRelu.apply(x, negative_slope), "leaky_relu"
    )


@register(
    "elu",
    lambda lib, x, **kw: _functional(lib, "elu")(x, **kw),
    (*UNARY, S((3, 4), alpha=0.5)),
    avoid=(0.0,),
)
class Elu(Primitive):
    """scale * x for x > 0, else scale * alpha * (exp(input_scale * x) - 1): elu, celu, selu."""

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.params = alpha, scale, input_scale
        with quiet(xp):
            negative = xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale)
        return select(x > 0, x * scale, negative)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha, scale, input_scale = ctx.params
        # clamp keeps exp finite on the branch `where` drops (its gradient there is zero)
        slope = (clamp(x, max=0.0) * input_scale).exp() * (input_scale * scale * alpha)
        return where(x > 0, grad * scale, grad * slope), None, None, None


def elu(input, alpha=1.0, inplace=False):
    """Same as torch.nn.functional.elu."""
    _check_float(input, "elu")
    return _maybe_inplace(input, inplace, lambda x: Elu.apply(x, alpha, 1.0, 1.0), "elu")


@register("selu", lambda lib, x: lib.selu(x), UNARY, avoid=(0.0,))
def selu(input, inplace=False):
    """Same as torch.nn.functional.selu."""
    _check_float(input, "elu")
    return _maybe_inplace(
        input, inplace, lambda x: Elu.apply(x, SELU_ALPHA, SELU_SCALE, 1.0), "selu"
    )


@register("celu", lambda lib, x, **kw: lib.celu(x, **kw), (*UNARY, S((3, 4), alpha=0.5)))
def celu(input, alpha=1.0, inplace=False):
    """Same as torch.nn.functional.celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    _check_float(input, "elu")
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _maybe_inplace(input, inplace, lambda x: Elu.apply(x, alpha, 1.0, 1.0 / alpha), "celu")


@register(
    "logit",
    lambda lib, x, **kw: lib.logit(x, **kw),
    (*UNARY, S((3, 4), eps=0.2)),
    domain=(0.05, 0.95),
    avoid=(0.2, 0.8),
)
class Logit(Primitive):
    """log(p / (1 - p)); a primitive to keep PyTorch's gradient at and beyond 0 and 1."""

    @staticmethod
    def forward(ctx, x, eps):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.eps = eps
        p = x if eps is None else xp.clip(x, eps, 1 - eps)
        with quiet(xp):
            return xp.log(p / (1 - p))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        eps = ctx.eps
        slope = grad / (x * (1 - x))
        if eps is None:  # NaN outside [0, 1], as PyTorch
            return where((x < 0) | (x > 1), math.nan, slope), None
        return where((x < eps) | (x > 1 - eps), 0.0, slope), None


def logit(input, eps=None):
    """Same as torch.logit: log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given."""
    return Logit.apply(floating(input, "logit"), eps)


# --- composites ---
@register("silu", lambda lib, x: _functional(lib, "silu")(x), UNARY)
def silu(input, inplace=False):
    """Same as torch.nn.functional.silu: x * sigmoid(x)."""
    _check_float(input, "silu")
    return _maybe_inplace(input, inplace, lambda x: x * stable_sigmoid(x), "silu")


@register("mish", lambda lib, x: _functional(lib, "mish")(x), UNARY)
def mish(input, inplace=False):
    """Same as torch.nn.functional.mish: x * tanh(softplus(x))."""
    _check_float(input, "mish")
    return _maybe_inplace(input, inplace, lambda x: x * tanh(Softplus.apply(x, 1.0, 20.0)), "mish")


@register(
    "hardtanh",
    lambda lib, x, **kw: _functional(lib, "hardtanh")(x, **kw),
    (*UNARY, S((3, 4), min_val=-0.5, max_val=1.5)),
    avoid=(-1.0, 1.0, -0.5, 1.5),
)
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Same as torch.nn.functional.hardtanh: clamp to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, inplace, lambda x: _clamp_open(x, min_val, max_val), "hardtanh")


def _clamp_open(x, lo, hi):
    """clamp whose gradient passes only strictly inside (lo, hi), as PyTorch's hardtanh."""
    return where((x > lo) & (x < hi), x, clamp(x, lo, hi).detach())


@register(
    "relu6",
    lambda lib, x: _functional(lib, "relu6")(x),
    UNARY,
    domain=(-2.0, 8.0),
    avoid=(0.0, 6.0),
)
def relu6(input, inplace=False):
    """Same as torch.nn.functional.relu6: clamp to [0, 6]."""
    return hardtanh(input, 0.0, 6.0, inplace)


@register(
    "hardsigmoid",
    lambda lib, x: _functional(lib, "hardsigmoid")(x),
    UNARY,
    domain=(-4.0, 4.0),
    avoid=(-3.0, 3.0),
)
def hardsigmoid(input, inplace=False):
    """Same as torch.nn.functional.hardsigmoid: relu6(x + 3) / 6."""
    _check_float(input, "hardsigmoid")
    return _maybe_inplace(input, inplace, lambda x: _clamp_open(x + 3, 0.0, 6.0) / 6, "hardsigmoid")


@register(
    "hardswish",
    lambda lib, x: _functional(lib, "hardswish")(x),
    UNARY,
    domain=(-4.0, 4.0),
    avoid=(-3.0, 3.0),
)
def hardswish(input, inplace=False):
    """Same as torch.nn.functional.hardswish: x * relu6(x + 3) / 6."""
    _check_float(input, "hardswish")
    # x * hardsigmoid(x): slope 0 at -3 and 1 at 3, PyTorch's convention at the kinks
    return _maybe_inplace(
        input, inplace, lambda x: x * (_clamp_open(x + 3, 0.0, 6.0) / 6), "hardswish"
    )


@register("softsign", lambda lib, x: _functional(lib, "softsign")(x), UNARY, avoid=(0.0,))
def softsign(input):
    """Same as torch.nn.functional.softsign: x / (1 + |x|)."""
    return input / (input.abs() + 1)


# --- in-place spellings of nn.functional (F.elu_, ...) and torch (torch.selu_, ...) ---
def _functional_inplace(name, fn):
    def inplace(input, *args, **kwargs):
        return fn(input, *args, inplace=True, **kwargs)

    inplace.__name__ = inplace.__qualname__ = f"{name}_"
    inplace.__doc__ = f"Same as torch.nn.functional.{name}_: {name} in place."
    return inplace


elu_ = _functional_inplace("elu", elu)
selu_ = _functional_inplace("selu", selu)
celu_ = _functional_inplace("celu", celu)
leaky_relu_ = _functional_inplace("leaky_relu", leaky_relu)
hardtanh_ = _functional_inplace("hardtanh", hardtanh)

__all__ = ["celu", "celu_", "logit", "selu", "selu_"]
# nn.functional's share of this module (ember.nn.functional re-exports these names)
FUNCTIONAL = (
    "celu celu_ elu elu_ gelu hardsigmoid hardswish hardtanh hardtanh_ leaky_relu leaky_relu_ "
    "logsigmoid mish relu6 selu selu_ silu softplus softsign"
).split()
TENSOR_METHODS = {"logit": logit, "logit_": inplace_method("logit", logit)}

"""Elementwise math: arithmetic with PyTorch's type promotion, and one-input functions."""

from __future__ import annotations

import math

from ember import _backend
from ember._dtype import get_default_dtype, is_floating, result_type
from ember._tensor import Tensor
from ember.autograd.graph import FREED_MESSAGE
from ember.ops._primitive import Primitive, unary
from ember.ops._select import select
from ember.ops._table import BINARY, UNARY, S, register
from ember.ops.convert import cast

_NUMBER = (int, float, bool)


def operands(a, b, op, floating=False):
    """Promote two operands as PyTorch does: Tensors are cast, Python numbers pass through.

    With `floating`, an integer result becomes the default float (true division).
    """
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        dtype, other = a._data.dtype, b._data.dtype
        # kind "V" is bfloat16's (the only such ember dtype): cheaper than is_floating here
        if (dtype is other or dtype == other) and (not floating or dtype.kind in "fV"):
            return a, b
    elif ta or tb:
        tensor, number = (a, b) if ta else (b, a)
        kind = tensor._data.dtype.kind
        number_type = number.__class__
        # NumPy keeps the tensor's dtype for these, as PyTorch does
        if number_type is float:
            if kind in "fV":
                return a, b
        elif number_type is int:
            if kind in "fV" or (kind in "iu" and not floating):
                return a, b
        elif _backend.is_scalar_result(number):
            return operands(a if ta else number.item(), number.item() if ta else b, op, floating)
        elif number_type is not bool:
            raise TypeError(
                f"{op}(): expected a Tensor or a number as other operand, got "
                f"{number_type.__name__}"
            )
    else:
        raise TypeError(f"{op}(): expected at least one Tensor argument")
    d = result_type(a, b)
    if floating and not d.is_floating_point:
        d = get_default_dtype()
    if ta and a._data.dtype != d.np:
        a = cast(a, d)
    if tb and b._data.dtype != d.np:
        b = cast(b, d)
    if not ta and d.category == 0:
        a = bool(a)
    if not tb and d.category == 0:
        b = bool(b)
    return a, b


# --- arithmetic ---
@register("add", lambda lib, a, b: a + b, BINARY)
class Add(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # the engine sums each back to its input's shape


@register("sub", lambda lib, a, b: a - b, BINARY)
class Sub(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register("mul", lambda lib, a, b: a * b, BINARY)
class Mul(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        if b.__class__ in _NUMBER:  # scaling by a number: nothing to save but the number
            ctx.scalar = b
            ctx._saved = ()  # PyTorch saves it: a second backward through this node raises
        elif a.__class__ in _NUMBER:
            ctx.scalar = a
            ctx._saved = ()
        else:  # each operand only if the other needs its gradient, as PyTorch
            needs = ctx.needs_input_grad
            ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        try:
            if ctx._freed:  # the saved number is gone with the graph, as PyTorch's
                raise RuntimeError(FREED_MESSAGE)
            scaled = grad * ctx.scalar
            return (scaled, None) if needs[0] else (None, scaled)
        except AttributeError:  # two tensors: no scalar
            pass
        a, b = ctx.saved_tensors
        return (grad * b if needs[0] else None), (grad * a if needs[1] else None)


@register("div", lambda lib, a, b: a / b, BINARY, avoid=(0.0,))
class Div(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        # saves inputs only (as PyTorch), so changing the result in place stays legal
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad / b if ctx.needs_input_grad[0] else None
        # PyTorch's order of operations, so float32 rounding (and its derivatives) agree
        gb = -grad * (a / b / b) if ctx.needs_input_grad[1] else None
        return ga, gb


@register(
    "pow",
    lambda lib, a, b: a**b,
    (S((3, 4), (3, 4)), S((3, 4), (4,)), S((), (2, 3))),
    domain=(0.5, 2.0),
)
@register("pow_scalar", lambda lib, a: a**3, UNARY)
@register("pow_square", lambda lib, a: a.pow(2), UNARY)
@register("rpow_scalar", lambda lib, a: 2.5**a, UNARY)
class Pow(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        # the output is saved only for the exponent's gradient, as PyTorch
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, Tensor):
                ga = where(b == 0, 0.0, grad * b * a ** (b - 1))
            elif b == 0:
                ga = grad * 0
            elif b == 2:
                ga = grad * (a * 2.0)
            else:
                ga = grad * (b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            if isinstance(a, Tensor):  # d(a**b)/db = a**b * log(a), taken as 0 where a == 0
                gb = where((a == 0) & (b >= 0), 0.0, grad * out * a.log())
            elif a == 0:  # 0 ** b: flat for b >= 0, -inf for b < 0 (PyTorch's convention)
                gb = where(b >= 0, 0.0, grad * -math.inf)
            else:
                gb = grad * out * (math.log(a) if a > 0 else math.nan)
        return ga, gb


def add(input, other, *, alpha=1):
    """Same as torch.add: input + alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    a, b = operands(input, other, "add")
    return Add.apply(a, b)


def sub(input, other, *, alpha=1):
    """Same as torch.sub: input - alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    a, b = operands(input, other, "sub")
    return Sub.apply(a, b)


def _is_bool(x):
    return x.__class__ is bool or (isinstance(x, Tensor) and x._data.dtype.kind == "b")


def rsub(input, other, *, alpha=1):
    """Same as torch.rsub: other - alpha * input."""
    return sub(other, input, alpha=alpha)


def mul(input, other):
    """Same as torch.mul."""
    a, b = operands(input, other, "mul")
    return Mul.apply(a, b)


def div(input, other, *, rounding_mode=None):
    """Same as torch.div (true division; rounding_mode 'trunc' or 'floor' gives no gradient)."""
    if rounding_mode is not None:
        from ember.ops.rounding import rounded_div

        return rounded_div(input, other, rounding_mode)
    a, b = operands(input, other, "div", floating=True)
    return Div.apply(a, b)


def pow(input, exponent):  # noqa: A001
    """Same as torch.pow (tensor or number base and exponent)."""
    a, b = operands(input, exponent, "pow")
    return Pow.apply(a, b)


# --- one-input functions: forward on arrays, derivative in ember ops ---
_neg = unary("neg", lambda xp, x: -x, lambda _x, _out, grad: -grad, float_safe=True)


def neg(input):
    """Same as torch.neg."""
    if input._data.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _neg(input)


exp = unary("exp", lambda xp, x: xp.exp(x), lambda _x, out, grad: grad * out)
log = unary("log", lambda xp, x: xp.log(x), lambda x, _out, grad: grad / x, domain=(0.5, 3.0))
sqrt = unary(
    "sqrt", lambda xp, x: xp.sqrt(x), lambda _x, out, grad: grad / (2 * out), domain=(0.5, 3.0)
)
sin = unary("sin", lambda xp, x: xp.sin(x), lambda x, _out, grad: grad * x.cos())
cos = unary("cos", lambda xp, x: xp.cos(x), lambda x, _out, grad: grad * -x.sin())


# --- fused backward kernels: one node instead of three for the hottest activations ---
def _grad_of(name):
    return lambda lib, x, g: lib.autograd.grad(getattr(lib, name)(x), x, g, create_graph=True)[0]


@register("tanh_grad", _grad_of("tanh"), (S((3, 4), (3, 4)),))
class TanhGrad(Primitive):
    """grad * (1 - out**2), tanh's backward as one node (fused for the per-op benchmark)."""

    @staticmethod
    def forward(ctx, out, grad):
        # grad is read only by out's gradient: keep it just for that, as PyTorch
        ctx.save_for_backward(out, grad if ctx.needs_input_grad[0] else None)
        return grad * (1 - out * out)

    @staticmethod
    def backward(ctx, gg):
        out, grad = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g_out = gg * grad * out * -2.0 if needs[0] else None
        return g_out, (TanhGrad.apply(out, gg) if needs[1] else None)


@register("sigmoid_grad", _grad_of("sigmoid"), (S((3, 4), (3, 4)),))
class SigmoidGrad(Primitive):
    """grad * out * (1 - out), sigmoid's backward as one node."""

    @staticmethod
    def forward(ctx, out, grad):
        # grad is read only by out's gradient: keep it just for that, as PyTorch
        ctx.save_for_backward(out, grad if ctx.needs_input_grad[0] else None)
        return grad * out * (1 - out)

    @staticmethod
    def backward(ctx, gg):
        out, grad = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g_out = gg * grad * (1 - 2.0 * out) if needs[0] else None
        return g_out, (SigmoidGrad.apply(out, gg) if needs[1] else None)


@register("relu_grad", _grad_of("relu"), (S((3, 4), (3, 4)),), avoid=(0.0,))
class ReluGrad(Primitive):
    """grad where out > 0, else 0: relu's backward as one node (its own gradient in out is 0).
    Selected, not multiplied by the mask: a NaN gradient stops at a dead unit, as PyTorch's."""

    float_safe = True

    @staticmethod
    def forward(ctx, out, grad):
        ctx.save_for_backward(out)
        return select(out > 0, grad, 0)

    @staticmethod
    def backward(ctx, gg):
        (out,) = ctx.saved_tensors
        return None, (ReluGrad.apply(out, gg) if ctx.needs_input_grad[1] else None)


tanh = unary(
    "tanh",
    lambda xp, x: xp.tanh(x),
    lambda _x, out, grad: TanhGrad.apply(out, grad),
    float_safe=True,  # tanh is bounded: it never overflows
)


def _sigmoid(xp, x):
    # 1 / (1 + exp(-x)) keeps full relative precision for very negative x; where exp(-x)
    # overflows to inf the result is 0, which is what sigmoid rounds to there anyway
    return 1 / (1 + xp.exp(-x))


sigmoid = unary(
    "sigmoid",
    _sigmoid,
    lambda _x, out, grad: SigmoidGrad.apply(out, grad),
)
# relu'(0) = 0, as PyTorch; samples keep away from the kink
relu = unary(
    "relu",
    lambda xp, x: xp.maximum(x, 0),
    lambda _x, out, grad: ReluGrad.apply(out, grad),
    avoid=(0.0,),
    float_safe=True,
)
# |x|' = sign(x), 0 at 0 as PyTorch
abs = unary(  # noqa: A001
    "abs",
    lambda xp, x: xp.abs(x),
    lambda x, _out, grad: grad * x.sign(),
    avoid=(0.0,),
    float_safe=True,
)
sign = unary(
    "sign",
    lambda xp, x: xp.sign(x),
    lambda _x, _out, grad: grad.new_zeros(grad.shape),
    avoid=(0.0,),
    float_safe=True,
)


@register(
    "clamp",
    lambda lib, x, **kw: x.clamp(**kw),
    (S((3, 4), min=-0.5, max=0.5), S((3, 4), min=0.0), S((), max=0.3)),
    avoid=(-0.5, 0.0, 0.3, 0.5),
)
class Clamp(Primitive):
    # The gradient passes where min <= x <= max (bounds included), as PyTorch
    @staticmethod
    def forward(ctx, x, min, max):  # noqa: A002
        ctx.save_for_backward(x)
        ctx.bounds = (min, max)
        if max is None:
            return _backend.array_module(x).maximum(x, min)
        if min is None:
            return _backend.array_module(x).minimum(x, max)
        return _backend.array_module(x).clip(x, min, max)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        if lo is not None and hi is not None:
            mask = (x >= lo) & (x <= hi)
        else:
            mask = x >= lo if lo is not None else x <= hi
        # selected, not multiplied: a NaN gradient stops where clamp cut, as PyTorch's
        return where(mask, grad, 0.0), None, None


def clamp(input, min=None, max=None):  # noqa: A002
    """Same as torch.clamp with number bounds (tensor bounds: use maximum/minimum)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from ember.ops.pointwise_extra import clamp_tensor

        return clamp_tensor(input, min, max)
    if not is_floating(input._data.dtype) and (isinstance(min, float) or isinstance(max, float)):
        input = cast(input, get_default_dtype())
    return Clamp.apply(input, min, max)


clip = clamp


@register(
    "where",
    lambda lib, x, y: lib.where(x > 0, x, y),
    (S((3, 4), (3, 4)), S((3, 4), (4,)), S((), (2, 3))),
    avoid=(0.0,),
)
class Where(Primitive):
    @staticmethod
    def forward(ctx, condition, x, y):
        ctx.save_for_backward(condition)
        return select(condition, x, y)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = where(condition, grad, 0.0) if needs[1] else None
        gy = where(condition, 0.0, grad) if needs[2] else None
        return None, gx, gy


def where(condition, input=None, other=None):
    """Same as torch.where: pick from input where condition holds, else from other."""
    if input is None and other is None:
        from ember.ops.scatter import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor) or condition._data.dtype.kind != "b":
        raise RuntimeError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{getattr(condition, 'dtype', type(condition).__name__)}"
        )
    x, y = operands(input, other, "where")
    return Where.apply(condition, x, y)


__all__ = [
    "abs",
    "add",
    "clamp",
    "clip",
    "cos",
    "div",
    "exp",
    "log",
    "mul",
    "neg",
    "pow",
    "relu",
    "rsub",
    "sigmoid",
    "sign",
    "sin",
    "sqrt",
    "sub",
    "tanh",
    "where",
]
ALIASES = {
    "negative": neg,
    "multiply": mul,
    "divide": div,
    "true_divide": div,
    "subtract": sub,
    "absolute": abs,
}
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__ if name != "where"},
    **ALIASES,
    "where": lambda self, condition, other: where(condition, self, other),
}

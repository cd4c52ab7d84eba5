"""Forward-mode AD: dual tensors that carry a tangent through every op (torch.autograd.forward_ad).

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent   # J_f(primal) @ tangent

How ember gets an op's tangent: no op needs a forward rule of its own. For an op y = f(x) whose
inputs carry tangents v, the Jacobian-vector product is derived from the op's backward (the
transpose trick): with a dummy cotangent u, the vector-Jacobian product g(u) = J^T u is linear
in u, so J v = d/du <g(u), v>. ember computes g with `create_graph=True` and differentiates
it once more: two backward passes of the op itself, correct for every op whose backward can be
differentiated (the op table checks that for all of them). A custom `autograd.Function` uses its
own `jvp(ctx, *tangents)` instead, as in PyTorch.

Levels are global, as PyTorch's; one at a time.
"""

from __future__ import annotations

import threading
import weakref
from collections import namedtuple

from ember._tensor import Tensor
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state, enable_grad

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])
UnpackedDualTensor.__doc__ = "Same as torch.autograd.forward_ad.UnpackedDualTensor."

_LOCK = threading.Lock()
_level = [None]  # the active level (an int), or None
_tangents = {}  # id(tensor) -> (weakref to it, tangent)
_propagating = threading.local()  # set while a tangent is being computed (no recursion)
ACTIVE = DUAL_LEVEL_OPEN  # read by Primitive.apply and Function.apply on every call


def enter_dual_level() -> int:
    """Same as torch.autograd.forward_ad.enter_dual_level."""
    with _LOCK:
        if _level[0] is not None:
            raise RuntimeError("Nested forward mode AD is not supported at the moment")
        _level[0] = 0
        ACTIVE[0] = True
    return 0


def exit_dual_level(*, level=None) -> None:
    """Same as torch.autograd.forward_ad.exit_dual_level: every tangent of the level is gone."""
    with _LOCK:
        if _level[0] is None or (level is not None and level != _level[0]):
            raise RuntimeError("Trying to exit a forward AD level that was not the last one.")
        _level[0] = None
        ACTIVE[0] = False
        _tangents.clear()


class dual_level:  # noqa: N801
    """Same as torch.autograd.forward_ad.dual_level: a context in which dual tensors live."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def _check_level(level):
    if _level[0] is None:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if level is not None and level != _level[0]:
        raise RuntimeError(f"Invalid level given to forward AD: {level}")


def tangent_of(tensor):
    """The tangent `tensor` carries at the active level, or None."""
    entry = _tangents.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


def set_tangent(tensor, tangent) -> None:
    """Attach `tangent` to `tensor` (None removes it)."""
    key = id(tensor)
    if tangent is None:
        _tangents.pop(key, None)
        return
    ref = weakref.ref(tensor, lambda _, key=key: _tangents.pop(key, None))
    _tangents[key] = (ref, tangent)


class suspended:  # noqa: N801
    """Within it, ops on this thread compute no tangents (a custom Function's own forward)."""

    def __enter__(self):
        self._was = getattr(_propagating, "on", False)
        _propagating.on = True

    def __exit__(self, *exc):
        _propagating.on = self._was
        return False


def custom_jvp(function, ctx, args, result):
    """Tangents of a custom autograd.Function's outputs, from its own `jvp(ctx, *tangents)`."""
    from ember.autograd.function import Function
    from ember.ops.creation import zeros_like

    if function.jvp is Function.jvp:
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )
    tangents = []
    for a in args:
        if not isinstance(a, Tensor):
            tangents.append(None)
            continue
        tangent = tangent_of(a)
        tangents.append(tangent if tangent is not None else zeros_like(a))
    with suspended():
        out_tangents = function.jvp(ctx, *tangents)
    outputs = result if isinstance(result, tuple) else (result,)
    if not isinstance(out_tangents, tuple):
        out_tangents = (out_tangents,)
    for out, tangent in zip(outputs, out_tangents):
        if isinstance(out, Tensor) and out.is_floating_point() and tangent is not None:
            set_tangent(out, tangent)


def carry(source, target) -> None:
    """`target` (a new tensor object for `source`'s values) takes over its tangent."""
    if ACTIVE[0]:
        tangent = tangent_of(source)
        if tangent is not None:
            set_tangent(target, tangent)


def make_dual(tensor, tangent, *, level=None):
    """Same as torch.autograd.forward_ad.make_dual: a view of `tensor` that carries `tangent`."""
    _check_level(level)
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual(): expected Tensors for the primal and the tangent")
    if tangent.shape != tensor.shape:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if tangent.dtype != tensor.dtype or tangent.device != tensor.device:
        raise RuntimeError(
            "Expected tangent to have the same dtype and device as the primal, but got "
            f"{tangent.dtype} on {tangent.device} and {tensor.dtype} on {tensor.device}"
        )
    if not tensor.is_floating_point():
        raise ValueError(
            f"Expected primal to be floating point or complex, but got: {tensor.dtype}"
        )
    dual = tensor.view_as(tensor)
    set_tangent(dual, tangent)
    return dual


def unpack_dual(tensor, *, level=None):
    """Same as torch.autograd.forward_ad.unpack_dual: (primal, tangent); the primal is a view
    of `tensor` without the tangent, the tangent None where there is none."""
    if _level[0] is None or not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    tangent = tangent_of(tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(tensor.view_as(tensor), tangent)


def wants(args) -> bool:
    """True when an op on `args` must compute tangents (an input carries one)."""
    if getattr(_propagating, "on", False):
        return False
    return any(isinstance(a, Tensor) and tangent_of(a) is not None for a in args)


def apply_dual(op, args, kwargs):
    """`op.apply(*args, **kwargs)` whose floating outputs carry the tangents that the inputs'
    tangents imply: by the op's own rule where it has one (see `rule_for`), else by
    transposing its backward."""
    tangents = [tangent_of(a) if isinstance(a, Tensor) else None for a in args]
    rule = rule_for(op)
    _propagating.on = True
    try:
        result = op.apply(*args, **kwargs)
        if rule is None:
            jvps = _jvp_by_transposition(op, args, kwargs, tangents)
        else:
            jvps = rule(op, args, kwargs, tangents, result)
            jvps = jvps if isinstance(jvps, tuple) else (jvps,)
    finally:
        _propagating.on = False
    outputs = result if isinstance(result, tuple) else (result,)
    for out, jvp in zip(outputs, jvps):
        if isinstance(out, Tensor) and out.is_floating_point():
            set_tangent(out, jvp)
    return result


# --- forward rules written out (the rest are derived by transposition) ---
# ops linear in all their tensor arguments together: the tangent is the op of the tangents.
# Each names the positions where a plain number is a value (an added or written constant,
# whose tangent is 0) rather than a shape, dim or flag.
LINEAR = {
    **{
        name: ()
        for name in """cast clone to_device getitem copy cat split diag_embed diagonal
    avg_pool2d fold unfold cumsum mean sum sum_to_size expand flip permute reshape transpose
    as_strided neg""".split()
    },
    "add": (0, 1),
    "sub": (0, 1),
    "setitem": (1,),
}


def rule_for(op):
    """The op's written forward rule, or None: elementwise one-input ops (their derivative
    applied to the tangent), the linear ops above, and mul, div, mm, matmul."""
    derivative = getattr(op, "elementwise_derivative", None)
    if derivative is not None:
        return _elementwise_rule
    name = getattr(op, "_table_name", None)
    if name in LINEAR:
        return _linear_rule
    return _PRODUCT_RULES.get(name)


_NUMBER = (int, float, bool)


def _elementwise_rule(op, args, kwargs, tangents, out):
    return op.elementwise_derivative(args[0], out, tangents[0])


def _linear_rule(op, args, kwargs, tangents, out):
    from ember.ops.creation import zeros_like

    values = LINEAR[op._table_name]
    moved = []
    for k, (a, t) in enumerate(zip(args, tangents)):
        if t is None and isinstance(a, Tensor) and a.is_floating_point():
            t = zeros_like(a)
        elif t is None and k in values and a.__class__ in _NUMBER:
            t = 0.0  # a constant added or written: no tangent
        moved.append(a if t is None else t)
    return op.apply(*moved, **kwargs)


def _sum_of(terms):
    terms = [t for t in terms if t is not None]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _mul_rule(op, args, kwargs, tangents, out):
    (a, b), (ta, tb) = args, tangents  # d(ab) = da b + a db
    return _sum_of(
        [None if ta is None else op.apply(ta, b), None if tb is None else op.apply(a, tb)]
    )


def _div_rule(op, args, kwargs, tangents, out):
    b, (ta, tb) = args[1], tangents  # d(a/b) = (da - (a/b) db) / b
    top = _sum_of([ta, None if tb is None else -(out.detach() * tb)])
    return op.apply(top, b)


_PRODUCT_RULES = {"mul": _mul_rule, "mm": _mul_rule, "matmul": _mul_rule, "div": _div_rule}


def _jvp_by_transposition(op, args, kwargs, tangents):
    """J v for every output of `op` at `args`, from its vector-Jacobian product (see above)."""
    from ember.autograd.engine import grad
    from ember.ops.creation import zeros_like

    # tangents stay differentiable (forward-over-reverse) when a given one requires grad
    wanted = _state.enabled and any(t.requires_grad for t in tangents if t is not None)
    with enable_grad():
        local = []
        for a, t in zip(args, tangents):
            if isinstance(a, Tensor):
                a = a.detach()
                if t is not None:
                    a.requires_grad_()
            local.append(a)
        out = op.apply(*local, **kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        live = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        inputs = [a for a, t in zip(local, tangents) if t is not None]
        vectors = [t for t in tangents if t is not None]
        jvps = [zeros_like(o) if isinstance(o, Tensor) else None for o in outs]
        if not live:
            return jvps
        cotangents = [zeros_like(outs[k]).requires_grad_() for k in live]
        vjps = grad(
            [outs[k] for k in live], inputs, cotangents, create_graph=True, allow_unused=True
        )
        pairs = [(g, v) for g, v in zip(vjps, vectors) if g is not None and g.requires_grad]
        if not pairs:
            return jvps
        found = grad(
            [g for g, _ in pairs],
            cotangents,
            [v for _, v in pairs],
            create_graph=wanted,
            allow_unused=True,
        )
    for k, j in zip(live, found):
        if j is not None:
            jvps[k] = j if wanted else j.detach()
    return jvps


__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

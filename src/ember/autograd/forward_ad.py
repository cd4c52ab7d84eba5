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

Levels are global, as PyTorch's; one at a time. Whether ops compute tangents at all is per
thread (`_set_fwd_grad_enabled`, PyTorch's private switch), on by default.

A tangent, once attached, is updated in place by an in-place op on its tensor (as PyTorch): a
tangent handed to `make_dual` changes when the dual does, and so do tangents that view it.
"""

from __future__ import annotations

import threading
import weakref
from collections import namedtuple

from ember import _backend
from ember._storage import _address, _storage_span
from ember._tensor import Tensor
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state, enable_grad

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])
UnpackedDualTensor.__doc__ = (
    "Same as torch.autograd.forward_ad.UnpackedDualTensor: the (primal, tangent) named tuple "
    "that `unpack_dual` returns."
)

_LOCK = threading.Lock()
_current_level = -1  # the active level, -1 when none (PyTorch's tests read this name)
_tangents = {}  # id(tensor) -> (weakref to it, tangent)
_propagating = threading.local()  # set while a tangent is being computed (no recursion)
_switch = threading.local()  # .off: forward grad disabled on this thread
_tangent_stops = {}  # id(view) -> weakref: views whose in-place changes leave the base's tangent
ACTIVE = DUAL_LEVEL_OPEN  # read by Primitive.apply and Function.apply on every call


def enter_dual_level() -> int:
    """Same as torch.autograd.forward_ad.enter_dual_level: open level 0 and return it."""
    global _current_level
    with _LOCK:
        if _current_level >= 0:
            raise RuntimeError("Nested forward mode AD is not supported at the moment")
        _current_level = 0
        ACTIVE[0] = True
    return 0


def exit_dual_level(*, level=None) -> None:
    """Same as torch.autograd.forward_ad.exit_dual_level: every tangent of the level is gone."""
    global _current_level
    with _LOCK:
        if _current_level < 0:
            raise RuntimeError("Dual level must be a positive number.")
        if level is not None and level != _current_level:
            raise RuntimeError("Trying to exit a forward AD level that was not the last one.")
        _current_level = -1
        ACTIVE[0] = False
        _tangents.clear()


class dual_level:  # noqa: N801
    """Same as torch.autograd.forward_ad.dual_level: a context in which dual tensors live."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def _is_fwd_grad_enabled() -> bool:
    """Same as torch.autograd.forward_ad._is_fwd_grad_enabled: do ops on this thread compute
    tangents (True unless switched off by `_set_fwd_grad_enabled(False)`)."""
    return not getattr(_switch, "off", False)


class _set_fwd_grad_enabled:  # noqa: N801
    """Same as torch.autograd.forward_ad._set_fwd_grad_enabled: switch tangent computation
    on or off for this thread at once; used as a context manager, the previous setting comes
    back on exit. While off, ops and `make_dual` attach no tangents."""

    def __init__(self, mode: bool) -> None:
        self.prev = _is_fwd_grad_enabled()
        _switch.off = not mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> bool:
        _switch.off = not self.prev
        return False


def _check_level(level):
    if _current_level < 0:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if level is not None and level != _current_level:
        raise RuntimeError("Invalid level given to _make_dual")


def tangent_of(tensor):
    """The tangent `tensor` carries at the active level, or None."""
    entry = _tangents.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


def set_tangent(tensor, tangent) -> None:
    """Attach `tangent` to `tensor` (None removes it). Where `tensor` already has a tangent of
    the same shape and dtype, the new values are written into that one, as an in-place op
    does in PyTorch (tangents that require grad are replaced instead, keeping their graph)."""
    key = id(tensor)
    if tangent is None:
        _tangents.pop(key, None)
        return
    old = tangent_of(tensor)
    if old is not None and old is not tangent and _writable_alike(old, tangent):
        old._data[...] = tangent._data
        old._vc[0] += 1
        return
    ref = weakref.ref(tensor, lambda _, key=key: _tangents.pop(key, None))
    _tangents[key] = (ref, tangent)


def _writable_alike(old, new):
    return (
        old.shape == new.shape
        and old.dtype == new.dtype
        and old._data.__class__ is new._data.__class__
        and not old.requires_grad
        and not new.requires_grad
        and _backend.writeable(old._data)
    )


def _stop_tangent_at(view) -> None:
    key = id(view)
    _tangent_stops[key] = weakref.ref(view, lambda _, key=key: _tangent_stops.pop(key, None))


def passes_tangent_to_base(view) -> bool:
    """Whether an in-place op on `view` changes its base's tangent. True for views made by
    ops; False for the views `make_dual` and `unpack_dual` return (PyTorch's "forward
    non-differentiable" views): the dual's base and the primal's dual keep their tangents."""
    ref = _tangent_stops.get(id(view))
    return ref is None or ref() is not view


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
    """Same as torch.autograd.forward_ad.make_dual: a view of `tensor` that carries `tangent`.

    Both must be floating point, of the same shape, dtype and device (PyTorch also takes a
    tangent of another floating dtype; ember refuses it). The tangent is used as is when it is
    laid out in memory as `tensor` is (same strides, storage offset and storage size), so that
    `unpack_dual` gives it back; otherwise the dual gets a copy laid out like `tensor`, as in
    PyTorch (so that ops reading the storage, such as as_strided, see the same layout).
    """
    _check_level(level)
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual(): expected Tensors for the primal and the tangent")
    if not tensor.is_floating_point():
        raise ValueError(
            f"Expected primal to be floating point or complex, but got: {tensor.dtype}"
        )
    if not tangent.is_floating_point():
        raise ValueError(
            f"Expected tangent to be floating point or complex, but got: {tangent.dtype}"
        )
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
    if tangent_of(tensor) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            f"same level {_current_level} is not supported."
        )
    if tangent_of(tangent) is not None:
        raise RuntimeError(
            "Setting a forward grad that itself has a forward gradient at the same level "
            f"{_current_level} is not supported."
        )
    dual = tensor.view_as(tensor)
    _stop_tangent_at(dual)
    if _is_fwd_grad_enabled():
        set_tangent(dual, _laid_out_like(tensor, tangent))
    return dual


def _layout(array):
    """(strides, storage offset, storage size) of an array, in elements."""
    start, nbytes = _storage_span(array)
    item = array.itemsize
    return (
        tuple(s // item for s in array.strides),
        (_address(array) - start) // item,
        nbytes // item,
    )


def _laid_out_like(primal, tangent):
    """`tangent` itself when its memory layout is `primal`'s, else a copy laid out like it."""
    if primal._data.size == 0 or tangent._data.__class__ is not primal._data.__class__:
        return tangent  # (an empty primal has no layout; a vmap-batched tangent is kept whole)
    strides, offset, length = _layout(primal._data)
    t_strides, t_offset, t_length = _layout(tangent._data)
    if (offset, length) == (t_offset, t_length) and all(
        a == b or n == 1 for n, a, b in zip(primal.shape, strides, t_strides)
    ):
        return tangent
    if any(s == 0 and n > 1 for n, s in zip(primal.shape, strides)):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if any(s < 0 for s in strides):  # (no such layout comes from ember's own ops)
        return tangent.clone()
    xp = _backend.array_module(tangent._data)
    storage = xp.zeros(length, dtype=tangent._data.dtype)
    item = storage.itemsize
    view = xp.lib.stride_tricks.as_strided(
        storage[offset:], primal.shape, tuple(s * item for s in strides)
    )
    copy = Tensor._make(view)
    copy.copy_(tangent)  # differentiable when the tangent requires grad
    return copy


def unpack_dual(tensor, *, level=None):
    """Same as torch.autograd.forward_ad.unpack_dual: an `UnpackedDualTensor` (primal,
    tangent); the primal is a view of `tensor` without the tangent, the tangent is None where
    there is none (or no level is open)."""
    if _current_level < 0 or not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    tangent = tangent_of(tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    with suspended():  # the primal is a view that carries no tangent
        primal = tensor.view_as(tensor)
    _stop_tangent_at(primal)
    return UnpackedDualTensor(primal, tangent)


def wants(args) -> bool:
    """True when an op on `args` must compute tangents (an input carries one)."""
    if getattr(_propagating, "on", False) or getattr(_switch, "off", False):
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
        try:
            if rule is None:
                jvps = _jvp_by_transposition(op, args, kwargs, tangents)
            else:
                jvps = rule(op, args, kwargs, tangents, result)
                jvps = jvps if isinstance(jvps, tuple) else (jvps,)
        except NotImplementedError as error:  # a derivative the op's backward lacks
            name = getattr(op, "_table_name", op.__name__)
            raise NotImplementedError(
                f"Trying to use forward AD with {name} that does not support it because it has "
                f"not been implemented yet ({error})."
            ) from error
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

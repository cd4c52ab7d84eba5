"""Primitive: ember's own ops. Forward on backend arrays, backward in ember's Tensor ops.

A Primitive shares the ctx, Node and engine of autograd.Function; the only difference is that
`apply` hands `forward` the raw arrays and wraps the array it returns. Rules for forward:
return a new array (never an input's own array object, unless the class sets `view_of`),
and save with `ctx.save_for_backward` only inputs, the output, or constants. Keep per-call
values in locals or on the ctx you are given: ops run on many threads at once, so an
unrecorded call gets a fresh ctx when forward stores anything on it, and otherwise one shared
ctx that refuses attributes. NumPy's floating-point warnings are off while forward runs.
"""

from __future__ import annotations

import dis
import inspect
import sys

from ember import _backend, _dtype
from ember import _tensor as _tensor_module
from ember._tensor import INFERENCE_SAVED, InferenceVersion, Tensor
from ember.autograd import forward_ad, hooks
from ember.autograd.anomaly import record_trace
from ember.autograd.function import Function, _node_class, attach_outputs, connect
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state
from ember.autograd.graph import SavedOutput
from ember.ops._table import UNARY, register


class _NoInputNeedsGrad:
    """needs_input_grad when nothing is recorded: False at every index."""

    def __getitem__(self, index):
        return False

    def __iter__(self):
        return iter(())


class _UnrecordedCtx:
    """The ctx forward gets when nothing is recorded: saving is a no-op. A forward that keeps
    per-call values on its ctx gets a new one per call, since ops run on many threads at once."""

    needs_input_grad = _NoInputNeedsGrad()

    def save_for_backward(self, *arrays):
        pass

    def mark_non_differentiable(self, *arrays):
        pass


class _SharedUnrecordedCtx(_UnrecordedCtx):
    """One ctx shared by every unrecorded call of the forwards that store nothing on their ctx.
    It has no attributes to set (`__slots__ = ()`), so sharing it can never mix two calls'
    values: a forward that did store would fail loudly here."""

    __slots__ = ()


_SHARED_CTX = _SharedUnrecordedCtx()


def _stores_attributes(code) -> bool:
    """True when `code` (or a function nested in it) assigns an attribute of anything; for a
    forward, whether it may keep values on its ctx (then it gets a fresh one per call)."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("STORE_ATTR", "DELETE_ATTR"):
            return True
    return any(_stores_attributes(c) for c in code.co_consts if inspect.iscode(c))


_make = Tensor._make
_DUAL = DUAL_LEVEL_OPEN  # a dual level is open: inputs may carry tangents
_get_floats = _backend.FLOAT_STATE.get  # bound once: C calls (see _backend)
_set_floats = _backend.FLOAT_STATE.set
_reset_floats = _backend.FLOAT_STATE.reset
_QUIET = _backend.QUIET_FLOATS


def _device_mismatch(cls, args):
    devices = [a.device for a in args if isinstance(a, Tensor)]
    if len(set(map(str, devices))) > 1:
        names = ", ".join(str(d) for d in dict.fromkeys(map(str, devices)))
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{names}! (in {cls.__name__.lower()})"
        )


def _forward_error(cls, args, error):
    """A RuntimeError naming the op and the shapes, in PyTorch's words where it has them."""
    name = getattr(cls, "_table_name", cls.__name__.lower())
    shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
    if "broadcast" in str(error) and len(shapes) >= 2:
        ndim = max(len(s) for s in shapes)
        padded = [(1,) * (ndim - len(s)) + s for s in shapes]
        for dim in range(ndim - 1, -1, -1):
            sizes = [s[dim] for s in padded if s[dim] != 1]
            if len(set(sizes)) > 1:
                a, b = sizes[0], next(x for x in sizes if x != sizes[0])
                return RuntimeError(
                    f"{name}: The size of tensor a ({a}) must match the size of tensor b ({b}) "
                    f"at non-singleton dimension {dim} (shapes "
                    f"{', '.join(str(list(s)) for s in shapes)})"
                )
    listed = ", ".join(str(list(s)) for s in shapes)
    return RuntimeError(f"{name}: {error} (input shapes {listed})")


def _as_array(out, like_cls):
    """An op's result as an array of its inputs' kind: NumPy gives scalars for 0-d results,
    and a device backend may hand back arrays of another class (see `_backend.adopt`)."""
    if _backend.is_scalar_result(out):
        return _backend.scalar_to_array(out, like_cls)
    return _backend.adopt(out, like_cls)


class Primitive(Function):
    """Base class of ember's built-in differentiable ops (see the module docstring)."""

    view_of = None  # index of the input whose storage the output views, for view ops
    moves_device = False  # True only for the op whose output lives on another device

    @staticmethod
    def write_back(base, values, *args):
        """For a view op: `base` with the part this op views replaced by `values`, as a
        differentiable function (how an in-place op on a view updates its base's graph).
        View ops without it refuse in-place ops that record a graph on their views."""
        raise NotImplementedError

    _builtin_op = True  # its Node is named like PyTorch's built-ins: 'MulBackward0'
    _ctx_per_call = True  # set per subclass: does forward store values on its ctx?
    # True for ops whose forward does no float arithmetic that could overflow or divide by
    # zero (views, selections, tanh, ...): they skip switching NumPy's warnings off
    float_safe = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None:
            cls._ctx_per_call = _stores_attributes(forward.__func__.__code__)
        if cls.view_of is not None and "float_safe" not in cls.__dict__:
            cls.float_safe = True  # a view computes nothing

    @classmethod
    def apply(cls, *args, **kwargs):
        if _DUAL[0] and forward_ad.wants(args):  # forward-mode AD: outputs carry tangents
            return forward_ad.apply_dual(cls, args, kwargs)
        data = []
        record = False
        kind = None
        for a in args:
            if isinstance(a, Tensor):
                view = a._view_of
                if view is not None and view[3] != a._vc[0]:
                    refresh_view(a)  # its base changed in place since: re-make its grad_fn
                d = a._data
                if kind is None:
                    kind = d.__class__
                elif d.__class__ is not kind:
                    _device_mismatch(cls, args)
                data.append(d)
                if a._requires_grad:
                    record = True
            else:
                data.append(a)
        narrow = _BF16[0] is not None and cls.view_of is None and _widen_bf16(data, kwargs, kind)
        # NumPy's float warnings go off for this op; a backward pass (whose ops record
        # nothing unless create_graph) has them off throughout, and its ops skip the switch
        if record and _state.enabled:
            node = ctx = cls._node_cls()
            connect(node, args)
            if _state.anomaly:
                record_trace(node)
            token = None if cls.float_safe else _set_floats(_QUIET)
        else:
            node = None
            ctx = _UnrecordedCtx() if cls._ctx_per_call else _SHARED_CTX
            quiet = cls.float_safe or _get_floats() is _QUIET
            token = None if quiet else _set_floats(_QUIET)
        try:
            out = cls.forward(ctx, *data, **kwargs)
        except ValueError as error:  # NumPy's words, e.g. for shapes that do not broadcast
            raise _forward_error(cls, args, error) from None
        finally:
            if token is not None:
                _reset_floats(token)
        if out.__class__ is tuple:
            return _wrap_many(node, args, data, out, kind, cls.view_of is None, narrow)
        array = out
        if out.__class__ is not kind and not cls.moves_device:
            array = _as_array(out, kind)
        if narrow and array.dtype == "float32":
            array = array.astype(_BF16[0])
        if cls.view_of is None:
            if not array.flags.c_contiguous:  # results are row-major, as PyTorch's
                array = _backend.array_module(array).ascontiguousarray(array)
            if node is None:
                return _make(array)
            t = _make(array, True, node, 0)
        else:
            t = _make(array) if node is None else _make(array, True, node, 0)
            _mark_view(t, args[cls.view_of], cls, args[cls.view_of + 1 :])
        if node is not None and node._to_save is not None:
            _pack(node, args, data, ((out, array, t),))
        return t


_BF16 = _dtype.BF16  # [bfloat16's NumPy dtype], [None] until ml_dtypes is loaded
_NP_DTYPE = type(_dtype.float32.np).__mro__[1]  # the class of NumPy dtypes (an explicit dtype=)


def _widen_bf16(data, kwargs, kind):
    """bfloat16 math runs in float32 and is rounded once, as PyTorch's (NumPy would sum and
    multiply matrices in bfloat16, slowly and losing accuracy): replace the bfloat16 arrays in
    `data` by float32 copies. True when the float32 results are to be rounded back to
    bfloat16: some input was bfloat16, none of another float type, and no dtype was asked for.
    """
    bf16 = _BF16[0]
    for d in data:  # the common case first, cheaply: no bfloat16 array at all
        if d.__class__ is kind and d.dtype is bf16:
            break
    else:
        return False
    found, narrow = False, True
    for k, d in enumerate(data):
        dt = getattr(d, "dtype", None)
        if dt is bf16:
            data[k] = d.astype("float32")
            found = True
        elif (dt is not None and dt.kind == "f") or isinstance(d, _NP_DTYPE):
            narrow = False
    if found and kwargs:
        narrow = narrow and not any(isinstance(v, _NP_DTYPE) for v in kwargs.values())
    return found and narrow


def _contiguous(array):
    if array.flags.c_contiguous:
        return array
    return _backend.array_module(array).ascontiguousarray(array)


def _mark_view(t, base, cls, args):
    """After a view op: share storage, and remember how the view was made from its input
    (`t._view_of = (input, recipe, args, version)`), so that an in-place op on the view can
    update the input's graph and a stale view can be re-made (see inplace.py).

    The recipe is the view op itself, or a `ViewRefusal` for views that in-place ops recording
    a graph may not touch (PyTorch's rules: made in no_grad or inference mode, or a view of
    such a view). A view of an inference tensor is an inference tensor but no view, and
    records nothing, as PyTorch's."""
    data = t._data
    if data.base is None or not _backend.shares_storage(data, base._data):
        t._data = _contiguous(data)  # NumPy copied (advanced indexing): row-major, as PyTorch's
        return
    vc = t._vc = base._vc  # (so a view is an inference tensor exactly when its base is)
    if vc.__class__ is InferenceVersion:
        node = t._node
        if node is not None:  # recorded as any op is: PyTorch's view records nothing here
            node._to_save = None
            t._node, t._requires_grad = None, False
        return
    root = base._base
    t._base = root = base if root is None else root
    prev = base._view_of
    node = t._node
    if node is not None or _state.enabled:  # (a recorded op means grad mode is on)
        if prev is None or prev[1].__class__ is not ViewRefusal:
            t._view_of = (base, cls, args, vc[0])
            return
        recipe = prev[1]  # a view of a refused view is refused too
    else:
        # made with grad mode off: from a base that requires grad, it requires grad too and
        # has no grad_fn (its gradient never reaches the base), as PyTorch's
        inference = (_tensor_module._marking and _state.inference) or (
            prev is not None and prev[1] is _REFUSED[INFERENCE]
        )
        recipe = _REFUSED[INFERENCE if inference else NO_GRAD]
        if root._requires_grad:
            t._requires_grad = True
    t._view_of = (base, recipe, (node, t._output_nr), vc[0])


def _share_storage(t, base):
    """Mark `t`, one of the several views of `base` that one op returned (split, chunk,
    unbind), as a view: in-place ops that record a graph may not change it (PyTorch's rule,
    since the op's backward could not see the change); True if `t` really is a view."""
    _mark_view(t, base, None, ())
    view = t._view_of
    if view is None:
        return t._vc is base._vc
    recipe = view[1]
    if recipe is None or (_state.enabled and recipe.kind is not INFERENCE):
        t._view_of = (base, _REFUSED[MULTI_OUTPUT], (t._node, t._output_nr), view[3])
    return True


# How a view was made, where it matters for in-place ops (PyTorch's CreationMeta)
NO_GRAD = "no_grad"
INFERENCE = "inference"
MULTI_OUTPUT = "multi_output"
IN_CUSTOM_FUNCTION = "custom_function"


_WHY = {
    MULTI_OUTPUT: (
        " This view is the output of a function that returns multiple views. Such functions do "
        "not allow the output views to be modified inplace. You should replace the inplace "
        "operation by an out-of-place one."
    ),
    NO_GRAD: (
        " Given that this use case is ambiguous and error-prone, it is forbidden. You can "
        "clarify your code by moving both the view and the inplace either both inside the "
        "no_grad block (if you don't want the inplace to be tracked) or both outside (if you "
        "want the inplace to be tracked)."
    ),
    INFERENCE: (
        " Given that this use case is ambiguous and error-prone, it is forbidden. You can "
        "clarify your code by moving both the view and the inplace either both inside the "
        "inference_mode block (if you don't want the inplace to be tracked) or both outside "
        "(if you want the inplace to be tracked)."
    ),
    IN_CUSTOM_FUNCTION: (
        " This view was created inside a custom Function (or because an input was returned "
        "as-is) and the autograd logic to handle view+inplace would override the custom "
        "backward associated with the custom Function, leading to incorrect gradients. This "
        "behavior is forbidden. You can fix this by cloning the output of the custom Function."
    ),
}


class ViewRefusal:
    """The recipe a view holds in place of its view op when in-place ops that record a graph
    may not change it, directly or through its base or a sibling view; it raises PyTorch's
    error. `kind` is NO_GRAD, INFERENCE, MULTI_OUTPUT or IN_CUSTOM_FUNCTION. Such a view's
    `_view_of` args are (grad_fn, output_nr) as they were when it was made, for the message."""

    __slots__ = ("kind",)

    def __init__(self, kind):
        self.kind = kind

    def error(self, view, indirect: bool) -> RuntimeError:
        """PyTorch's error for changing `view` in place (`indirect`: through its base or a
        sibling view)."""
        return RuntimeError(self._message(view._node, view._output_nr, indirect))

    def apply(self, base, node, output_nr):
        """Re-making such a view after its base changed in place is refused (what graph.py's
        refresh_view gets when it asks)."""
        raise RuntimeError(self._message(node, output_nr, True))

    def _message(self, node, output_nr, indirect):
        kind = self.kind
        done = "its base or another view of its base has been" if indirect else "is being"
        if kind in (INFERENCE, NO_GRAD) or node is None:
            if node is not None:
                prefix = (
                    f"Output {output_nr} of {_short_name(node)} is a view of a view which was "
                    "created in"
                )
            else:
                prefix = "A view was created in"
            if kind is INFERENCE:
                message = f"{prefix} inference mode and {done} modified inplace in normal mode."
            else:
                message = (
                    f"{prefix} no_grad mode and {done} modified inplace with grad mode enabled."
                )
        else:
            message = (
                f"Output {output_nr} of {_short_name(node)} is a view and {done} modified inplace."
            )
        return message + _WHY[kind]


def refuse_inplace(view, kind=IN_CUSTOM_FUNCTION) -> None:
    """Mark `view` (e.g. an output of a custom Function that is a view) as one that in-place
    ops recording a graph may not change; an inference-mode kind stays. No-op for non-views."""
    if view._base is None:
        return
    old = view._view_of
    if old is not None and old[1].__class__ is ViewRefusal and old[1].kind is INFERENCE:
        return
    base = old[0] if old is not None else view._base
    view._view_of = (base, _REFUSED[kind], (view._node, view._output_nr), view._vc[0])


_REFUSED = {kind: ViewRefusal(kind) for kind in _WHY}


def _short_name(node):
    """'Split' for SplitBackward0, as PyTorch names a node in view errors."""
    name = node.name()
    cut = name.rfind("Backward")
    return name[:cut] if cut > 0 else name


def refresh_view(view) -> None:
    """Give a stale view (its base, or another view of it, changed in place since it was
    made) the grad_fn of its base's current version: the view is re-made from its base with
    its own view op, so gradients flow through the change, as PyTorch's. A `.retain_grad()`
    moves to the new grad_fn; hooks registered on the old one stay there (as PyTorch's).
    A view that needs no gradient is left as it is; a refused one raises PyTorch's error."""
    base, recipe, args, _ = view._view_of
    old, old_nr = view._node, view._output_nr
    if old is None and not view._base._requires_grad:
        return
    if recipe.__class__ is ViewRefusal:
        raise recipe.error(view, indirect=True)
    enabled = _state.enabled
    _state.enabled = True
    try:
        fresh = recipe.apply(base, *args)
    finally:
        _state.enabled = enabled
    view._node, view._output_nr = fresh._node, fresh._output_nr
    view._requires_grad = fresh._requires_grad
    view._view_of = (base, recipe, args, view._vc[0])
    if view._retains_grad:
        move_retained_grad(view, old, old_nr)


def move_retained_grad(tensor, old_node, old_nr) -> None:
    """A retained .grad belongs to the tensor's current grad_fn (PyTorch's rule): after an
    in-place op, or after a stale view is re-made, retain_grad's hook moves from the old node
    to the new one."""
    if old_node is None or old_node is tensor._node:
        return
    hooks = (old_node._tensor_hooks or {}).get(old_nr, [])
    for hook in list(hooks):
        ref = getattr(hook, "_retained", None)
        if ref is not None and ref() is tensor:
            hooks.remove(hook)
    tensor._retains_grad = False
    tensor.retain_grad()


def _wrap_many(node, args, data, outs, kind, contiguous, narrow=False):
    """The tensors of a forward that returned several arrays (node None: nothing recorded);
    `narrow`: round float32 results to bfloat16 (see _widen_bf16)."""
    results = []
    triples = []
    for k, o in enumerate(outs):
        array = _as_array(o, kind)
        if contiguous:
            array = _contiguous(array)
        floating = array.dtype.kind in "fV"  # "V": bfloat16
        if narrow and array.dtype == "float32":
            array = array.astype(_BF16[0])
        if node is not None and floating:  # indices never require grad
            t = Tensor._make(array, True, node, k)
        else:
            t = Tensor._make(array)
        results.append(t)
        triples.append((o, array, t))
    if node is not None:
        attach_outputs(node, results)
        if node._to_save is not None:
            _pack(node, args, data, triples)
    return tuple(results)


def _pack(node, args, data, outputs):
    """Map saved arrays back to graph-connected tensors: inputs, outputs, else constants
    (through the saved-tensor pack hook, when one is in force)."""
    pair = hooks.current_pair()
    saved = []
    for x in node._to_save:
        entry = None
        if x is None or not hasattr(x, "shape"):
            entry = (x, None) if x is not None else None
        else:
            for raw, array, t in outputs:
                if x is raw or x is array:
                    saved_output = SavedOutput(t._output_nr, array, t._vc)
                    entry = (saved_output if pair is None else hooks.pack(pair, t), None)
                    break
            if entry is None:
                for a, d in zip(args, data):
                    if x is d and isinstance(a, Tensor):
                        if a._vc.__class__ is InferenceVersion:
                            raise RuntimeError(INFERENCE_SAVED)
                        entry = (a, a._vc[0]) if pair is None else (hooks.pack(pair, a), None)
                        break
            if entry is None:
                constant = Tensor._make(_as_array(x, None))
                entry = (constant if pair is None else hooks.pack(pair, constant), None)
        saved.append(entry)
    node._to_save = None
    node._saved = tuple(saved)


def raise_not_tensor(op, argument, position, value):
    """PyTorch's TypeError for a non-tensor where an op needs a tensor."""
    raise TypeError(
        f"{op}(): argument '{argument}' (position {position}) must be Tensor, not "
        f"{type(value).__name__}"
    )


def _camel(name):
    return "".join(part.capitalize() for part in name.split("_"))


def make_primitive(cls, name):
    """Rename a generated Primitive class and give it a matching Node class."""
    cls.__name__ = cls.__qualname__ = _camel(name)
    cls._node_cls = _node_class(cls)
    return cls


def unary(name, forward, derivative, samples=UNARY, *, call=None, prepare=None, **spec):
    """Define a one-input elementwise primitive in one line; returns its public function.

    `forward(xp, x)` works on arrays; `derivative(x, out, grad)` on Tensors. Only what the
    derivative's parameter names ask for (`x`, `out`) is saved for backward. The op-table row
    calls `call(lib, x)` (by default `lib.<name>(x)`); `prepare(input)`, if given, turns the
    input into what the primitive takes (e.g. integers into floats).
    """
    params = inspect.signature(derivative).parameters
    save_x, save_out = "x" in params, "out" in params
    float_safe = spec.pop("float_safe", False)

    class Op(Primitive):
        @staticmethod
        def forward(ctx, x):
            out = forward(_backend.array_module(x), x)
            ctx.save_for_backward(x if save_x else None, out if save_out else None)
            return out

        @staticmethod
        def backward(ctx, grad):
            x, out = ctx.saved_tensors
            return derivative(x, out, grad)

    frame = sys._getframe(1)
    if frame.f_globals.get("__name__") == __name__:  # called through another helper here
        frame = frame.f_back
    Op.__module__ = frame.f_globals.get("__name__", __name__)  # the family's module
    # elementwise, so the derivative applied to a tangent is the forward-mode rule too
    Op.elementwise_derivative = staticmethod(derivative)
    Op.float_safe = float_safe
    make_primitive(Op, name)
    register(name, call or (lambda lib, x: getattr(lib, name)(x)), samples, **spec)(Op)

    def fn(input):
        if not isinstance(input, Tensor):
            raise_not_tensor(name, "input", 1, input)
        return Op.apply(input if prepare is None else prepare(input))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Same as torch.{name}."
    return fn

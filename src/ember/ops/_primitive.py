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

from ember import _backend
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
            return _wrap_many(node, args, data, out, kind, cls.view_of is None)
        array = out
        if out.__class__ is not kind and not cls.moves_device:
            array = _as_array(out, kind)
        if cls.view_of is None:
            if not array.flags.c_contiguous:  # results are row-major, as PyTorch's
                array = _backend.array_module(array).ascontiguousarray(array)
            if node is None:
                return _make(array)
            t = _make(array, True, node, 0)
        else:
            t = _make(array) if node is None else _make(array, True, node, 0)
            _mark_view(t, args, cls)
        if node is not None and node._to_save is not None:
            _pack(node, args, data, ((out, array, t),))
        return t


def _contiguous(array):
    if array.flags.c_contiguous:
        return array
    return _backend.array_module(array).ascontiguousarray(array)


def _share_storage(t, base):
    """A view's tensor shares its base's version counter and remembers the base; True if `t`
    really is a view (NumPy may have copied)."""
    if t._data.base is not None and _backend.shares_storage(t._data, base._data):
        t._vc = base._vc  # (so a view is an inference tensor exactly when its base is)
        t._base = base._base if base._base is not None else base
        return True
    return False


def _mark_view(t, args, cls):
    """After a view op: share storage, and remember how the view was made from its input, so
    an in-place op on the view can update the input's graph (see inplace.py)."""
    base = args[cls.view_of]
    if _share_storage(t, base):
        if cls.write_back is not Primitive.write_back:
            # how to re-make it, and the storage version its grad_fn belongs to
            t._view_of = (base, cls, args[cls.view_of + 1 :], t._vc[0])
    else:  # NumPy copied (advanced indexing): a copy is row-major, as PyTorch's results
        t._data = _contiguous(t._data)


def _wrap_many(node, args, data, outs, kind, contiguous):
    """The tensors of a forward that returned several arrays (node None: nothing recorded)."""
    results = []
    triples = []
    for k, o in enumerate(outs):
        array = _as_array(o, kind)
        if contiguous:
            array = _contiguous(array)
        if node is not None and array.dtype.kind == "f":  # indices never require grad
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


def unary(name, forward, derivative, samples=UNARY, **spec):
    """Define a one-input elementwise primitive in one line; returns its public function.

    `forward(xp, x)` works on arrays; `derivative(x, out, grad)` on Tensors. Only what the
    derivative's parameter names ask for (`x`, `out`) is saved for backward.
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

    Op.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)  # the family's module
    # elementwise, so the derivative applied to a tangent is the forward-mode rule too
    Op.elementwise_derivative = staticmethod(derivative)
    Op.float_safe = float_safe
    make_primitive(Op, name)
    register(name, lambda lib, x: getattr(lib, name)(x), samples, **spec)(Op)

    def fn(input):
        if not isinstance(input, Tensor):
            raise_not_tensor(name, "input", 1, input)
        return Op.apply(input)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Same as torch.{name}."
    return fn

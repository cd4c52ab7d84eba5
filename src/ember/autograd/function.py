"""autograd.Function: user-defined ops with PyTorch's semantics, and the seed's legacy style."""

from __future__ import annotations

import functools
import inspect
import warnings

from ember._tensor import INFERENCE_SAVED, InferenceVersion, Tensor
from ember.autograd import forward_ad, hooks
from ember.autograd.anomaly import record_trace
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state, no_grad
from ember.autograd.graph import NO_EDGE, Node, SavedOutput, grad_accumulator, refresh_view


def _node_class(fn_cls) -> type:
    """The Node subclass that records calls of `fn_cls`, named as PyTorch names it."""
    # built-in ops are 'MulBackward0'; user Functions 'MyReLUBackward', as PyTorch names them
    suffix = "Backward0" if getattr(fn_cls, "_builtin_op", False) else "Backward"
    name = fn_cls.__dict__.get("node_name") or f"{fn_cls.__name__}{suffix}"
    return type(name, (Node,), {"__slots__": (), "_fn": fn_cls, "__module__": fn_cls.__module__})


_NOT_NEEDED = (None, 0)  # the edge of a tensor input that needs no gradient
_DUAL = DUAL_LEVEL_OPEN  # a dual level is open: inputs may carry tangents


def connect(node, args) -> None:
    """Give `node` an edge, an input meta entry and a needs_input_grad flag for each argument.

    `needs_input_grad[i]` is True when argument i is a tensor that requires grad.
    """
    edges, meta, needs = [], [], []
    for a in args:
        if isinstance(a, Tensor):
            if a._requires_grad:
                view = a._view_of
                if view is not None and view[3] != a._vc[0]:
                    refresh_view(a)
                fn = a.grad_fn
                edges.append((fn, a._output_nr) if fn is not None else (grad_accumulator(a), 0))
                d = a._data
                meta.append((d.shape, d.dtype))
                needs.append(True)
                continue
            edges.append(_NOT_NEEDED)
        else:
            edges.append(NO_EDGE)
        meta.append(None)
        needs.append(False)
    node._edges = tuple(edges)
    node._input_meta = tuple(meta)
    node.needs_input_grad = tuple(needs)


def attach_outputs(node, outputs) -> None:
    """Record on `node` how many outputs it has and their shapes and dtypes (what backward
    needs to stand in zeros for an output that gets no gradient)."""
    node._n_outputs = len(outputs)
    node._out_meta = tuple(
        (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None for o in outputs
    )


def pack_saved(node, args, outputs) -> None:
    """Turn what forward passed to save_for_backward into version-checked entries.

    An input is kept as the Tensor itself; an output is kept as data (SavedOutput) so the node
    does not hold its own output (no reference cycle); anything else is a constant.
    """
    to_save = node._to_save
    if to_save is None:
        return
    node._to_save = None
    pair = hooks.current_pair()
    saved = []
    for x in to_save:
        if x is None:
            saved.append(None)
            continue
        if not isinstance(x, Tensor):
            raise TypeError(
                f"save_for_backward can only save tensors, but argument was {type(x).__name__}"
            )
        if x._vc.__class__ is InferenceVersion:
            raise RuntimeError(INFERENCE_SAVED)
        if pair is not None:  # a saved_tensors_hooks pack hook holds it instead
            saved.append((hooks.pack(pair, x), None))
            continue
        entry = None
        for k, out in enumerate(outputs):
            if x is out:
                entry = (SavedOutput(k, out._data, out._vc), None)
                break
        if entry is None:
            entry = (x, x._vc[0])
        saved.append(entry)
    node._saved = tuple(saved)


def _all_inputs(forward, args, kwargs):
    """What setup_context gets as `inputs`: every argument of forward in order, defaults
    filled in (PyTorch's rule)."""
    try:
        bound = inspect.signature(forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args
    bound.apply_defaults()
    inputs = []
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            inputs.extend(value)
        elif kind is not inspect.Parameter.VAR_KEYWORD:
            inputs.append(value)
    return tuple(inputs)


def _is_overridden(cls, name):
    return getattr(cls, name) is not getattr(Function, name)


class Function:
    """Same as torch.autograd.Function.

    Subclass it with static `forward(ctx, *args)` and `backward(ctx, *grads)` (or `forward(*args)`
    plus `setup_context(ctx, inputs, output)`), and call `YourFunction.apply(...)`. Forward runs
    with grad mode off; backward gets and returns Tensors, so it can itself be differentiated.
    The legacy instance style (`MyReLU()(x)`, 2018 PyTorch) still works, with a warning.
    """

    _node_cls = Node
    _builtin_op = False  # ember's own ops (Primitive) set this: their backward is trusted

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "vjp" in cls.__dict__ and "backward" not in cls.__dict__:
            cls.backward = cls.__dict__["vjp"]  # PyTorch accepts either name
        cls._node_cls = _node_class(cls)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the op; override it."""
        raise NotImplementedError("You must implement the forward function for custom Function.")

    @staticmethod
    def backward(ctx, *grads):
        """Return one gradient per forward input (None where there is none); override it."""
        raise NotImplementedError("You must implement the backward function for custom Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """PyTorch 2 style: save what backward needs, when forward takes no ctx."""
        raise NotImplementedError

    vjp = backward

    @staticmethod
    def jvp(ctx, *tangents):
        """Forward-mode rule: one output tangent per output, given one tangent per forward
        input (zeros where an input carries none; None for non-tensors); override it to use
        the Function under `autograd.forward_ad`."""
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward, and record it in the graph when an input requires grad."""
        if _DUAL[0] and forward_ad.wants(args):
            with forward_ad.suspended():
                result, node = cls._apply(args, kwargs)
            forward_ad.custom_jvp(cls, node, args, result)
            return result
        return cls._apply(args, kwargs)[0]

    @classmethod
    def _apply(cls, args, kwargs):
        node = cls._node_cls()
        record = _state.enabled and any(isinstance(a, Tensor) and a._requires_grad for a in args)
        if record:
            connect(node, args)
            if _state.anomaly:
                record_trace(node)
        else:
            node._edges = tuple(NO_EDGE for _ in args)
            node.needs_input_grad = tuple(False for _ in args)
        with no_grad():
            if _is_overridden(cls, "setup_context"):
                out = cls.forward(*args, **kwargs)
                cls.setup_context(node, _all_inputs(cls.forward, args, kwargs), out)
            else:
                out = cls.forward(node, *args, **kwargs)
        return _finish(node, args, out, record), node

    # --- the legacy instance style: MyReLU()(x), self.save_for_backward, self.saved_tensors ---
    def __call__(self, *args):
        warnings.warn(
            f"{type(self).__name__}: calling an instance of an autograd.Function is deprecated "
            "legacy style; define static forward(ctx, ...)/backward(ctx, ...) and use "
            f"{type(self).__name__}.apply(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        node = _LegacyNode()
        node._legacy = self
        node._edges = tuple(NO_EDGE for _ in args)
        self._ctx = node
        record = _state.enabled and any(isinstance(a, Tensor) and a._requires_grad for a in args)
        if record:
            connect(node, args)
        with no_grad():
            out = self.forward(*args)
        return _finish(node, args, out, record)

    def save_for_backward(self, *tensors):
        """Legacy style: same as ctx.save_for_backward."""
        self._ctx.save_for_backward(*tensors)

    @property
    def saved_tensors(self):
        """Legacy style: same as ctx.saved_tensors."""
        return self._ctx.saved_tensors

    def mark_non_differentiable(self, *tensors):
        """Legacy style: same as ctx.mark_non_differentiable."""
        self._ctx.mark_non_differentiable(*tensors)

    @property
    def needs_input_grad(self):
        """Legacy style: same as ctx.needs_input_grad."""
        return self._ctx.needs_input_grad


class _LegacyNode(Node):
    """Runs a legacy Function instance's backward; refuses to be differentiated twice."""

    __slots__ = ("_legacy",)

    def name(self):
        return f"{type(self._legacy).__name__}Backward"

    def _run_backward(self, grads):
        if _state.enabled:  # create_graph=True asks for a differentiable backward
            raise RuntimeError(
                f"{type(self._legacy).__name__} is a legacy (instance-style) autograd.Function, "
                "which cannot be differentiated twice. Rewrite it with static forward(ctx, ...) "
                "and backward(ctx, ...) and call it with .apply()."
            )
        return self._legacy.backward(*grads)

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


def _finish(node, args, out, record):
    """Attach the forward's outputs to `node` and pack its saved tensors."""
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    if not record:
        node._to_save = None
        return out
    non_diff = node._non_differentiable or ()
    results = []
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        if any(o is a for a in args):  # forward returned an input: give the graph its own alias
            alias = Tensor._make(o._data, False, None)
            alias._vc = o._vc
            o = alias
        if any(o is n for n in non_diff):
            o._requires_grad = False
        else:
            o.grad_fn, o._output_nr, o._requires_grad = node, k, True
        results.append(o)
    attach_outputs(node, results)
    pack_saved(node, args, results)
    return results[0] if single else tuple(results)


def once_differentiable(backward):
    """Same as torch.autograd.function.once_differentiable: backward runs without a graph."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            result = backward(ctx, *grads)
        live = [g for g in grads if g is not None and g.requires_grad]
        if _state.enabled and live:
            result = result if isinstance(result, tuple) else (result,)
            return tuple(
                None if r is None else _OnceDifferentiableError.apply(r, ctx.name(), *live)
                for r in result
            )
        return result

    return wrapper


class _OnceDifferentiableError(Function):
    @staticmethod
    def forward(ctx, x, name, *grads):
        ctx.fn_name = name
        return Tensor._make(x._data, False, None)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            f"trying to differentiate twice a function ({ctx.fn_name}) that was marked with "
            "@once_differentiable"
        )

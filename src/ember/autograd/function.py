"""autograd.Function: user-defined ops with PyTorch's semantics, and the seed's legacy style."""

from __future__ import annotations

import functools
import inspect
import warnings

from ember import _backend
from ember._dtype import is_floating
from ember._tensor import INFERENCE_SAVED, InferenceVersion, Tensor
from ember.autograd import forward_ad, hooks
from ember.autograd.anomaly import record_trace
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state, no_grad
from ember.autograd.graph import NO_EDGE, Node, SavedOutput, grad_accumulator, refresh_view


def _node_class(fn_cls) -> type:
    """The Node subclass that records calls of `fn_cls`, named as PyTorch names it."""
    # built-in ops are 'MulBackward0'; user Functions 'MyReLUBackward', as PyTorch names them
    if getattr(fn_cls, "_builtin_op", False):
        name = fn_cls.__dict__.get("node_name") or f"{fn_cls.__name__}Backward0"
        attrs = {"__slots__": (), "_fn": fn_cls, "__module__": fn_cls.__module__}
        return type(name, (Node,), attrs)
    name = fn_cls.__dict__.get("node_name") or f"{fn_cls.__name__}Backward"
    attrs = {"__slots__": (), "_function": fn_cls, "__module__": fn_cls.__module__}
    return type(name, (FunctionCtx,), attrs)


class FunctionCtx(Node):
    """Same as torch.autograd.function.FunctionCtx: the `ctx` a custom Function's forward,
    setup_context, backward and jvp receive, which is also its node in the graph.

    Beyond what every node has (save_for_backward, saved_tensors, needs_input_grad,
    mark_non_differentiable), it takes `mark_dirty` (inputs the forward changed in place),
    `save_for_forward` (what `jvp` reads as saved_tensors), `set_materialize_grads` and
    `_materialize_non_diff_grads` (whether outputs that got no gradient, or non-differentiable
    ones, reach backward as zeros or as None).
    """

    __slots__ = ()
    _function = None  # the Function class; set on each per-Function subclass
    _materialize = False  # the engine leaves None gradients alone: _run_backward decides
    _materialize_grads = True
    _materialize_non_diff_grads = True
    _dirty = None
    _for_forward = None
    _in_jvp = False  # True while this Function's jvp runs: saved_tensors reads _for_forward
    _saved_taken = False  # clear_saved_tensors_on_access: saved_tensors was read
    _non_diff_outputs = ()  # output indices that are not differentiable

    def mark_dirty(self, *tensors):
        """Same as torch's ctx.mark_dirty: these inputs were changed in place by forward and
        are returned; they become outputs of this Function in the graph."""
        self._dirty = tensors

    def set_materialize_grads(self, value: bool):
        """Same as torch's ctx.set_materialize_grads: False passes None (not zeros) to backward
        for outputs that got no gradient."""
        self._materialize_grads = bool(value)

    def save_for_forward(self, *tensors):
        """Same as torch's ctx.save_for_forward: tensors (or None) that `jvp` reads as
        ctx.saved_tensors."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    "save_for_forward expects all arguments to be tensors or None, but got "
                    f"{type(t).__name__}"
                )
        self._for_forward = tensors

    @property
    def saved_tensors(self):
        """The tensors given to save_for_backward (save_for_forward inside jvp), checked against
        in-place changes since. With `clear_saved_tensors_on_access = True` on the Function, they
        can be read once, and the graph lets go of them at that read."""
        if self._in_jvp:
            return tuple(self._for_forward or ())
        if getattr(self._function, "clear_saved_tensors_on_access", False):
            if self._saved_taken:
                raise RuntimeError(
                    "saved_tensors can only be accessed once when "
                    "clear_saved_tensors_on_access=True is set on the autograd.Function. Either "
                    "access saved_tensors only once, or set clear_saved_tensors_on_access=False."
                )
            tensors = Node.saved_tensors.fget(self)
            self._saved_taken = True
            self._saved = None
            return tensors
        return Node.saved_tensors.fget(self)

    @property
    def saved_variables(self):
        """Deprecated spelling of saved_tensors (warns)."""
        warnings.warn(
            "'saved_variables' is deprecated; use 'saved_tensors'", DeprecationWarning, stacklevel=2
        )
        return self.saved_tensors

    def _run_backward(self, grads):
        return _backward_of(self._function)(self, *self._grads_for_backward(grads))

    def _grads_for_backward(self, grads):
        """Zeros in place of the gradients that did not arrive, as ctx's settings ask."""
        if not self._materialize_grads or self._out_meta is None or None not in grads:
            return grads
        like = next((g for g in grads if g is not None), None)
        if like is None:
            return grads
        xp = _backend.array_module(like._data)
        skip = () if self._materialize_non_diff_grads else self._non_diff_outputs
        grads = list(grads)
        for k, g in enumerate(grads):
            meta = self._out_meta[k] if k < len(self._out_meta) else None
            if g is None and meta is not None and k not in skip:
                grads[k] = Tensor._make(xp.zeros(meta[0], meta[1]))
        return grads


def _backward_of(function):
    """The user's backward of a custom Function: its `backward` or its `vjp` (one of them)."""
    has_backward = function.backward is not Function.backward
    has_vjp = function.vjp is not Function.vjp
    if has_backward and has_vjp:
        raise RuntimeError(
            "Implementing both 'backward' and 'vjp' for a custom Function is not allowed. You "
            "should only implement one of them."
        )
    if has_vjp:
        return function.vjp
    if has_backward:
        return function.backward
    raise NotImplementedError(
        "You must implement either the backward or vjp method for your custom autograd.Function "
        "to use it with backward mode AD."
    )


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
                fn = a._node  # (a stale view was re-made just above)
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
            saved.append((hooks.pack(pair, x, weak=False), None))  # may be any tensor
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
    """A custom differentiable operation with a hand-written backward, as
    torch.autograd.Function.

    Subclass it with two static methods and call it through `apply`:

    - `forward(ctx, *args)` computes the result from tensors (and any other arguments). It
      runs with grad mode off, so nothing inside it is recorded. Save what backward needs
      with `ctx.save_for_backward(*tensors)`; plain values can go on `ctx` as attributes.
    - `backward(ctx, *grads)` gets one gradient per output (the loss's gradient with respect
      to that output) and returns one gradient per forward input, None for inputs that are
      not tensors or need none (`ctx.needs_input_grad[i]` says which need one). It reads
      `ctx.saved_tensors`. Backward is written with ember ops on Tensors, so it can itself
      be differentiated (`create_graph=True` gives second derivatives).

    PyTorch 2's other style also works: `forward(*args)` without ctx, plus
    `setup_context(ctx, inputs, output)` to save what backward needs. `jvp(ctx, *tangents)`
    adds a forward-mode rule. On ctx, `mark_dirty` declares inputs changed in place,
    `mark_non_differentiable` outputs that get no gradient, and `set_materialize_grads(False)`
    passes None instead of zeros for outputs that got no gradient.

    The 2018 instance style (`forward(self, x)`, `self.save_for_backward`, `MyReLU()(x)`)
    still runs, with a DeprecationWarning that says how to write it today.

    Examples:
        >>> import ember
        >>> class Exp(ember.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         y = x.exp()
        ...         ctx.save_for_backward(y)
        ...         return y
        ...
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (y,) = ctx.saved_tensors
        ...         return grad * y                 # d/dx exp(x) = exp(x)
        >>> x = ember.tensor([0.0, 1.0], requires_grad=True)
        >>> y = Exp.apply(x)
        >>> y.sum().backward()
        >>> [round(g, 4) for g in x.grad.tolist()]
        [1.0, 2.7183]
        >>> x64 = ember.randn(3, dtype=ember.float64, requires_grad=True)
        >>> ember.autograd.gradcheck(Exp.apply, x64)     # against finite differences
        True
    """

    _node_cls = Node
    _builtin_op = False  # ember's own ops (Primitive) set this: their backward is trusted
    # ember's vmap batches the array calls inside a Function's forward and backward (or runs
    # one call per sample), so a Function needs no rule of its own: ember never reads this
    # flag (PyTorch's) nor calls `vmap` below
    generate_vmap_rule = False
    clear_saved_tensors_on_access = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._node_cls = cls._backward_cls = _node_class(cls)  # PyTorch's name: _backward_cls

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the outputs from the inputs; every Function overrides it.

        Called by `apply` with grad mode off. With ctx as the first argument, save what
        backward needs on it; without (the `setup_context` style), `setup_context` does.
        Returns a Tensor or a tuple of them (other values are passed through).
        """
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx, *grads):
        """Return the gradient with respect to each forward input, given the gradient with
        respect to each output; every differentiable Function overrides it (or `vjp`, its
        other name, but not both).

        Args:
            ctx: the object forward (or setup_context) saved onto.
            *grads (Tensor): one per output of forward, shaped like that output.

        Returns:
            One value per forward input: a Tensor shaped like (or broadcastable to) that
            input, or None where the input is not a tensor or needs no gradient.
        """
        return _backward_of(ctx._function)(ctx, *grads)

    @staticmethod
    def vjp(ctx, *grads):
        """Same as backward: override one of the two."""
        return _backward_of(ctx._function)(ctx, *grads)

    @staticmethod
    def vmap(info, in_dims, *args):
        """PyTorch's batching rule hook. ember's vmap needs no rule from a Function (see
        generate_vmap_rule) and never calls it; calling it raises, as PyTorch's default does."""
        raise NotImplementedError(
            "To use autograd.Function with vmap, you must either override the vmap staticmethod "
            "or set generate_vmap_rule=True."
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Save what backward needs when forward takes no ctx (PyTorch 2's style): `inputs`
        is the tuple of forward's arguments and `output` what it returned."""
        raise NotImplementedError

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
        """Run the Function on `args`: call forward, and record a node in the graph when
        grad mode is on and a tensor input requires grad (its outputs then have a
        `grad_fn` whose backward is this Function's).

        This is how a Function is used: `y = MyFunction.apply(x, ...)`, never
        `MyFunction.forward(...)` directly.
        """
        if _DUAL[0] and forward_ad.wants(args):
            with forward_ad.suspended():
                result, node, raw = cls._apply(args, kwargs)
            try:
                _custom_jvp(cls, node, args, raw, result)
            finally:
                _forget_marks(node)
            return result
        result, node, _ = cls._apply(args, kwargs)
        _forget_marks(node)
        return result

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
        return _finish(node, args, out, record), node, out

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
        result = _finish(node, args, out, record)
        _forget_marks(node)
        return result

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


class _LegacyNode(FunctionCtx):
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
        return self._legacy.backward(*self._grads_for_backward(grads))

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


_DIRTY_NOT_RETURNED = (
    "Some elements marked as dirty during the forward method were not returned as output. The "
    "inputs that are modified inplace must all be outputs of the Function."
)
_DIRTY_NOT_INPUT = (
    "ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that have been "
    "mutated should be passed to ctx.mark_dirty()."
)
_DIRTY_VIEW_MULTI = (
    "If your Function modifies inplace an input that is a view of another Tensor, your Function "
    "cannot return more than one Tensor. This is not supported by the current autograd engine. "
    "You should either make sure the input is not a view (using .clone() for example) or make "
    "your Function only return one Tensor (potentially splitting it into two Functions: one "
    "doing the inplace that returns a single Tensor and a second one that does the other "
    "operations)."
)


def _is_in(x, tensors):
    return any(x is t for t in tensors)


def _differentiable(o, non_diff):
    return is_floating(o._data.dtype) and not _is_in(o, non_diff)


def _check_dirty(node, args, outs, record):
    """PyTorch's rules for ctx.mark_dirty, checked before any output is changed."""
    dirty = node._dirty
    if not dirty:
        return
    for d in dirty:
        if not _is_in(d, outs):
            raise RuntimeError(_DIRTY_NOT_RETURNED)
        if not _is_in(d, args):
            if d._base is not None:
                raise RuntimeError(_DIRTY_NOT_INPUT)
            warnings.warn(_DIRTY_NOT_INPUT, UserWarning, stacklevel=4)
    if not record:
        return
    non_diff = node._non_differentiable or ()
    n_tensors = sum(isinstance(o, Tensor) for o in outs)
    for d in dirty:
        if not _is_in(d, args) or not _differentiable(d, non_diff):
            continue
        if d.grad_fn is None and d._requires_grad and d._base is None:
            raise RuntimeError(
                "a leaf Variable that requires grad has been used in an in-place operation."
            )
        base = d._base
        if base is not None:
            if base.grad_fn is None and base._requires_grad:
                raise RuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place "
                    "operation."
                )
            if n_tensors > 1:
                raise RuntimeError(_DIRTY_VIEW_MULTI)


def _finish(node, args, out, record):
    """Attach the forward's outputs to `node` and pack its saved tensors.

    As PyTorch: an output marked dirty is returned as is and becomes this node's output in the
    graph (its version goes up once more); an input returned unchanged comes back as a new view
    of it; non-differentiable outputs (marked, or not floating point) do not require grad.
    """
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    _check_dirty(node, args, outs, record)
    dirty = node._dirty or ()
    if not record:
        node._to_save = None
        # an input that requires grad comes back detached, else as a view (PyTorch's rule)
        results = [
            _alias(o, view=not o.requires_grad) if _returns_input(o, args, dirty) else o
            for o in outs
        ]
        for d in dirty:
            d._vc[0] += 1
        _refuse_inplace_on_views(results, dirty)
        return results[0] if single else tuple(results)
    non_diff = node._non_differentiable or ()
    results = []
    skipped = []
    rebase = []
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        returned = _returns_input(o, args, dirty)
        if not _differentiable(o, non_diff):
            if returned:
                o = _alias(o, view=not o.requires_grad)
            elif _is_in(o, dirty):
                o._vc[0] += 1
            elif o._base is None:  # PyTorch detaches it (not a view)
                o.grad_fn, o._requires_grad = None, False
            skipped.append(k)
            results.append(o)
            continue
        if returned:
            o = _alias(o)
        if _is_in(o, dirty) and _is_in(o, args) and o._base is not None:
            rebase.append((k, o))  # an input view changed in place: its base must follow
        else:
            if _is_in(o, dirty):
                o._vc[0] += 1
            elif o._view_of is not None:  # a view made in forward: changes made there are in
                o._view_of = (*o._view_of[:3], o._vc[0])  # this node's output already
            o.grad_fn, o._output_nr, o._requires_grad = node, k, True
        results.append(o)
    attach_outputs(node, results)
    if skipped:
        node._non_diff_outputs = tuple(skipped)
    for k, view in rebase:
        _rebase_view(node, k, view)
    _refuse_inplace_on_views(results, dirty)
    pack_saved(node, args, results)
    return results[0] if single else tuple(results)


def _refuse_inplace_on_views(results, dirty):
    """Views a forward returns (not marked dirty) may not be changed in place later in a
    recorded graph, as PyTorch's rule: the Function's backward would not see the change."""
    for o in results:
        if isinstance(o, Tensor) and o._base is not None and not _is_in(o, dirty):
            o._refuse_inplace_as_custom_output()


def _forget_marks(node):
    """Drop the tensors forward marked or saved for jvp, once they have been used: the node
    must not keep its own outputs alive (a cycle through their grad_fn)."""
    attributes = node.__dict__
    for name in ("_dirty", "_non_differentiable", "_for_forward"):
        attributes.pop(name, None)


def _returns_input(o, args, dirty):
    return isinstance(o, Tensor) and _is_in(o, args) and not _is_in(o, dirty)


def _alias(o, view=True):
    """A new tensor on `o`'s storage (what PyTorch returns for an input returned as is): a view
    of it, or with `view=False` a detached alias."""
    alias = type(o)._make(o._data, False, None)  # a Tensor subclass stays that subclass
    alias._vc = o._vc
    if getattr(o, "__dict__", None):
        alias.__dict__.update(o.__dict__)
    if view:
        alias._base = o._base if o._base is not None else o
    return alias


def _rebase_view(node, k, view):
    """A forward changed the view `view` (an input) in place: as a built-in in-place op would,
    write this node's output through the view into its base, so the base's graph and the view's
    both see the change."""
    from ember.autograd.grad_mode import enable_grad

    result = Tensor._make(view._data, True, node, k)
    result._vc = view._vc
    with enable_grad():
        view.copy_(result)  # same values; the in-place machinery updates both graphs


def once_differentiable(backward):
    """Same as torch.autograd.function.once_differentiable: backward runs without a graph.

    Under `create_graph=True`, the gradients it returns still require grad (so that a second
    differentiation is noticed), but differentiating them raises instead of giving a wrong
    (zero) result.
    """

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            result = backward(ctx, *grads)
        if not _state.enabled or not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return result
        single = not isinstance(result, tuple)
        results = (result,) if single else result
        stand_ins = [
            Tensor._make(r._data, True, None) if isinstance(r, Tensor) else r for r in results
        ]
        guarded = _Error.apply(ctx.name(), *stand_ins)
        guarded = guarded if isinstance(guarded, tuple) else (guarded,)
        return guarded[0] if single else guarded

    return wrapper


class _Error(Function):
    """Stands between once_differentiable gradients and anything that differentiates them."""

    node_name = "Error"  # PyTorch's name for this node

    @staticmethod
    def forward(ctx, name, *grads):
        ctx.fn_name = name
        outs = tuple(Tensor._make(g._data) if isinstance(g, Tensor) else g for g in grads)
        return outs if len(outs) != 1 else outs[0]

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            f"trying to differentiate twice a function ({ctx.fn_name}) that was marked with "
            "@once_differentiable"
        )


class InplaceFunction(Function):
    """Same as torch.autograd.function.InplaceFunction: a Function that may work in place,
    as its `inplace` flag says (mark the changed inputs with ctx.mark_dirty)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


# --- forward mode: a custom Function's own jvp, with PyTorch's checks on what it returns ---
def _custom_jvp(function, ctx, args, raw, result):
    """Give `result` (the wrapped outputs of `raw`, what forward returned) the tangents that
    `function.jvp(ctx, *input_tangents)` returns."""
    tangents, given, versions = [], [], []
    for a in args:
        tangent = forward_ad.tangent_of(a) if isinstance(a, Tensor) else None
        given.append(tangent)
        versions.append(None if tangent is None else tangent._vc[0])
        if tangent is None and isinstance(a, Tensor) and is_floating(a._data.dtype):
            tangent = Tensor._make(_backend.array_module(a._data).zeros_like(a._data))
        tangents.append(tangent)
    ctx._in_jvp = True
    try:
        with forward_ad.suspended():
            out_tangents = function.jvp(ctx, *tangents)
    finally:
        ctx._in_jvp = False
    raws = raw if isinstance(raw, tuple) else (raw,)
    outs = result if isinstance(result, tuple) else (result,)
    if not isinstance(out_tangents, tuple):
        out_tangents = (out_tangents,)
    if len(out_tangents) != len(raws):
        raise RuntimeError(
            "Function's jvp returned an invalid number of forward gradients (expected "
            f"{len(raws)} but got {len(out_tangents)})"
        )
    non_diff = ctx._non_differentiable or ()
    dirty = ctx._dirty or ()
    for i, (r, out, t) in enumerate(zip(raws, outs, out_tangents)):
        if not isinstance(r, Tensor) or not _differentiable(r, non_diff):
            if t is not None:
                raise RuntimeError(
                    f"Function's jvp returned a gradient at position {i}, but the corresponding "
                    "forward output is not a differentiable Tensor. You should return None at "
                    "that position instead."
                )
            continue
        if t is None:
            continue
        j = next((j for j, a in enumerate(args) if a is r), None)
        if _is_in(r, dirty):
            _check_inplace_tangent(j, given, versions, t)
        elif out._base is not None:
            _check_view_tangent(out, args, given, t)
        forward_ad.set_tangent(out, t)


def _check_inplace_tangent(j, given, versions, t):
    if j is None:
        raise RuntimeError(
            "Only input Tensors should be given to ctx.mark_dirty(). If a Tensor is not an "
            "input, there is no need to pass it to mark_dirty()."
        )
    if given[j] is None:
        return
    if t._vc[0] == versions[j]:
        raise RuntimeError(
            "An inplace custom Function is not modifying the forward mode gradients inplace. If "
            "the forward is modifying an input inplace, then the jvp function must modify the "
            "corresponding gradient inplace."
        )
    if t is not given[j]:
        raise RuntimeError(
            "An inplace custom Function is not returning the forward mode gradients as-is. If "
            "the forward is modifying an input inplace, then the jvp function must modify the "
            "gradient inplace and return it as-is."
        )


def _check_view_tangent(out, args, given, t):
    """An output that views an input (or is an input returned as is) needs a tangent that
    views that input's tangent."""
    for a, tangent in zip(args, given):
        if not isinstance(a, Tensor) or tangent is None:
            continue
        if (a._base if a._base is not None else a) is not out._base:
            continue
        if t._base is None:
            raise RuntimeError(
                "A custom Function's forward is returning a view (or an input as-is) but the jvp "
                "is not returning a view."
            )
        if tangent._base is not None:
            if t._base is not tangent._base:
                raise RuntimeError(
                    "A custom Function is returning a view but the jvp is not returning a view "
                    "of the same base as the given grad input."
                )
        elif t._base is not tangent:
            raise RuntimeError(
                "A custom Function is returning a view but the jvp is not returning a view of "
                "the given grad input."
            )
        return

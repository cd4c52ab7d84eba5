"""Activation checkpointing: trade compute for memory, as torch.utils.checkpoint does.

A checkpointed function keeps only its inputs for backward; the backward pass runs the
function again (with the random state it saw the first time) and backpropagates through that
recomputation. Two implementations, chosen by `use_reentrant` as in PyTorch:

- reentrant (`CheckpointFunction`): forward under no_grad; backward reruns the function on
  detached inputs and calls `ember.autograd.backward` inside the running backward pass, so
  parameters the function closes over get their `.grad` from that nested pass. Like PyTorch's,
  it refuses `autograd.grad` and `backward(inputs=...)`.
- non-reentrant: forward records the function's graph once, to find every leaf it reaches
  (parameters captured by closures and modules included), then drops it and returns outputs
  hung on one node whose inputs are the function's tensor arguments and those leaves. Its
  backward reruns the function and returns, through `autograd.grad`, the gradient of each, so
  the surrounding engine routes them: `autograd.grad`, `inputs=` and `create_graph` all work.
"""

from __future__ import annotations

import contextlib
import threading

from ember._random import get_rng_state, set_rng_state
from ember._tensor import Tensor
from ember._warn import warn
from ember.autograd import engine as _engine
from ember.autograd.engine import grad as _autograd_grad
from ember.autograd.function import Function
from ember.autograd.grad_mode import enable_grad, is_grad_enabled
from ember.autograd.graph import AccumulateGrad, type_string
from ember.autograd.hooks import get_gradient_edge

__all__ = [
    "CheckpointError",
    "CheckpointFunction",
    "checkpoint",
    "checkpoint_sequential",
    "set_checkpoint_early_stop",
]


class CheckpointError(RuntimeError):
    """Same as torch.utils.checkpoint.CheckpointError: the recomputation did not match the
    original forward pass."""


_REENTRANT_GRAD_ERROR = (
    "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or passing "
    "an `inputs` parameter to .backward(). To resolve this error, you can either set "
    "use_reentrant=False, or call .backward() without passing the `inputs` argument."
)

_EXPLICIT_WARNING = (
    "{who}: the use_reentrant parameter should be passed explicitly. PyTorch says a future "
    "version will raise without it; for now (as torch 2.13) it defaults to use_reentrant=True. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants."
)

_early_stop = [True]  # set_checkpoint_early_stop's flag (kept for compatibility, see there)


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool):
    """Same as torch.utils.checkpoint.set_checkpoint_early_stop, accepted for compatibility.

    PyTorch's non-reentrant recomputation stops as soon as every saved tensor backward needs
    has been recomputed. Ember's recomputation backpropagates from the function's outputs, so
    it always reruns the whole function; this flag (like `checkpoint(early_stop=...)`) changes
    nothing but is accepted, and results are the same either way.
    """
    previous = _early_stop[0]
    _early_stop[0] = bool(enable)
    try:
        yield
    finally:
        _early_stop[0] = previous


def noop_context_fn():
    """The default `context_fn`: two context managers that do nothing."""
    return contextlib.nullcontext(), contextlib.nullcontext()


@contextlib.contextmanager
def _replayed_rng(state, enabled):
    """Run the block from the random state `state`, then put back the state it found."""
    if not enabled:
        yield
        return
    outer = get_rng_state()
    set_rng_state(state)
    try:
        yield
    finally:
        set_rng_state(outer)


# --- nested arguments and results: tuples, lists, namedtuples and dicts of anything ---


def _flatten(tree):
    """(leaves, spec): the non-container values of `tree` in order, and how to rebuild it."""
    leaves = []

    def walk(x):
        kind = type(x)
        if kind is tuple or kind is list:
            return (kind, None, [walk(v) for v in x])
        if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
            return (kind, "named", [walk(v) for v in x])
        if kind is dict:
            return (dict, list(x), [walk(v) for v in x.values()])
        leaves.append(x)
        return None

    return leaves, walk(tree)


def _unflatten(leaves, spec):
    """Rebuild what `_flatten` took apart, with `leaves` in place of the old leaves."""
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, extra, children = s
        values = [build(c) for c in children]
        if kind is dict:
            return dict(zip(extra, values))
        if extra == "named":
            return kind(*values)
        return kind(values)

    return build(spec)


# --- reentrant ---


_own = threading.local()  # depths of the backward passes a checkpoint started itself


def _backward_wants_inputs() -> bool:
    """Whether the backward pass running now was started by autograd.grad or with `inputs=`
    (PyTorch's torch.autograd._is_checkpoint_valid), skipping the passes that a non-reentrant
    checkpoint starts itself: they always capture, on behalf of the pass around them."""
    passes = _engine.running_passes()
    owned = getattr(_own, "depths", frozenset())
    for depth in range(len(passes) - 1, -1, -1):
        if depth not in owned:
            return passes[depth]
    return False


class CheckpointFunction(Function):
    """Same as torch.utils.checkpoint.CheckpointFunction: the reentrant checkpoint.

    `CheckpointFunction.apply(run_function, preserve_rng_state, *args)` runs `run_function`
    under no_grad, keeping only its tensor arguments; backward reruns it and backpropagates
    through the rerun with a nested `ember.autograd.backward`. Every tensor output requires
    grad when any argument does.
    """

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warn("None of the inputs have requires_grad=True. Gradients will be None")
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        if preserve_rng_state:
            ctx.fwd_rng_state = get_rng_state()
        # non-tensor arguments stay on ctx; tensors go through save_for_backward, which
        # checks them for in-place changes before backward uses them
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        if _backward_wants_inputs():
            raise RuntimeError(_REENTRANT_GRAD_ERROR)
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        detached = [_detached_copy(a) if isinstance(a, Tensor) else a for a in inputs]
        state = ctx.fwd_rng_state if ctx.preserve_rng_state else None
        with _replayed_rng(state, ctx.preserve_rng_state), enable_grad():
            outputs = ctx.run_function(*detached)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        roots, root_grads, any_requires_grad = [], [], False
        for out, g in zip(outputs, grads):
            if isinstance(out, Tensor) and out.requires_grad:
                any_requires_grad = True
                if g is not None:  # an output that got no gradient adds nothing
                    roots.append(out)
                    root_grads.append(g)
        if not any_requires_grad:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        if roots:
            _engine.backward(roots, root_grads)
        return (None, None) + tuple(a.grad if isinstance(a, Tensor) else None for a in detached)


def _detached_copy(t):
    """`t` cut from its graph, on the same storage, requiring grad when `t` does."""
    d = t.detach()
    if t.requires_grad:
        d.requires_grad_(True)
    return d


# --- non-reentrant ---


def _leaves_reached(outputs):
    """Leaf tensors that require grad and that the graphs of `outputs` reach, in order."""
    found, seen_leaf = [], set()

    def add(t):
        if id(t) not in seen_leaf:
            seen_leaf.add(id(t))
            found.append(t)

    stack, seen = [], set()
    for o in outputs:
        if isinstance(o, Tensor) and o.requires_grad:
            if o.grad_fn is None:
                add(o)
            else:
                stack.append(o.grad_fn)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, AccumulateGrad):
            add(node.variable)
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    return found


def _metadata(t):
    return {"shape": tuple(t.shape), "dtype": t.dtype, "device": t.device}


class _Recipe:
    """What a non-reentrant checkpoint keeps to rerun its function in backward."""

    __slots__ = (
        "function",
        "leaves",
        "spec",
        "kwargs_spec",
        "tensor_positions",
        "rng_state",
        "preserve",
        "recompute_context",
        "determinism_check",
        "out_positions",
        "out_metadata",
        "n_inputs",
        "pending",
    )


def _recompute_grad(roots, targets, root_grads, create_graph):
    """autograd.grad of one recomputation, marked as a checkpoint's own pass."""
    owned = getattr(_own, "depths", frozenset())
    _own.depths = owned | {len(_engine.running_passes())}
    # leaves as their gradient edges: their hooks run once, when the pass around this one
    # hands them the gradient, not here too
    targets = [get_gradient_edge(t) if t.grad_fn is None else t for t in targets]
    try:
        return _autograd_grad(
            roots,
            targets,
            root_grads,
            retain_graph=True,  # leaves and graphs outside the function may be reached again
            create_graph=create_graph,
            allow_unused=True,
        )
    finally:
        _own.depths = owned


class _NonReentrantCheckpoint(Function):
    """One node standing for the whole checkpointed function (see the module docstring)."""

    node_name = "CheckpointBackward"

    @staticmethod
    def forward(ctx, recipe, *tensors):
        ctx.recipe = recipe
        # the tensors themselves (autograd.grad needs the very leaves the rerun reaches, and
        # saved-tensor hooks may hand back copies), their versions, and save_for_backward too,
        # for PyTorch's "backward through the graph a second time" error
        ctx.tensors = tensors
        ctx.versions = [t._version for t in tensors]
        ctx.save_for_backward(*tensors)
        outputs, recipe.pending = recipe.pending, None
        return tuple(o.detach() for o in outputs)

    @staticmethod
    def backward(ctx, *grads):
        recipe = ctx.recipe
        ctx.saved_tensors  # noqa: B018 - raises once a backward without retain_graph freed them
        saved = ctx.tensors
        for t, version in zip(saved, ctx.versions):
            if t._version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{type_string(t)}], which is saved by "
                    f"{ctx.name()}, is at version {t._version}; expected version {version} "
                    "instead. Hint: clone() the tensor before changing it in place, or use an "
                    "out-of-place op."
                )
        inputs = saved[: recipe.n_inputs]
        create_graph = is_grad_enabled()  # the engine runs backward with create_graph's mode
        leaves = list(recipe.leaves)
        stand_ins = {}
        for i, t in zip(recipe.tensor_positions, inputs):
            if t.requires_grad:
                leaves[i] = stand_ins[i] = _detached_copy(t)
            else:
                leaves[i] = t
        args, kwargs = _unflatten(leaves, recipe.spec)
        with (
            _replayed_rng(recipe.rng_state, recipe.preserve),
            enable_grad(),
            recipe.recompute_context,
        ):
            outputs = recipe.function(*args, **kwargs)
        out_leaves, _ = _flatten(outputs)
        _check_recomputed(recipe, out_leaves)

        roots, root_grads = [], []
        for j, g in zip(recipe.out_positions, grads):
            out = out_leaves[j] if j < len(out_leaves) else None
            if g is not None and isinstance(out, Tensor) and out.requires_grad:
                roots.append(out)
                root_grads.append(g)
        # each argument position has its own stand-in, so an input passed twice, or a
        # captured leaf also passed as an argument, gets one share per use and the engine
        # around sums them
        targets, slots = [], []
        for k, t in enumerate(saved):
            if k < recipe.n_inputs:
                target = stand_ins.get(recipe.tensor_positions[k])
            else:
                target = t if t.requires_grad else None
            if target is not None:
                targets.append(target)
                slots.append(k)
        result = [None] * len(saved)
        if roots and targets:
            found = _recompute_grad(roots, targets, root_grads, create_graph)
            if create_graph:
                found = _reattach(found, stand_ins, recipe, inputs)
            for k, g in zip(slots, found):
                result[k] = g
        return (None, *result)


def _check_recomputed(recipe, out_leaves):
    """Raise CheckpointError when the rerun's outputs differ from the forward's (determinism
    check "default": same positions, shapes, dtypes and devices)."""
    if recipe.determinism_check == "none":
        return
    mismatched = []
    for j, meta in zip(recipe.out_positions, recipe.out_metadata):
        out = out_leaves[j] if j < len(out_leaves) else None
        again = _metadata(out) if isinstance(out, Tensor) else repr(type(out).__name__)
        if again != meta:
            mismatched.append(
                f"output at position {j}:\nsaved metadata: {meta}\nrecomputed metadata: {again}\n"
            )
    if mismatched:
        raise CheckpointError(
            "torch.utils.checkpoint: Recomputed values for the following tensors have "
            "different metadata than during the forward pass.\n"
            + "".join(mismatched)
            + "(The function must compute the same thing when it is rerun in backward.)"
        )


class _Reattach(Function):
    """Gradients computed on stand-in inputs, made differentiable w.r.t. the real inputs.

    With create_graph, the recomputed gradients depend on the stand-ins (leaves cut from the
    graph, so the first-order pass cannot run past them into the inputs' history). This node
    passes each gradient through unchanged and, in double backward, maps what the stand-ins
    would receive onto the real inputs.
    """

    node_name = "CheckpointReattachBackward"

    @staticmethod
    def forward(ctx, n_inputs, stand_ins, *tensors):
        ctx.n_inputs, ctx.stand_ins = n_inputs, stand_ins
        ctx.grads = grads = tensors[n_inputs:]  # with their graphs: hooks could copy them
        return tuple(g.detach() for g in grads)

    @staticmethod
    def backward(ctx, *cotangents):
        grads = ctx.grads
        pairs = [(g, v) for g, v in zip(grads, cotangents) if v is not None and g.requires_grad]
        to_inputs = [None] * ctx.n_inputs
        if pairs:
            live = [k for k, s in enumerate(ctx.stand_ins) if s is not None]
            found = _recompute_grad(
                [g for g, _ in pairs],
                [ctx.stand_ins[k] for k in live],
                [v for _, v in pairs],
                is_grad_enabled(),
            )
            for k, g in zip(live, found):
                to_inputs[k] = g
        return (None, None, *to_inputs, *cotangents)


def _reattach(found, stand_ins, recipe, inputs):
    """Hang the create_graph gradients `found` on the real `inputs` (see _Reattach)."""
    keep = [k for k, g in enumerate(found) if g is not None and g.requires_grad]
    if not keep or not stand_ins:
        return found
    per_input = [stand_ins.get(p) for p in recipe.tensor_positions]
    attached = _Reattach.apply(len(inputs), per_input, *inputs, *[found[k] for k in keep])
    found = list(found)
    for k, g in zip(keep, attached):
        found[k] = g
    return found


def _checkpoint_without_reentrant(function, preserve, context_fn, determinism_check, args, kwargs):
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"determinism_check should be one of ['default', 'none'], but got {determinism_check}"
        )
    forward_context, recompute_context = context_fn()
    if not is_grad_enabled():  # nothing will be differentiated: just run it
        with forward_context:
            return function(*args, **kwargs)
    rng_state = get_rng_state() if preserve else None
    leaves, spec = _flatten((args, kwargs))
    tensor_positions = [i for i, v in enumerate(leaves) if isinstance(v, Tensor)]
    stand_in_leaves = list(leaves)
    for i in tensor_positions:
        if leaves[i].requires_grad:
            stand_in_leaves[i] = _detached_copy(leaves[i])
    a, k = _unflatten(stand_in_leaves, spec)
    with forward_context:
        result = function(*a, **k)

    out_leaves, out_spec = _flatten(result)
    originals = {id(stand_in_leaves[i]): leaves[i] for i in tensor_positions}
    captured = [t for t in _leaves_reached(out_leaves) if id(t) not in originals]
    out_positions = []
    for j, o in enumerate(out_leaves):
        if not isinstance(o, Tensor):
            continue
        if id(o) in originals:  # the function returned an argument: hand back the argument
            out_leaves[j] = originals[id(o)]
        elif o.grad_fn is not None:
            out_positions.append(j)
    if not out_positions:
        return _unflatten(out_leaves, out_spec)

    recipe = _Recipe()
    recipe.function = function
    recipe.leaves = [None if isinstance(v, Tensor) else v for v in leaves]
    recipe.spec = spec
    recipe.tensor_positions = tensor_positions
    recipe.rng_state = rng_state
    recipe.preserve = preserve
    recipe.recompute_context = recompute_context
    recipe.determinism_check = determinism_check
    recipe.out_positions = out_positions
    recipe.out_metadata = [_metadata(out_leaves[j]) for j in out_positions]
    recipe.n_inputs = len(tensor_positions)
    # the recorded graph dies with these outputs: the node gets detached copies
    recipe.pending = [out_leaves[j] for j in out_positions]
    for j in out_positions:
        out_leaves[j] = None
    del result, a, k, stand_in_leaves, originals
    attached = _NonReentrantCheckpoint.apply(
        recipe, *[leaves[i] for i in tensor_positions], *captured
    )
    for j, t in zip(out_positions, attached):
        out_leaves[j] = t
    return _unflatten(out_leaves, out_spec)


# --- the public entry points ---


def checkpoint(
    function,
    *args,
    use_reentrant=None,
    context_fn=noop_context_fn,
    determinism_check="default",
    debug=False,
    early_stop=True,
    preserve_rng_state=True,
    **kwargs,
):
    """Same as torch.utils.checkpoint.checkpoint: run `function(*args, **kwargs)` without
    keeping its intermediate tensors, and recompute them in backward.

    Returns what `function` returns. Backward reruns `function` on the same inputs (with the
    random state of the first run when `preserve_rng_state`, so dropout draws the same mask)
    and backpropagates through the rerun; the gradients equal those without checkpointing.
    `function` must compute the same thing when rerun.

    `use_reentrant` must be passed explicitly: without it a UserWarning is issued and True is
    used, as in torch 2.13. `use_reentrant=True` (see `CheckpointFunction`) takes positional
    arguments only, and works only with `.backward()` (not `autograd.grad` or `inputs=`); its
    tensor outputs all require grad, and at least one input must require grad for parameters
    inside `function` to get gradients. `use_reentrant=False` (recommended) takes keyword
    arguments and tensors nested in lists, tuples and dicts, works with `autograd.grad`,
    `inputs=` and `create_graph`, and needs no input to require grad.

    Keyword arguments (only with `use_reentrant=False`, except `preserve_rng_state`):
    `context_fn` returns two context managers, entered around the forward run and around the
    rerun; `determinism_check` is "default" (the rerun's outputs must match the forward's
    shapes, dtypes and devices, else CheckpointError) or "none"; `debug` and `early_stop` are
    accepted for compatibility.

    Ember differs from PyTorch in how non-reentrant mode finds what to differentiate: instead
    of saved-tensor hooks, its forward records the function's graph once (holding that one
    call's intermediates until it returns) to find the leaves it reaches, such as module
    parameters, then drops the graph. Its rerun always runs the whole function (PyTorch may
    stop early). A tensor with history (not a leaf) that `function` uses without receiving it
    as an argument, e.g. captured by a closure, is differentiated through that history inside
    the rerun; if the surrounding backward also runs through that history it may free it
    first and raise "Trying to backward through the graph a second time" (as PyTorch's
    reentrant mode does): pass such tensors as arguments.
    """
    if use_reentrant is None:
        warn(_EXPLICIT_WARNING.format(who="ember.utils.checkpoint"))
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError(
                "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
            )
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_without_reentrant(
        function, preserve_rng_state, context_fn, determinism_check, args, kwargs
    )


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):  # noqa: A002
    """Same as torch.utils.checkpoint.checkpoint_sequential: run `functions` (an
    nn.Sequential, or a list of modules or functions) in order on one tensor `input`,
    checkpointing all but the last of `segments` equal chunks (the last chunk takes the
    remainder and keeps its intermediates, since backward starts there).

    `preserve_rng_state` (default True) is the only other keyword; `use_reentrant` is as in
    `checkpoint` (a warning and True when omitted).
    """
    from ember.nn import Sequential

    if use_reentrant is None:
        warn(_EXPLICIT_WARNING.format(who="ember.utils.checkpoint.checkpoint_sequential"))
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if isinstance(functions, Sequential):
        functions = list(functions.children())

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(  # noqa: A001
            run(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve
        )
    return run(end + 1, len(functions) - 1)(input)

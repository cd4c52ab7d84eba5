"""Activation checkpointing: trade compute for memory, as torch.utils.checkpoint does.

A checkpointed function keeps only its inputs for backward; the backward pass runs the
function again (with the random state it saw the first time) and backpropagates through that
recomputation. Two implementations, chosen by `use_reentrant` as in PyTorch:

- reentrant (`CheckpointFunction`): forward under no_grad; backward reruns the function on
  detached inputs and calls `ember.autograd.backward` inside the running backward pass, so
  parameters the function closes over get their `.grad` from that nested pass. Like PyTorch's,
  it refuses `autograd.grad` and `backward(inputs=...)`.
- non-reentrant: forward records the function's graph as usual, but under saved-tensor hooks
  that keep a placeholder instead of each tensor an op saves; the first time backward needs
  one, the function reruns and the placeholders get their tensors back (see below). The graph
  is the function's own, so `autograd.grad`, `inputs=`, `create_graph`, hooks on its nodes,
  nesting, and custom Functions inside all work as without checkpointing.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

from ember import _backend
from ember._random import get_rng_state, set_rng_state
from ember._tensor import Tensor
from ember._warn import warn
from ember.autograd import engine as _engine
from ember.autograd.function import Function
from ember.autograd.grad_mode import enable_grad, is_grad_enabled
from ember.autograd.hooks import saved_tensors_hooks

__all__ = [
    "CheckpointError",
    "CheckpointFunction",
    "GraphExecGroup",
    "checkpoint",
    "checkpoint_sequential",
    "set_checkpoint_debug_enabled",
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

_early_stop = [None]  # set_checkpoint_early_stop's override, when one is in force


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool):
    """Same as torch.utils.checkpoint.set_checkpoint_early_stop: non-reentrant checkpoints
    whose forward runs inside stop (True) or do not stop (False) their recomputation as soon
    as every tensor backward needs is back, whatever their own `early_stop` says. Only the
    forward needs to run inside; the flag is process-wide, as PyTorch's."""
    previous = _early_stop[0]
    _early_stop[0] = bool(enable)
    try:
        yield
    finally:
        _early_stop[0] = previous


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled):
    """Same as torch.utils.checkpoint.set_checkpoint_debug_enabled: inside, non-reentrant
    checkpoints run as with `debug=True` (enabled True) or `debug=False` (False), whatever
    they are given; None leaves each its own. Process-wide, as PyTorch's."""
    previous = _debug_enabled[0]
    _debug_enabled[0] = enabled
    try:
        yield
    finally:
        _debug_enabled[0] = previous


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
    return leaves, _walk(tree, leaves)


def _walk(x, leaves):
    # a module-level function, not a closure: a recursive closure is a reference cycle, and
    # would keep the leaves (the checkpoint's inputs, with their graphs) until gc runs
    kind = type(x)
    if kind is tuple or kind is list:
        return (kind, None, [_walk(v, leaves) for v in x])
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
        return (kind, "named", [_walk(v, leaves) for v in x])
    if kind is dict:
        return (dict, list(x), [_walk(v, leaves) for v in x.values()])
    leaves.append(x)
    return None


def _unflatten(leaves, spec):
    """Rebuild what `_flatten` took apart, with `leaves` in place of the old leaves."""
    return _build(spec, iter(leaves))


def _build(spec, leaves):
    if spec is None:
        return next(leaves)
    kind, extra, children = spec
    values = [_build(c, leaves) for c in children]
    if kind is dict:
        return dict(zip(extra, values))
    if extra == "named":
        return kind(*values)
    return kind(values)


# --- reentrant ---


def _backward_wants_inputs() -> bool:
    """Whether the backward pass running now was started by autograd.grad or with `inputs=`
    (PyTorch's torch.autograd._is_checkpoint_valid)."""
    passes = _engine.running_passes()
    return bool(passes) and passes[-1]


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
#
# The forward runs the function as it is, recording its graph, but under saved-tensor hooks:
# every tensor an op saves for backward is replaced by a `_Holder`. When backward first asks
# for one of them, the function is rerun (under other hooks) and each tensor it saves is
# matched, by order, to the holder of the same position; with early stop the rerun ends as
# soon as every holder still alive has its tensor. State is kept per backward pass, so each
# pass recomputes once, and a tensor can be unpacked once per pass.


class _StopRecomputation(Exception):  # noqa: N818 - a signal, not an error
    """Ends a recomputation once every saved tensor backward needs is back (early stop)."""


class _Handle:
    """The key under which one pass's recomputation stores one saved tensor."""

    __slots__ = ("__weakref__",)


class _Holder:
    """What the graph keeps in place of a tensor saved inside a checkpoint: per backward
    pass, the handle of its recomputed tensor (None once unpacked)."""

    __slots__ = ("handles", "__weakref__")

    def __init__(self):
        self.handles = {}


class _Frame:
    """One non-reentrant checkpoint call: how to rerun it, and what each rerun found."""

    __slots__ = (
        "rerun",
        "input_saver",
        "holders",
        "metadata",
        "early_stop",
        "check",
        "debug",
        "recomputed",
        "counts",
        "done",
        "forward_done",
        "ignore_mismatch",
        "recomputed_metadata",
        "__weakref__",
    )

    def __init__(self, rerun, early_stop, check, debug):
        self.rerun, self.early_stop, self.check, self.debug = rerun, early_stop, check, debug
        self.input_saver = None
        self.holders = []  # weak references, in the order the forward saved
        self.metadata = []  # (shape, dtype, device) of each, for determinism_check="default"
        self.recomputed = {}  # pass -> WeakKeyDictionary(handle -> tensor)
        self.counts = {}  # pass -> how many tensors its recomputation saved so far
        self.done = set()  # passes whose recomputation has run
        self.recomputed_metadata = {}  # pass -> metadata of each recomputed tensor (debug)
        self.forward_done = False
        self.ignore_mismatch = False

    def forget(self, gid):
        """Drop what pass `gid` recomputed (at its end: its token may be reused)."""
        self.recomputed.pop(gid, None)
        self.counts.pop(gid, None)
        self.recomputed_metadata.pop(gid, None)
        self.done.discard(gid)
        for ref in self.holders:
            holder = ref()
            if holder is not None:
                holder.handles.pop(gid, None)


def _metadata(t):
    return {"shape": tuple(t.shape), "dtype": t.dtype, "device": t.device}


_DEBUG_TIP = """
Tip: To see a more detailed error message, either pass `debug=True` to
`torch.utils.checkpoint.checkpoint(...)` or wrap the code block
with `with torch.utils.checkpoint.set_checkpoint_debug_enabled(True):` to
enable checkpoint-debug mode globally.

(When the same code runs under PyTorch's torch.compile with automatic dynamic shapes, the
recomputation may pick another compiled graph than the forward did. PyTorch's advice then:
Use torch._dynamo.mark_dynamic() to explicitly mark varying dimensions as dynamic upfront,
or Call torch._C._dynamo.eval_frame._set_lru_cache(False) to disable LRU cache reordering.
ember does not compile checkpointed functions, so under ember the function itself differs
between the runs.)
"""


def _check_recomputed(frame, gid):
    """After a recomputation: PyTorch's CheckpointError when it saved another number of
    tensors, or tensors of other shapes, dtypes or devices, than the forward."""
    if frame.ignore_mismatch or frame.check == "none":
        return
    count = frame.counts.get(gid, 0)
    if count != len(frame.holders):
        _raise(
            frame,
            gid,
            "torch.utils.checkpoint: A different number of tensors was saved during the "
            "original forward and recomputation.\n"
            f"Number of tensors saved during forward: {len(frame.holders)}\n"
            f"Number of tensors saved during recomputation: {count}.\n",
        )
    recomputed = frame.recomputed.get(gid, {})
    different = []
    for k, (ref, meta) in enumerate(zip(frame.holders, frame.metadata)):
        holder = ref()
        handle = None if holder is None else holder.handles.get(gid)
        if handle is None or handle not in recomputed:
            continue
        again = _metadata(recomputed[handle])
        if again != meta:
            different.append(
                f"tensor at position {k}:\nsaved metadata: {meta}\nrecomputed metadata: {again}\n"
            )
    if different:
        _raise(
            frame,
            gid,
            "torch.utils.checkpoint: Recomputed values for the following tensors have "
            "different metadata than during the forward pass.\n" + "".join(different) + "\n",
        )


def _raise(frame, gid, message):
    if not frame.debug:
        raise CheckpointError(message + _DEBUG_TIP)
    forward = "\n".join(f"  {k}: {m}" for k, m in enumerate(frame.metadata))
    again = "\n".join(f"  {k}: {m}" for k, m in enumerate(frame.recomputed_metadata.get(gid, [])))
    raise CheckpointError(
        message + "\nYou are seeing this error because you passed `debug=True` to "
        "checkpoint() (or enabled set_checkpoint_debug_enabled). ember's debug report lists "
        "the tensors saved for backward, in order:\nduring the forward pass:\n"
        f"{forward or '  (none)'}\nduring the recomputation:\n{again or '  (none)'}"
    )


class _ForwardHooks(saved_tensors_hooks):
    """The hooks a checkpointed function's forward runs under (see the comment above)."""

    def __init__(self, frame):
        def pack(x):
            holder = _Holder()
            frame.holders.append(weakref.ref(holder))
            if frame.check != "none" or frame.debug:
                frame.metadata.append(_metadata(x))
            return holder

        def unpack(holder):
            gid, one_off = _pass_id()
            try:
                if gid not in frame.done:
                    _recompute(frame, gid, one_off)
                handle = holder.handles.get(gid)
                if handle is None:
                    extra = (
                        "Performing two backward calls that overlap (i.e. require the same "
                        "saved activation in order to compute gradients) is not allowed while "
                        "under the torch.utils.checkpoint.GraphExecGroup context. "
                        if isinstance(gid, GraphExecGroup)
                        else ""
                    )
                    raise CheckpointError(
                        "torch.utils.checkpoint: Unpack is being triggered for a tensor that "
                        f"was already unpacked once. {extra}If you are calling "
                        "ctx.saved_tensors in backward, make sure to do so only once. "
                        "Otherwise please open an issue with details on your use case."
                    )
                holder.handles[gid] = None
                return frame.recomputed[gid].pop(handle)
            finally:
                if one_off:
                    frame.forget(gid)

        super().__init__(pack, unpack)


class _RecomputeHooks(saved_tensors_hooks):
    """The hooks a recomputation runs under: each saved tensor goes to the holder of the
    same position, for pass `gid`; with early stop the rerun ends when all are back."""

    def __init__(self, frame_ref, gid):
        def pack(x):
            x = x.detach() if x.requires_grad else x
            frame = frame_ref()
            k = frame.counts.get(gid, 0)
            frame.counts[gid] = k + 1
            if frame.debug:
                frame.recomputed_metadata.setdefault(gid, []).append(_metadata(x))
            if k >= len(frame.holders):
                if not frame.forward_done:  # a backward inside the forward itself
                    frame.ignore_mismatch = True
                    return x
                _raise(
                    frame,
                    gid,
                    "torch.utils.checkpoint: trying to save more tensors during recomputation "
                    "than during the original forward pass.\n",
                )
            holder = frame.holders[k]()
            if holder is not None:  # (a node that died needs nothing)
                handle = holder.handles[gid] = _Handle()
                frame.recomputed[gid][handle] = x
            if frame.early_stop and k + 1 == len(frame.holders):
                raise _StopRecomputation
            return x

        super().__init__(pack, lambda x: x)


def _recompute(frame, gid, one_off):
    """Rerun the checkpointed function for pass `gid` (once per pass)."""
    frame.recomputed[gid] = weakref.WeakKeyDictionary()
    if not one_off and not isinstance(gid, GraphExecGroup):
        frame_ref = weakref.ref(frame)

        def forget():
            live = frame_ref()
            if live is not None:
                live.forget(gid)

        _engine.queue_callback(forget)
    inputs = frame.input_saver.grad_fn.saved_tensors
    try:
        with _RecomputeHooks(weakref.ref(frame), gid), enable_grad():
            frame.rerun(*inputs)
    except _StopRecomputation:
        pass
    frame.done.add(gid)
    _check_recomputed(frame, gid)


_group = threading.local()  # the GraphExecGroup entered on this thread


def _pass_id():
    """(key, one_off): the GraphExecGroup entered, else the running backward pass; outside
    backward a new key each time (then the state is dropped after one unpack)."""
    group = getattr(_group, "current", None)
    if group is not None:
        return group, False
    token = _engine.current_pass()
    if token is None:
        return object(), True
    return token, False


class GraphExecGroup:
    """Same as torch.utils.checkpoint.GraphExecGroup: backward passes run inside one
    instance share non-reentrant checkpoints' recomputations (each recomputes at most once
    for all of them), so they must use disjoint parts of the graph: unpacking one saved
    tensor twice raises, even with retain_graph=True. Cannot be nested; no effect on
    use_reentrant=True."""

    def __enter__(self):
        current = getattr(_group, "current", None)
        if current is not None:
            raise RuntimeError(
                f"GraphExecGroup contexts cannot be nested. Already inside group {current}"
            )
        _group.current = self
        return self

    def __exit__(self, *exc):
        _group.current = None
        return False


class _SaveInputs(Function):
    """Keeps a checkpoint's tensor arguments as saved tensors (so in-place changes are
    caught, and an outer checkpoint's hooks hold them like any saved tensor)."""

    @staticmethod
    def forward(ctx, dummy, *tensors):
        ctx.save_for_backward(*tensors)
        return dummy.clone()

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * (1 + len(ctx.saved_tensors))


_debug_enabled = [None]  # set_checkpoint_debug_enabled's override


def _checkpoint_without_reentrant(
    function, preserve, context_fn, determinism_check, debug, early_stop, args, kwargs
):
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
    positions = [i for i, v in enumerate(leaves) if isinstance(v, Tensor)]
    kept = [None if isinstance(v, Tensor) else v for v in leaves]

    def rerun(*tensors):
        values = list(kept)
        for i, t in zip(positions, tensors):
            values[i] = t
        a, k = _unflatten(values, spec)
        with _replayed_rng(rng_state, preserve), recompute_context:
            function(*a, **k)

    if _early_stop[0] is not None:
        early_stop = _early_stop[0]
    if _debug_enabled[0] is not None:
        debug = _debug_enabled[0]
    frame = _Frame(rerun, bool(early_stop), determinism_check, bool(debug))
    dummy = Tensor._make(_backend.module_for(_backend.CPU).zeros((0,), dtype="float32"), True)
    frame.input_saver = _SaveInputs.apply(dummy, *[leaves[i] for i in positions])
    with _ForwardHooks(frame), forward_context:
        result = function(*args, **kwargs)
    frame.forward_done = True
    return result


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
    rerun; `determinism_check` is "default" (the rerun must save as many tensors as the
    forward, of the same shapes, dtypes and devices, else CheckpointError) or "none";
    `early_stop` (default True) ends the rerun as soon as every tensor backward needs is
    back (`set_checkpoint_early_stop` overrides it); `debug=True` adds to a CheckpointError
    the shapes and dtypes saved in each run (PyTorch logs the ops; ember lists the tensors).

    Non-reentrant mode works as PyTorch's: the forward records the function's graph, keeping
    placeholders instead of the tensors its ops save; backward reruns the function once per
    backward pass (nested checkpoints rerun their parents as needed) and hands each node the
    tensor its placeholder stands for. A saved tensor can therefore be read once per pass
    (reading `ctx.saved_tensors` twice in a custom Function's backward raises, as PyTorch).
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
        function,
        preserve_rng_state,
        context_fn,
        determinism_check,
        debug,
        early_stop,
        args,
        kwargs,
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

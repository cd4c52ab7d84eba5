"""Hooks on the graph, as `torch.autograd.graph` has them (ember.autograd.graph re-exports
these): what happens to tensors saved for backward (pack/unpack hooks, `save_on_cpu`, saving
copies so they may be changed in place), gradient edges, and hooks that see the gradients of
several tensors at once.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import namedtuple

from ember.autograd.grad_mode import no_grad


class _HookState(threading.local):
    pairs = ()  # the (pack, unpack) pairs entered on this thread, innermost last
    disabled = None  # the error message while disable_saved_tensors_hooks is active


_state = _HookState()
_open = [0]  # contexts open on any thread: when 0, saving skips the thread-local look-up
_OPEN_LOCK = threading.Lock()


class Packed:
    """A saved tensor as its pack hook returned it, with the hook that turns it back and the
    place the original had in the graph (so what unpack returns is differentiable as the
    original was: second derivatives flow through saved tensors as without hooks)."""

    __slots__ = ("value", "unpack", "edge")

    def __init__(self, value, unpack, edge):
        self.value, self.unpack, self.edge = value, unpack, edge

    def restore(self):
        """The saved tensor, as the unpack hook rebuilds it, at the original's place."""
        from ember._tensor import Tensor
        from ember.autograd.graph import AccumulateGrad

        pairs = _state.pairs
        try:
            tensor = self.unpack(self.value)
        finally:  # hooks entered or left inside an unpack hook do not outlive it
            if _state.pairs is not pairs:
                _reset_pairs(pairs)
        if not isinstance(tensor, Tensor):
            raise TypeError(
                "Output of saved tensor unpack_hook expected to be a Tensor but got result of "
                f"type {type(tensor).__name__}"
            )
        if self.edge is None:
            return tensor
        node, output_nr = self.edge
        if node.__class__ is weakref.ref:
            node = node()
            if node is None:
                raise RuntimeError(
                    "a tensor saved through saved_tensors_hooks outlived the graph it was saved in"
                )
        if node.__class__ is AccumulateGrad:
            # a leaf: the rebuilt tensor is a leaf too, and its gradient goes to the original
            leaf = Tensor._make(tensor._data, True, None)
            leaf._accum = weakref.ref(node)
            return leaf
        return Tensor._make(tensor._data, True, node, output_nr)


def current_pair():
    """The innermost (pack, unpack) pair in force on this thread, or None."""
    if not _open[0]:
        return None
    pairs = _state.pairs
    return pairs[-1] if pairs else None


def pack(pair, tensor, edge=None, weak=True):
    """What a node saves for `tensor` while `pair` is in force (see saved_tensors_hooks);
    `edge` is where the tensor's gradient goes, for an output of the saving node itself.

    With `weak` (a built-in op's inputs and outputs), a non-leaf edge is held weakly: the node
    it names is the saving node itself or one its edges keep alive, and a strong reference
    from the node's own saved entry would make a cycle only the garbage collector frees."""
    from ember.autograd.graph import AccumulateGrad, edge_of

    if edge is None and tensor.requires_grad:
        edge = edge_of(tensor)
    if weak and edge is not None and edge[0].__class__ is not AccumulateGrad:
        edge = (weakref.ref(edge[0]), edge[1])
    version = tensor._vc[0]
    with no_grad():  # PyTorch runs pack hooks with grad mode off
        value = pair[0](tensor)
    if tensor._vc[0] != version:
        raise RuntimeError(
            "A saved tensor pack hook is modifying its input in place. Tensors provided as "
            "input to pack hook can not be modified by in-place operations as this can lead to "
            "unexpected side-effects. Please open an issue if you need to perform in-place "
            "operations on the input to a pack hook."
        )
    return Packed(value, pair[1], edge)


def _enter(pair):
    if _state.disabled is not None:
        raise RuntimeError(_state.disabled)
    with _OPEN_LOCK:
        _open[0] += 1
    _state.pairs = (*_state.pairs, pair)


def _leave():
    if not _state.pairs:  # more exits than enters: nothing to leave
        return
    _state.pairs = _state.pairs[:-1]
    with _OPEN_LOCK:
        _open[0] -= 1


def _reset_pairs(pairs):
    """Put this thread's stack of hook pairs back to `pairs`."""
    with _OPEN_LOCK:
        _open[0] += len(pairs) - len(_state.pairs)
    _state.pairs = pairs


class saved_tensors_hooks:  # noqa: N801
    """Same as torch.autograd.graph.saved_tensors_hooks: while active, every tensor an op saves
    for backward goes through `pack_hook(tensor)` (with grad mode off), and backward gets it
    back through `unpack_hook(packed)`. Only the innermost pair applies; thread-local."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        _enter((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc):
        _leave()
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """Same as torch.autograd.graph.save_on_cpu: tensors saved for backward wait on the CPU and
    go back to their device when backward needs them (`pin_memory` is accepted; CuPy copies
    from plain host memory)."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def to_cpu(tensor):
            return (tensor.device, tensor.cpu())

        def back(packed):
            device, tensor = packed
            return tensor.to(device)

        super().__init__(to_cpu, back)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message):
    """Same as torch.autograd.graph.disable_saved_tensors_hooks: while active, entering
    saved_tensors_hooks raises RuntimeError(error_message); so does entering this while such
    hooks are active."""
    if _state.pairs:
        raise RuntimeError(error_message)
    previous, _state.disabled = _state.disabled, error_message
    try:
        yield
    finally:
        _state.disabled = previous


_MUTATION_CONTEXT = [None]  # the open allow_mutation_on_saved_tensors, for every thread
_OUTSIDE_CONTEXT = (
    "Trying to backward outside of the 'allow_mutation_on_saved_tensors' context in which the "
    "graph was originally recorded."
)


class _SavedCopy:
    """What allow_mutation_on_saved_tensors saves for one tensor at one version: a copy of its
    values, and the tensor's version counter, to tell whether it has been changed since."""

    __slots__ = ("context", "copy", "vc", "version", "source", "__weakref__")

    def __init__(self, context, tensor):
        self.context = context
        self.copy = tensor.detach().clone()
        self.vc, self.version = tensor._vc, tensor._vc[0]
        self.source = weakref.ref(tensor)


class allow_mutation_on_saved_tensors(saved_tensors_hooks):  # noqa: N801
    """Same as torch.autograd.graph.allow_mutation_on_saved_tensors: inside it, a tensor saved
    for backward may be changed in place afterwards and backward still uses the value it had
    when saved. Forward and backward must both run inside the same context (backward outside
    raises AssertionError), and contexts do not nest. One context at a time for the whole
    process, as PyTorch.

    `with ... as ctx` gives the context: `ctx.tid_to_weakhandle` maps each (tensor, version)
    still saved by a live graph to its saved handle, and `ctx.cloned` maps the handles of those
    changed in place since to the values backward will use. Both empty once the context exits.
    ember copies a tensor when it is saved (PyTorch copies lazily, at the first mutation), so
    the values are the same but memory use is higher.
    """

    def __init__(self):
        self.tid_to_weakhandle = weakref.WeakValueDictionary()
        super().__init__(self._pack, self._unpack)

    def _pack(self, tensor):
        tid = (id(tensor), tensor._vc[0])
        handle = self.tid_to_weakhandle.get(tid)
        if handle is None or handle.source() is not tensor:
            handle = self.tid_to_weakhandle[tid] = _SavedCopy(self, tensor)
        return handle

    @staticmethod
    def _unpack(handle):
        if _MUTATION_CONTEXT[0] is not handle.context:
            raise AssertionError(_OUTSIDE_CONTEXT)
        return handle.copy

    @property
    def cloned(self):
        """{handle: saved values} for the saved tensors changed in place since they were
        saved (backward uses these values, not the tensor's current ones)."""
        live = list(self.tid_to_weakhandle.values())
        return {h: h.copy for h in live if h.vc[0] != h.version}

    def __enter__(self):
        with _OPEN_LOCK:
            if _MUTATION_CONTEXT[0] is not None:
                raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
            _MUTATION_CONTEXT[0] = self
        try:
            return super().__enter__()
        except BaseException:
            _MUTATION_CONTEXT[0] = None
            raise

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            _MUTATION_CONTEXT[0] = None
            self.tid_to_weakhandle.clear()


GradientEdge = namedtuple("GradientEdge", ["node", "output_nr"])
GradientEdge.__doc__ = "Same as torch.autograd.graph.GradientEdge: (node, output_nr)."


def get_gradient_edge(tensor):
    """Same as torch.autograd.graph.get_gradient_edge: where the gradient of `tensor` goes in
    the graph; autograd.grad accepts it in place of the tensor as an input."""
    from ember.autograd.graph import edge_of

    if not tensor.requires_grad:
        raise RuntimeError(
            "It is not possible to get the gradient edge for a Tensor that does not require "
            "gradients"
        )
    return GradientEdge(*edge_of(tensor))


class _MultiHandle:
    """Removes every tensor hook of one register_multi_grad_hook call."""

    def __init__(self, handles):
        self.handles = handles

    def remove(self):
        """Unregister the hook."""
        for handle in self.handles:
            handle.remove()


class _PassEnd:
    """Queued to run when a backward pass ends. The engine drops it with the pass (run or
    not, if the pass failed), so a weak reference to it tells whether that pass is running."""

    __slots__ = ("fn", "__weakref__")

    def __init__(self, fn):
        self.fn = fn

    def __call__(self):
        self.fn()


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """Same as torch.autograd.graph.register_multi_grad_hook.

    mode "all": once per backward pass, after the pass has computed the gradients of
    `tensors`, `fn(grads)` gets one entry per tensor (None for those the pass did not reach).
    mode "any": `fn(grad)` is called with the first of them computed in each pass.
    Each pass (on any thread) is counted on its own; a pass that fails calls nothing more.
    """
    from ember.autograd.engine import current_pass, queue_callback

    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    pending = {}  # pass -> (weak reference to its _PassEnd, the gradients seen so far in it)
    lock = threading.Lock()

    def finish(key):
        entry = pending.pop(key, None)
        if mode == "all" and entry is not None:
            fn(entry[1])

    def forget(key, ref):
        with lock:
            if key in pending and pending[key][0] is ref:
                del pending[key]

    def hook_for(index):
        def hook(grad):
            key = current_pass()
            if key is None:  # tensor hooks only count inside a backward pass
                return None
            with lock:
                entry = pending.get(key)
                first = entry is None or entry[0]() is None  # none yet, or a failed pass's
                if first:
                    end = _PassEnd(lambda: finish(key))
                    ref = weakref.ref(end, lambda r: forget(key, r))
                    entry = pending[key] = (ref, [None] * len(tensors))
                entry[1][index] = grad
            if first:
                queue_callback(end)
                if mode == "any":
                    fn(grad)
            return None

        return hook

    return _MultiHandle([t.register_hook(hook_for(i)) for i, t in enumerate(tensors)])

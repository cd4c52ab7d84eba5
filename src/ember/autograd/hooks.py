"""Hooks on the graph, as `torch.autograd.graph` has them (ember.autograd.graph re-exports
these): what happens to tensors saved for backward (pack/unpack hooks, `save_on_cpu`, saving
copies so they may be changed in place), gradient edges, and hooks that see the gradients of
several tensors at once.
"""

from __future__ import annotations

import contextlib
import threading
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

        tensor = self.unpack(self.value)
        if self.edge is None or not isinstance(tensor, Tensor):
            return tensor
        node, output_nr = self.edge
        return Tensor._make(tensor._data, True, node, output_nr)


def current_pair():
    """The innermost (pack, unpack) pair in force on this thread, or None."""
    if not _open[0]:
        return None
    pairs = _state.pairs
    return pairs[-1] if pairs else None


def pack(pair, tensor, edge=None):
    """What a node saves for `tensor` while `pair` is in force (see saved_tensors_hooks);
    `edge` is where the tensor's gradient goes, for an output of the saving node itself."""
    from ember.autograd.graph import edge_of

    if edge is None and tensor.requires_grad:
        edge = edge_of(tensor)
    with no_grad():  # PyTorch runs pack hooks with grad mode off
        return Packed(pair[0](tensor), pair[1], edge)


def _enter(pair):
    if _state.disabled is not None:
        raise RuntimeError(_state.disabled)
    with _OPEN_LOCK:
        _open[0] += 1
    _state.pairs = (*_state.pairs, pair)


def _leave():
    _state.pairs = _state.pairs[:-1]
    with _OPEN_LOCK:
        _open[0] -= 1


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


class allow_mutation_on_saved_tensors(saved_tensors_hooks):  # noqa: N801
    """Same as torch.autograd.graph.allow_mutation_on_saved_tensors: inside it, a tensor saved
    for backward may be changed in place afterwards and backward still uses the value it had
    when saved. ember saves a copy at once (PyTorch copies lazily, at the first mutation)."""

    def __init__(self):
        super().__init__(lambda tensor: tensor.detach().clone(), lambda copy: copy)


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


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """Same as torch.autograd.graph.register_multi_grad_hook.

    mode "all": once per backward pass, after the pass has computed the gradients of
    `tensors`, `fn(grads)` gets one entry per tensor (None for those the pass did not reach).
    mode "any": `fn(grad)` is called with the first of them computed in each pass.
    """
    from ember.autograd.engine import current_pass, queue_callback

    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    pending = {}  # pass -> the gradients seen so far in it
    lock = threading.Lock()

    def hook_for(index):
        def hook(grad):
            key = current_pass()
            with lock:
                first = key not in pending
                seen = pending.setdefault(key, [None] * len(tensors))
                seen[index] = grad
            if mode == "any":
                if first:
                    queue_callback(lambda: pending.pop(key, None))
                    fn(grad)
                return None
            if first:
                queue_callback(lambda: fn(pending.pop(key)))
            return None

        return hook

    return _MultiHandle([t.register_hook(hook_for(i)) for i, t in enumerate(tensors)])

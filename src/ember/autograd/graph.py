"""The recorded graph: Node (one op's backward, also its ctx), AccumulateGrad, saved tensors."""

from __future__ import annotations

import itertools
import weakref
from collections import namedtuple

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed when "
    "you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


def _modified_error(tensor, node_name, saved_version, version):
    kind = "Tensor" if tensor is None else type_string(tensor)
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{kind}], which is saved by {node_name}, is at version {version}; "
        f"expected version {saved_version} instead. Hint: clone() the tensor before changing "
        "it in place, or use an out-of-place op."
    )


def type_string(tensor) -> str:
    """'ember.FloatTensor [3, 4]', the way PyTorch names a tensor in autograd errors."""
    shape = ", ".join(str(s) for s in tensor.shape)
    return f"{tensor.type()} [{shape}]"


NO_EDGE = (None, -1)  # the edge of a forward argument that is not a tensor


_TENSOR_MAKE = []  # [Tensor._make], filled on first use (ember._tensor imports this module)


def _tensor_make():
    from ember._tensor import Tensor

    _TENSOR_MAKE[:] = [Tensor._make]
    return Tensor._make


class SavedOutput:
    """An op's own output kept for its backward, held as data so the graph has no cycle.

    Unpacking rebuilds a Tensor whose grad_fn is the node itself, as PyTorch does, so a
    backward that uses its output is still differentiable.
    """

    __slots__ = ("index", "data", "vc", "version")

    def __init__(self, index, data, vc):
        self.index, self.data, self.vc, self.version = index, data, vc, vc[0]


class Node:
    """One recorded op. It is also the `ctx` its Function's forward and backward receive.

    `_edges[i]` is `(node, output_nr)` for positional argument i of forward: `(None, 0)` for a
    tensor that needs no gradient, `NO_EDGE` for a non-tensor argument. `_input_meta[i]` is the
    input's (shape, dtype), which the engine uses to sum a broadcast gradient back to its shape.
    """

    # Slots for what every node has; the rest are class-level defaults that a node overrides
    # only when it needs to, so creating a node costs one counter step.
    __slots__ = ("_edges", "_input_meta", "needs_input_grad", "_seq", "__dict__", "__weakref__")
    _fn = None  # the Function class this node runs; set on each per-Function subclass
    _saved = None
    _to_save = None
    _freed = False
    _n_outputs = 1
    _out_meta = None
    _non_differentiable = None
    _materialize = True
    _pre_hooks = None
    _post_hooks = None
    _tensor_hooks = None
    _trace = None

    def __init__(self):
        # creation order: backward runs the ready node made last first, as PyTorch
        self._seq = next(_SEQUENCE)

    # --- the ctx API of autograd.Function ---
    def save_for_backward(self, *tensors):
        """Same as torch's ctx.save_for_backward."""
        self._to_save = tensors

    def mark_non_differentiable(self, *tensors):
        """Same as torch's ctx.mark_non_differentiable."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool):
        """Same as torch's ctx.set_materialize_grads: pass None (not zeros) for unused outputs."""
        self._materialize = bool(value)

    def mark_dirty(self, *tensors):
        """Accepted for PyTorch compatibility; ember versions in-place changes itself."""

    @property
    def saved_tensors(self):
        """The tensors given to save_for_backward, checked against in-place changes since."""
        saved = self._saved
        if saved is None:
            if self._freed:
                raise RuntimeError(FREED_MESSAGE)
            return ()
        return tuple(map(self._unpack, saved))

    saved_variables = saved_tensors

    def _unpack(self, entry):
        if entry is None:
            return None
        value, version = entry
        if value.__class__ is Packed:  # saved through a saved_tensors_hooks pack hook
            return value.restore()
        if value.__class__ is SavedOutput:
            if value.vc[0] != value.version:
                raise _modified_error(None, self.name(), value.version, value.vc[0])
            make = _TENSOR_MAKE[0] if _TENSOR_MAKE else _tensor_make()
            out = make(value.data, True, self, value.index)
            out._vc = value.vc
            return out
        if version is not None and value._vc[0] != version:
            raise _modified_error(value, self.name(), version, value._vc[0])
        return value

    # --- the Node API of torch.autograd.graph.Node ---
    @property
    def next_functions(self):
        """((node, output_nr), ...) for each tensor input, as PyTorch's Node.next_functions."""
        return tuple(edge for edge in self._edges if edge is not NO_EDGE)

    def name(self) -> str:
        """The node's name, e.g. 'MulBackward0'."""
        return type(self).__name__

    @property
    def metadata(self) -> dict:
        """Same as torch.autograd.graph.Node.metadata: a dict of the user's, kept on the node."""
        meta = self.__dict__.get("_metadata")
        if meta is None:
            meta = self.__dict__["_metadata"] = {}
        return meta

    def register_hook(self, fn):
        """Call fn(grad_inputs, grad_outputs) after this node runs; may return new grad_inputs."""
        if self._post_hooks is None:
            self._post_hooks = []
        return _Handle(self._post_hooks, fn)

    def register_prehook(self, fn):
        """Call fn(grad_outputs) before this node runs; it may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        return _Handle(self._pre_hooks, fn)

    def _add_tensor_hook(self, output_nr, fn):
        if self._tensor_hooks is None:
            self._tensor_hooks = {}
        return _Handle(self._tensor_hooks.setdefault(output_nr, []), fn)

    def __getattr__(self, name):
        # Only reached for names the node lacks: grad_fn._saved_self and friends.
        if name.startswith(("_saved_", "_raw_saved_")):
            from ember.autograd.saved import lookup

            return lookup(self, name)
        if hasattr(type(self), name):  # a property whose getter raised AttributeError:
            return object.__getattribute__(self, name)  # let its own error through
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _run_backward(self, grads):
        return self._fn.backward(self, *grads)

    def _sequence_nr(self) -> int:
        """Same as torch's Node._sequence_nr(): when the node was made; of the nodes ready in a
        backward pass, the one with the highest number runs first."""
        return self._seq

    def _set_sequence_nr(self, sequence_nr: int) -> None:
        """Same as torch's Node._set_sequence_nr: change the node's place in backward order."""
        self._seq = int(sequence_nr)

    @property
    def _input_metadata(self) -> tuple:
        """Same as torch's Node._input_metadata: shape, dtype and device of each gradient the
        node receives (its forward's outputs)."""
        return tuple(_output_metadata(self, k) for k in range(self._n_outputs))

    def __call__(self, *grads):
        """Run a built-in op's backward on `grads` (one per output), as calling a torch grad_fn:
        returns the gradient of each tensor input (a tuple when there are several)."""
        fn = self._fn
        if fn is None or not fn._builtin_op:
            raise TypeError(f"'{self.name()}' object is not callable")
        if len(grads) != self._n_outputs:
            raise TypeError(f"expected {self._n_outputs} arguments, got {len(grads)} instead")
        from ember.autograd.engine import call_directly

        return call_directly(self, grads)

    def _release(self):
        if self._saved is not None:
            self._saved = None
            self._freed = True

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


class _Handle:
    """Same as torch.utils.hooks.RemovableHandle."""

    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks, fn):
        hooks.append(fn)
        self._hooks, self._fn = hooks, fn

    def remove(self):
        """Unregister the hook."""
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_SEQUENCE = itertools.count()
LAST = 2**64 - 1  # AccumulateGrad's sequence number: a leaf's .grad is filled as soon as ready


class AccumulateGrad(Node):
    """The node of a leaf tensor: adds the incoming gradient to `variable.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable
        self._edges = ()
        self._input_meta = ()
        self.needs_input_grad = ()
        self._seq = LAST

    def name(self) -> str:
        """'torch::autograd::AccumulateGrad', PyTorch's name for it."""
        return "torch::autograd::AccumulateGrad"

    def __call__(self, grad):
        """Add `grad` into the leaf's .grad (as calling torch's AccumulateGrad); returns ()."""
        from ember.autograd.engine import accumulate_directly

        accumulate_directly(self.variable, grad)
        return ()


InputMetadata = namedtuple("InputMetadata", ["shape", "dtype", "device"])
InputMetadata.__doc__ = "What Node._input_metadata gives per gradient: shape, dtype, device."


def _output_metadata(node, k) -> InputMetadata:
    from ember._backend import CPU, cuda_backend
    from ember._dtype import from_numpy_dtype
    from ember._size import Size

    if node.__class__ is AccumulateGrad:
        t = node.variable
        return InputMetadata(t.shape, t.dtype, t.device)
    meta = node._out_meta[k] if node._out_meta is not None else None
    if meta is None:
        raise RuntimeError(
            f"{node.name()} does not know the shape of its output {k}: ember records it for "
            "custom Functions, ops with several outputs and tensors given to get_gradient_edge"
        )
    if len(meta) > 2:
        device = meta[2]
    elif cuda_backend() is None:
        device = CPU
    else:  # (shape, dtype) only, and arrays may live on a GPU
        raise RuntimeError(f"{node.name()} does not know the device of its output {k}")
    return InputMetadata(Size(meta[0]), from_numpy_dtype(meta[1]), device)


def grad_accumulator(tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad node, made once and held weakly by the tensor (no cycle)."""
    ref = tensor._accum
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(tensor)
        tensor._accum = weakref.ref(node)
    return node


def edge_of(tensor):
    """(node, output_nr) where a gradient for `tensor` goes, or (None, 0) if none is needed."""
    view = tensor._view_of
    if view is not None and view[3] != tensor._vc[0] and tensor._requires_grad:
        refresh_view(tensor)
    node = tensor.grad_fn
    if node is not None:
        if node._out_meta is None and node._n_outputs == 1:  # for Node._input_metadata
            d = tensor._data
            node._out_meta = ((d.shape, d.dtype, tensor.device),)
        return (node, tensor._output_nr)
    if tensor._requires_grad:
        return (grad_accumulator(tensor), 0)
    return (None, 0)


def increment_version(tensor) -> None:
    """Same as torch.autograd.graph.increment_version: count an in-place change that autograd
    did not see (one made through `.data` or a NumPy view of the storage), so a backward that
    saved the tensor before it raises instead of using the changed values. Takes a tensor or
    an iterable of tensors."""
    from ember._tensor import Tensor

    for t in (tensor,) if isinstance(tensor, Tensor) else tensor:
        t._vc[0] += 1


def refresh_view(view) -> None:
    """Give a view the grad_fn of its base's current version. After an in-place change of the
    base (or of a sibling view) the view's own grad_fn is stale: as PyTorch, the view is
    re-made from the updated base, so gradients flow through the change."""
    base, view_op, args, _ = view._view_of
    fresh = view_op.apply(base, *args)
    view.grad_fn, view._output_nr = fresh.grad_fn, fresh._output_nr
    view._view_of = (base, view_op, args, view._vc[0])


# the rest of torch.autograd.graph's names (they build on the classes above)
from ember.autograd.hooks import GradientEdge as GradientEdge  # noqa: E402
from ember.autograd.hooks import Packed  # noqa: E402
from ember.autograd.hooks import (  # noqa: E402
    allow_mutation_on_saved_tensors as allow_mutation_on_saved_tensors,
)
from ember.autograd.hooks import (  # noqa: E402
    disable_saved_tensors_hooks as disable_saved_tensors_hooks,
)
from ember.autograd.hooks import get_gradient_edge as get_gradient_edge  # noqa: E402
from ember.autograd.hooks import register_multi_grad_hook as register_multi_grad_hook  # noqa: E402
from ember.autograd.hooks import save_on_cpu as save_on_cpu  # noqa: E402
from ember.autograd.hooks import saved_tensors_hooks as saved_tensors_hooks  # noqa: E402

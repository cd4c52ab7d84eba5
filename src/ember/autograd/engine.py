"""The backward engine: dependency counting over the graph, no recursion.

Each node runs once all the gradients it awaits have arrived. This is the one place where a
gradient is summed back to its input's shape (undoing broadcasting) and cast to its dtype.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import weakref

from ember._backend import FLOAT_STATE, QUIET_FLOATS, writeable
from ember._tensor import Tensor
from ember._warn import warn
from ember.autograd.grad_mode import _state
from ember.autograd.graph import NO_EDGE, AccumulateGrad, _output_metadata, edge_of, type_string
from ember.autograd.hooks import GradientEdge


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (Tensor, GradientEdge)):
        return (x,)
    return tuple(x)


def _root_gradients(roots, grads, batched=False):
    """Check the roots and build their initial gradients (ones for scalars). With `batched`,
    each gradient has an extra leading batch dimension (autograd.grad's is_grads_batched)."""
    from ember import ops

    if grads is None:
        grads = (None,) * len(roots)
    if len(grads) != len(roots):
        raise RuntimeError(
            f"grad can be implicitly created only for scalar outputs: got {len(grads)} "
            f"gradients for {len(roots)} outputs"
        )
    out = []
    for i, (t, g) in enumerate(zip(roots, grads)):
        if isinstance(t, GradientEdge):  # a node's output, standing for its tensor
            shape, dtype, device = _output_metadata(t.node, t.output_nr)
        elif isinstance(t, Tensor):
            if t.grad_fn is None and not t._requires_grad:
                raise RuntimeError(
                    f"element {i} of tensors does not require grad and does not have a grad_fn"
                )
            shape, dtype, device = t.shape, t.dtype, t.device
        else:
            raise TypeError(f"backward(): expected a Tensor, got {type(t).__name__}")
        if g is None:
            if batched:
                raise RuntimeError(
                    "autograd.grad with is_grads_batched=True needs grad_outputs: a gradient "
                    "per output with the batch as its first dimension"
                )
            if any(n != 1 for n in shape):
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not dtype.is_floating_point:
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {dtype}"
                )
            g = ops.ones(shape, dtype=dtype, device=device)
        elif not isinstance(g, Tensor):
            if batched:
                raise TypeError(
                    f"gradients can be either Tensors or None, but got {type(g).__name__}"
                )
            g = ops.full(shape, g, dtype=dtype, device=device)
        else:
            if batched and (g.dim() == 0 or g.shape[1:] != shape):
                per_item = g.shape[1:] if g.dim() else g.shape
                raise RuntimeError(
                    "If `is_grads_batched=True`, we interpret the first dimension of each "
                    "grad_output as the batch dimension. The sizes of the remaining dimensions "
                    "are expected to match the shape of corresponding output, but a mismatch "
                    f"was detected: grad_output[{i}] has a shape of {per_item} and "
                    f"output[{i}] has a shape of {shape}. If you only want some tensors in "
                    "`grad_output` to be considered batched, consider using vmap."
                )
            if not batched and g.shape != shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                    f"output[{i}] has a shape of {shape}."
                )
            if g.dtype != dtype:
                g = g.to(dtype)  # the graph sees the output's dtype, as PyTorch casts it
        out.append(g)
    return out


def _count_dependencies(root_nodes, wanted=None):
    """How many gradients each reachable node awaits; with `wanted`, only nodes leading there."""
    if wanted is None:  # the common case: count while walking, in one pass
        deps = {}
        stack = list(set(root_nodes))
        roots = set(stack)
        while stack:
            for nxt, _ in stack.pop()._edges:
                if nxt is not None:
                    count = deps.get(nxt)
                    if count is None:
                        deps[nxt] = 1
                        if nxt not in roots:
                            stack.append(nxt)
                    else:
                        deps[nxt] = count + 1
        return deps, None
    deps = {}
    seen = set(root_nodes)
    stack = list(seen)
    order = []
    while stack:
        node = stack.pop()
        order.append(node)
        for nxt, _ in node._edges:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    useful = set(wanted)
    changed = True
    while changed:  # a node is useful when an edge from it reaches a useful node
        changed = False
        # deepest first: `order` lists parents before children, so one pass usually does
        for node in reversed(order):
            if node not in useful and any(n in useful for n, _ in node._edges):
                useful.add(node)
                changed = True
    for node in order:
        if node not in useful:
            continue
        for nxt, _ in node._edges:
            if nxt is not None and nxt in useful:
                deps[nxt] = deps.get(nxt, 0) + 1
    return deps, useful


def _reduce_to(grad, meta, node, index):
    """Sum a broadcast gradient back to its input's shape and cast it to the input's dtype."""
    shape, np_dtype = meta
    if grad._data.shape != shape:
        try:
            grad = grad.sum_to_size(shape)
        except RuntimeError:
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {index} - got "
                f"{list(grad.shape)} but expected shape compatible with {list(shape)}"
            ) from None
    if grad._data.dtype != np_dtype:
        grad = grad.to(np_dtype)
    return grad


def _hook_name(hook) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def _run_tensor_hooks(hooks, grad):
    # retain_grad's hook runs last, so .grad sees what the other hooks made of the gradient
    ordered = sorted(hooks, key=lambda h: getattr(h, "_retain_grad", False))
    for hook in ordered:
        result = hook(grad)
        if result is not None:
            if not isinstance(result, Tensor):
                raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
            if result._data.shape != grad._data.shape:
                raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
            if result._data.dtype != grad._data.dtype:
                raise RuntimeError(
                    f"hook '{_hook_name(hook)}' has changed the type of value (was "
                    f"{grad.type()} got {result.type()})"
                )
            grad = result
    return grad


def _hook_grads(hook, result, expected):
    """What a node hook returned in place of `expected` gradients, checked as PyTorch does."""
    if not isinstance(result, tuple):
        raise TypeError(f"expected tuple, but hook returned '{type(result).__name__}'")
    if len(result) != expected:
        raise RuntimeError(
            f"hook '{_hook_name(hook)}' has returned an incorrect number of values (got "
            f"{len(result)}, but expected {expected})"
        )
    return result


def _tensor_pre_hooks(node, buf, leaf_hooks=True):
    """Run the hooks registered on the tensors whose gradients `buf` holds (for a leaf, on
    the leaf itself); retain_grad's come last."""
    if node.__class__ is AccumulateGrad:
        hooks = node.variable._hooks if leaf_hooks else None
        if hooks and buf[0] is not None:
            buf[0] = _run_tensor_hooks(hooks, buf[0])
    elif node._tensor_hooks:
        for nr, hooks in node._tensor_hooks.items():
            if buf[nr] is not None:
                buf[nr] = _run_tensor_hooks(hooks, buf[nr])
    return buf


def _pre_hooks(node, buf):
    for hook in list(node._pre_hooks):
        result = hook(tuple(buf))
        if result is not None:
            buf = list(_hook_grads(hook, result, len(buf)))
    return buf


_node_observers = ()  # what observe_nodes installed: a tuple, replaced whole, never changed
_OBSERVERS_LOCK = threading.Lock()


@contextlib.contextmanager
def observe_nodes(observer):
    """While the block runs, call `observer(node)` just before each graph node's backward runs.

    For tools that must know which parts of a graph a backward pass went through (ember.compile
    learns this way whether a recorded step backpropagated through the graph of what it
    returns). Not reported: AccumulateGrad nodes (a leaf's .grad update), and nodes whose
    backward is skipped (autograd.grad or `inputs=` wants nothing beyond them). Observers run
    on the backward's own thread, for every backward on every thread that starts inside the
    block (one already running keeps the observers it started with), in the order they were
    installed; they must be quick, must not raise, and must keep no per-call state on shared
    objects. Several may be installed at once. Cost without any: one truth test per node.
    """
    global _node_observers
    with _OBSERVERS_LOCK:
        _node_observers = (*_node_observers, observer)
    try:
        yield
    finally:
        with _OBSERVERS_LOCK:
            observers = list(_node_observers)
            observers.remove(observer)
            _node_observers = tuple(observers)


# A backward run from inside another one's node (a custom Function whose backward calls
# backward) nests on the Python stack. Past this depth the nested pass runs on a new thread,
# with a fresh stack, while this one waits (PyTorch's remedy too), so depth has no limit.
_NESTED_PER_THREAD = 40


def execute(roots, grads, retain_graph, create_graph, capture=None, targets=None):
    """Run backward from `roots` (tensors or GradientEdges) seeded with `grads`.

    `capture` lists (node, output_nr) pairs whose incoming gradient is returned (autograd.grad);
    nothing is accumulated into leaves' .grad then, and nodes beyond them do not run.
    `targets` lists the edges of backward's `inputs=`: the pass runs only the nodes that lead
    to them, and theirs.
    """
    args = (roots, grads, retain_graph, create_graph, capture, targets)
    if len(_pass.captures) >= _NESTED_PER_THREAD:  # passes running on this thread
        return _on_new_thread(args)
    return _execute(*args)


def _on_new_thread(args):
    """Run one backward pass on a new thread that starts with this thread's modes."""
    modes = (_state.enabled, _state.anomaly, _state.inference)
    outcome = {}

    def run():
        _state.enabled, _state.anomaly, _state.inference = modes
        try:
            outcome["result"] = execute(*args)
        except BaseException as error:  # noqa: BLE001 - raised again on the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="ember-reentrant-backward")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


_post_accumulate = {}  # id(leaf) -> (weak reference to it, its post-accumulate-grad hooks)


def add_post_accumulate_hook(leaf, hook):
    """Register `hook(leaf)` to run after backward adds into `leaf.grad`; returns a handle."""
    from ember.autograd.graph import _Handle

    key = id(leaf)
    entry = _post_accumulate.get(key)
    if entry is None or entry[0]() is not leaf:
        ref = weakref.ref(leaf, lambda _, key=key: _post_accumulate.pop(key, None))
        entry = _post_accumulate[key] = (ref, [])
    return _Handle(entry[1], hook)


def _run_post_accumulate(leaf):
    entry = _post_accumulate.get(id(leaf))
    if entry is not None and entry[0]() is leaf:
        for hook in list(entry[1]):
            if hook(leaf) is not None:
                raise RuntimeError("Tensor post accumulate grad hooks should return None.")


class _Pass(threading.local):
    callbacks = None  # what queue_callback added during the pass running on this thread
    captures = ()  # per pass running on this thread, outermost first: does it return grads?


_pass = _Pass()


def current_pass():
    """A token for the backward pass running on this thread (None outside backward)."""
    callbacks = _pass.callbacks
    return None if callbacks is None else id(callbacks)


def running_passes() -> tuple:
    """One flag per backward pass running on this thread (outermost first; several when a
    node's backward runs backward itself): True for a pass that returns gradients
    (autograd.grad, or backward with `inputs=`), False for one that fills leaves' .grad."""
    return _pass.captures


def queue_callback(fn) -> None:
    """Run `fn()` when the backward pass running on this thread has finished (PyTorch's
    Variable._execution_engine.queue_callback)."""
    if _pass.callbacks is None:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _pass.callbacks.append(fn)


def _execute(roots, grads, retain_graph, create_graph, capture, targets):
    outer, _pass.callbacks = _pass.callbacks, []
    outer_captures = _pass.captures
    _pass.captures = (*outer_captures, capture is not None or targets is not None)
    try:
        captured = _run_graph(roots, grads, retain_graph, create_graph, capture, targets)
        callbacks = _pass.callbacks
        while callbacks:  # a callback may queue another
            callbacks.pop(0)()
        return captured
    finally:
        _pass.callbacks = outer
        _pass.captures = outer_captures


def _run_graph(roots, grads, retain_graph, create_graph, capture, targets):
    root_edges = [tuple(t) if isinstance(t, GradientEdge) else edge_of(t) for t in roots]
    wanted = capture if capture is not None else targets
    if wanted is not None:
        wanted = [n for n, _ in wanted if n is not None]
    deps, useful = _count_dependencies([n for n, _ in root_edges], wanted)
    run_anyway = set(wanted) if targets is not None else ()  # backward(inputs=) runs these
    buffers = {}
    for (node, nr), g in zip(root_edges, grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node._n_outputs
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    captured = {} if capture is not None else None
    capture_set = set(capture) if capture is not None else ()
    capture_nodes = {n for n, _ in capture_set}
    # inputs given as tensors (not GradientEdges): their leaves' own hooks apply, as PyTorch's
    hooked = {e for e in capture if type(e) is tuple} if capture is not None else ()
    fresh = _FreshGrads(grads)
    observers = _node_observers
    # the ready node made last runs first, a leaf's AccumulateGrad before any (PyTorch's order)
    ready = []
    pushed = itertools.count()
    for n in buffers:
        if deps.get(n, 0) == 0:
            heapq.heappush(ready, (-n._seq, next(pushed), n))
    prev_mode = _state.enabled
    _state.enabled = create_graph
    # NumPy's float warnings off for the whole pass (PyTorch computes inf and nan silently),
    # so the ops that backward runs need not switch them per op
    quiet = FLOAT_STATE.set(QUIET_FLOATS)
    try:
        while ready:
            node = heapq.heappop(ready)[2]
            buf = buffers.pop(node, None)
            if buf is None:
                buf = [None] * node._n_outputs
            runs = useful is None or node in run_anyway or any(n in useful for n, _ in node._edges)
            if capture_nodes and node in capture_nodes:
                if not runs:  # (a node that runs gets its tensor hooks after the capture)
                    buf = _tensor_pre_hooks(node, buf, (node, 0) in hooked)
                for nr, g in enumerate(buf):
                    if (node, nr) in capture_set:
                        captured[(node, nr)] = g
            if not runs:
                continue  # nothing wanted lies beyond this node: its backward need not run
            if node.__class__ is AccumulateGrad:
                _call_accumulate(node, buf, create_graph, fresh)
                continue
            fn = node._fn
            if (
                fn is not None
                and fn._builtin_op
                and node._n_outputs == 1
                and not (node._tensor_hooks or node._pre_hooks or node._post_hooks)
                and not (observers or _state.anomaly)
            ):  # the common node, inlined: one of ember's own ops, no hooks
                grad = buf[0]
                if grad is None:
                    results = (None,) * len(node._edges)
                else:
                    results = fn.backward(node, grad)
                    if results.__class__ is not tuple:
                        results = (results,)
            else:
                if node._tensor_hooks:
                    buf = _tensor_pre_hooks(node, buf)
                if observers:
                    for observe in observers:
                        observe(node)
                if node._pre_hooks or node._post_hooks:
                    results = _call_node(node, buf)
                else:
                    results = _run_backward(node, buf)
            if not retain_graph and node._saved is not None:
                node._saved = None
                node._freed = True
            metas = node._input_meta
            i = -1
            for nxt, nr in node._edges:
                i += 1
                if nxt is None or (useful is not None and nxt not in useful):
                    continue
                g = results[i]
                if g is not None:
                    meta = metas[i]
                    array = g._data
                    if array.shape != meta[0] or array.dtype != meta[1]:
                        g = _reduce_to(g, meta, node, i)
                    nbuf = buffers.get(nxt)
                    if nbuf is None:
                        nbuf = buffers[nxt] = [None] * nxt._n_outputs
                    nbuf[nr] = g if nbuf[nr] is None else nbuf[nr] + g
                left = deps[nxt] - 1
                deps[nxt] = left
                if not left:
                    heapq.heappush(ready, (-nxt._seq, next(pushed), nxt))
    finally:
        FLOAT_STATE.reset(quiet)
        _state.enabled = prev_mode
    return captured


def _call_accumulate(node, buf, create_graph, fresh):
    """A leaf's node: its pre-hooks, the addition into .grad, the leaf's post-accumulate-grad
    hooks, then the node's post-hooks (PyTorch's order)."""
    buf = _tensor_pre_hooks(node, buf)
    if node._pre_hooks:
        buf = _pre_hooks(node, buf)
    grad = buf[0]
    if grad is not None:
        _accumulate(node.variable, grad, create_graph, fresh)
        if _post_accumulate:
            _run_post_accumulate(node.variable)
    if node._post_hooks:
        for hook in list(node._post_hooks):
            hook((), tuple(buf))


def _writable_copy(grad):
    """A copy of a read-only gradient a user's backward may write into; under create_graph
    it stays in the graph (a bare array copy would drop the gradient's own history)."""
    if _state.enabled and grad._requires_grad:
        return grad.clone()
    return Tensor._make(grad._data.copy())


def _call_node(node, buf):
    """Run one node's pre-hooks, backward and post-hooks (after its tensors' hooks, which the
    pass runs); return one gradient per input."""
    if node._pre_hooks:
        buf = _pre_hooks(node, buf)
    results = _run_backward(node, buf)
    if node._post_hooks:
        for hook in list(node._post_hooks):
            out = hook(results, tuple(buf))
            if out is not None:
                results = _hook_grads(hook, out, len(results))
    return results


def _run_backward(node, buf):
    """The node's own backward on its output gradients (zeros stand in for missing ones
    where it asks for them); one gradient per input."""
    n_inputs = len(node._edges)
    if buf[0] is None and all(g is None for g in buf):
        return (None,) * n_inputs
    if node._n_outputs > 1 and node._materialize:
        from ember import ops

        like = next(g for g in buf if g is not None)  # zeros go on the same device
        for k, g in enumerate(buf):
            if g is None and node._out_meta[k] is not None:
                shape, np_dtype = node._out_meta[k][:2]
                buf[k] = ops.zeros(shape, dtype=np_dtype, device=like.device)
    fn = node._fn
    users = fn is None or not fn._builtin_op
    if users:  # a user's backward may write into its gradients
        buf = [g if g is None or writeable(g._data) else _writable_copy(g) for g in buf]
    if _state.anomaly:
        from ember.autograd.anomaly import run_checked

        results = run_checked(node, buf)
    elif fn is not None:
        results = fn.backward(node, *buf)
    else:
        results = node._run_backward(buf)
    if results.__class__ is not tuple:
        results = (results,)
    if users:
        results = _check_results(node, results, n_inputs)
    return results


def call_directly(node, grads):
    """Calling a grad_fn (Node.__call__): its backward alone, no hooks; one gradient per tensor
    input, summed to that input's shape (a tuple when there are several)."""
    results = _run_backward(node, list(grads))
    out = []
    for i, (edge, g) in enumerate(zip(node._edges, results)):
        if edge is NO_EDGE:
            continue
        meta = node._input_meta[i]
        if g is not None and meta is not None:
            g = _reduce_to(g, meta, node, i)
        out.append(g)
    return out[0] if len(out) == 1 else tuple(out)


def accumulate_directly(leaf, grad):
    """Calling a leaf's AccumulateGrad node: add `grad` into its .grad."""
    _accumulate(leaf, grad, _state.enabled, _FreshGrads(()))


def _check_results(node, results, n_inputs):
    """Validate what a user-written backward returned: count and types."""
    if len(results) != n_inputs:
        if len(results) > n_inputs and all(r is None for r in results[n_inputs:]):
            return results[:n_inputs]
        raise RuntimeError(
            f"function {node.name()} returned an incorrect number of gradients "
            f"(expected {n_inputs}, got {len(results)})"
        )
    for i, r in enumerate(results):
        if r is not None and not isinstance(r, Tensor):
            raise RuntimeError(  # PyTorch's type: the graph ran, its output is wrong
                f"function {node.name()} returned a gradient of type {type(r).__name__} at "
                f"index {i}; expected a Tensor or None"
            )
    return results


class _FreshGrads:
    """Decides whether a gradient's array may become a leaf's .grad as is, or needs a copy.

    A leaf's .grad must not share memory with anything else, since later backward calls add
    to it in place. Within one backward, every array handed to a leaf (or seeded as a root
    gradient) is remembered by the array that owns its memory: a gradient whose memory was
    already handed out (add gives the same gradient to both inputs; reshape and transpose give
    views of their incoming gradient) is copied, and so is a read-only broadcast view.
    """

    def __init__(self, roots):
        self.given = {id(_owner(g._data)) for g in roots}

    def own(self, grad, leaf=None):
        array = grad._data
        owner = _owner(array)
        if (
            id(owner) in self.given
            or not writeable(array)
            # a row-major leaf gets a row-major .grad (PyTorch's layout contract): a transposed
            # gradient (Linear's weight) made every optimizer step stride across memory
            or (leaf is not None and not array.flags.c_contiguous and leaf._data.flags.c_contiguous)
        ):
            array = array.copy()  # row-major
            owner = array
        self.given.add(id(owner))
        return Tensor._make(array)


def _owner(array):
    """The array that owns `array`'s memory (NumPy and CuPy point views at it)."""
    base = array.base
    return array if base is None else base


_ACCUMULATE_LOCK = threading.Lock()  # backward calls on several threads may share a leaf


def _accumulate(leaf, grad, create_graph, fresh):
    with _ACCUMULATE_LOCK:
        current = leaf._grad
        if current is None:
            leaf._grad = grad if create_graph else fresh.own(grad, leaf)
            return
        if create_graph or current.requires_grad or grad.requires_grad:
            leaf._grad = current + grad
            return
        if current._data.shape == grad._data.shape:
            current._data += grad._data
            current._vc[0] += 1
            return
        raise RuntimeError(
            f"gradient of shape {list(grad.shape)} cannot accumulate into .grad of "
            f"{type_string(leaf)}"
        )


_CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this function, "
    "make sure to reset the .grad fields of your parameters to None after use to break the "
    "cycle and avoid the leak."
)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Same as torch.autograd.backward: accumulate gradients of `tensors` into leaves' .grad.

    With `inputs`, only those receive gradients: a leaf in its .grad, a non-leaf tensor too
    (it is made to retain_grad(), as PyTorch does); the pass stops where nothing beyond leads
    to one of them.
    """
    roots = _as_tuple(tensors)
    grads = _root_gradients(roots, _as_tuple(grad_tensors))
    if retain_graph is None:
        retain_graph = create_graph
    edges = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        edges = _input_edges(inputs, "backward")
        for t in inputs:
            if isinstance(t, Tensor) and t.grad_fn is not None:
                t.retain_grad()
    if create_graph:
        warn(_CYCLE_WARNING)
    execute(roots, grads, retain_graph, create_graph, targets=edges)


def _input_edges(inputs, who):
    edges = []
    for t in inputs:
        if isinstance(t, GradientEdge):
            edges.append(t)  # (kept a GradientEdge: a leaf's hooks apply to tensor inputs only)
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}(): inputs must be Tensors, got {type(t).__name__}")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        edges.append(edge_of(t))
    return edges


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    only_inputs=True,
    allow_unused=None,
    is_grads_batched=False,
    materialize_grads=False,
):
    """Same as torch.autograd.grad: the gradients of `outputs` w.r.t. `inputs`, as a tuple.

    `outputs` and `inputs` may be tensors or GradientEdges. With `materialize_grads`, an input
    the outputs do not depend on gets zeros instead of None. With `is_grads_batched`, each
    grad_output has a leading batch dimension and so does each result: ember runs one
    backward pass per batch entry, so hooks run once per entry.
    """
    from ember import ops

    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    roots = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = _root_gradients(roots, _as_tuple(grad_outputs), batched=is_grads_batched)
    if retain_graph is None:
        retain_graph = create_graph
    edges = _input_edges(inputs, "grad")
    if is_grads_batched:
        result = _batched_grad(roots, grads, retain_graph, create_graph, edges)
    else:
        captured = execute(roots, grads, retain_graph, create_graph, capture=edges)
        result = [captured.get(edge) for edge in edges]
    for k, (t, g) in enumerate(zip(inputs, result)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            if materialize_grads:
                if isinstance(t, GradientEdge):
                    raise RuntimeError(
                        "materialize_grads cannot be used when the given input is a GradientEdge"
                    )
                result[k] = ops.zeros_like(t, requires_grad=create_graph)
    return tuple(result)


def _batched_grad(roots, grads, retain_graph, create_graph, edges):
    """autograd.grad's is_grads_batched: one pass per batch entry, the results stacked."""
    from ember import ops

    n = grads[0].shape[0]
    if any(g.shape[0] != n for g in grads):
        raise RuntimeError(
            "is_grads_batched=True needs the same batch size (first dimension) in every "
            f"grad_output; got {[g.shape[0] for g in grads]}"
        )
    per_entry = []
    for b in range(n):
        keep = retain_graph or b < n - 1  # the graph lives until the last entry's pass
        captured = execute(roots, [g[b] for g in grads], keep, create_graph, capture=edges)
        per_entry.append([captured.get(edge) for edge in edges])
    result = []
    for k in range(len(edges)):
        column = [entry[k] for entry in per_entry]
        if all(g is None for g in column):
            result.append(None)
            continue
        like = next(g for g in column if g is not None)
        column = [ops.zeros_like(like) if g is None else g for g in column]
        result.append(ops.stack(column))
    return result

"""The backward engine: dependency counting over the graph, no recursion.

Each node runs once all the gradients it awaits have arrived. This is the one place where a
gradient is summed back to its input's shape (undoing broadcasting) and cast to its dtype.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

from ember._backend import FLOAT_STATE, QUIET_FLOATS, writeable
from ember._tensor import Tensor
from ember.autograd.grad_mode import _state
from ember.autograd.graph import AccumulateGrad, edge_of, type_string
from ember.autograd.hooks import GradientEdge


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (Tensor, GradientEdge)):
        return (x,)
    return tuple(x)


def _root_gradients(roots, grads):
    """Check the roots and build their initial gradients (ones for scalars)."""
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
            if not isinstance(g, Tensor):
                raise RuntimeError("backward of a GradientEdge needs its gradient as a Tensor")
            out.append(g)
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"backward(): expected a Tensor, got {type(t).__name__}")
        if t.grad_fn is None and not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if t._data.dtype.kind != "f":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs")
            g = ops.ones_like(t)
        elif not isinstance(g, Tensor):
            g = ops.full_like(t, g)
        elif g.shape != t.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                f"output[{i}] has a shape of {tuple(t.shape)}."
            )
        elif g._data.dtype != t._data.dtype:
            g = g.to(t.dtype)  # the graph sees the output's dtype, as PyTorch casts it
        out.append(g)
    return out


def _count_dependencies(root_nodes, wanted=None):
    """How many gradients each reachable node awaits; with `wanted`, only nodes leading there."""
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
    if wanted is not None:
        useful = set(wanted)
        changed = True
        while changed:  # a node is useful when an edge from it reaches a useful node
            changed = False
            # deepest first: `order` lists parents before children, so one pass usually does
            for node in reversed(order):
                if node not in useful and any(n in useful for n, _ in node._edges):
                    useful.add(node)
                    changed = True
    else:
        useful = None
    for node in order:
        if useful is not None and node not in useful:
            continue
        for nxt, _ in node._edges:
            if nxt is not None and (useful is None or nxt in useful):
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


def _run_tensor_hooks(hooks, grad):
    # retain_grad's hook runs last, so .grad sees what the other hooks made of the gradient
    ordered = sorted(hooks, key=lambda h: getattr(h, "_retain_grad", False))
    for hook in ordered:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


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


def execute(roots, grads, retain_graph, create_graph, capture=None, accumulate=True):
    """Run backward from `roots` (tensors) seeded with `grads`.

    `capture` lists (node, output_nr) pairs whose incoming gradient is returned (autograd.grad);
    with `accumulate=False`, leaves' .grad are left alone.
    """
    args = (roots, grads, retain_graph, create_graph, capture, accumulate)
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
            hook(leaf)


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


def _execute(roots, grads, retain_graph, create_graph, capture, accumulate):
    outer, _pass.callbacks = _pass.callbacks, []
    outer_captures = _pass.captures
    _pass.captures = (*outer_captures, capture is not None)
    try:
        captured = _run_graph(roots, grads, retain_graph, create_graph, capture, accumulate)
        callbacks = _pass.callbacks
        while callbacks:  # a callback may queue another
            callbacks.pop(0)()
        return captured
    finally:
        _pass.callbacks = outer
        _pass.captures = outer_captures


def _run_graph(roots, grads, retain_graph, create_graph, capture, accumulate):
    root_edges = [tuple(t) if isinstance(t, GradientEdge) else edge_of(t) for t in roots]
    wanted = None if capture is None else [n for n, _ in capture if n is not None]
    deps, useful = _count_dependencies([n for n, _ in root_edges], wanted)
    buffers = {}
    for (node, nr), g in zip(root_edges, grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node._n_outputs
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    captured = {} if capture is not None else None
    capture_set = set(capture) if capture is not None else ()
    # inputs given as tensors (not GradientEdges): their leaves' own hooks apply, as PyTorch's
    hooked = {e for e in capture if type(e) is tuple} if capture is not None else ()
    fresh = _FreshGrads(grads)
    observers = _node_observers
    ready = [n for n in buffers if deps.get(n, 0) == 0]
    prev_mode = _state.enabled
    _state.enabled = create_graph
    # NumPy's float warnings off for the whole pass (PyTorch computes inf and nan silently),
    # so the ops that backward runs need not switch them per op
    quiet = FLOAT_STATE.set(QUIET_FLOATS)
    try:
        while ready:
            node = ready.pop()
            buf = buffers.pop(node, None)
            if buf is None:
                buf = [None] * node._n_outputs
            if node._tensor_hooks:
                for nr, hooks in node._tensor_hooks.items():
                    if buf[nr] is not None:
                        buf[nr] = _run_tensor_hooks(hooks, buf[nr])
            if capture_set:
                for nr, g in enumerate(buf):
                    if (node, nr) in capture_set:
                        leaf = node.__class__ is AccumulateGrad and (node, nr) in hooked
                        if leaf and g is not None:
                            hooks = node.variable._hooks  # a leaf's own hooks apply too
                            g = _run_tensor_hooks(hooks, g) if hooks else g
                        captured[(node, nr)] = g
            if node.__class__ is AccumulateGrad:
                if accumulate and buf[0] is not None:
                    _accumulate(node.variable, buf[0], create_graph, fresh)
                    if _post_accumulate:
                        _run_post_accumulate(node.variable)
                continue
            if useful is not None and not any(n in useful for n, _ in node._edges):
                continue  # nothing wanted lies beyond this node: its backward need not run
            if observers:
                for observe in observers:
                    observe(node)
            results = _call_node(node, buf)
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
                    ready.append(nxt)
    finally:
        FLOAT_STATE.reset(quiet)
        _state.enabled = prev_mode
    return captured


def _call_node(node, buf):
    """Run one node's backward on its output gradients; return one gradient per input."""
    if node._pre_hooks:
        for hook in list(node._pre_hooks):
            result = hook(tuple(buf))
            if result is not None:
                buf = list(result)
    n_inputs = len(node._edges)
    if buf[0] is None and all(g is None for g in buf):
        return (None,) * n_inputs
    if node._n_outputs > 1 and node._materialize:
        from ember import ops

        like = next(g for g in buf if g is not None)  # zeros go on the same device
        for k, g in enumerate(buf):
            if g is None and node._out_meta[k] is not None:
                shape, np_dtype = node._out_meta[k]
                buf[k] = ops.zeros(shape, dtype=np_dtype, device=like.device)
    fn = node._fn
    users = fn is None or not fn._builtin_op
    if users:  # a user's backward may write into its gradients
        buf = [g if g is None or writeable(g._data) else Tensor._make(g._data.copy()) for g in buf]
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
    if node._post_hooks:
        for hook in list(node._post_hooks):
            out = hook(results, tuple(buf))
            if out is not None:
                results = tuple(out)
    return results


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

    def own(self, grad):
        array = grad._data
        owner = _owner(array)
        if id(owner) in self.given or not writeable(array):
            array = array.copy()
            owner = array
        self.given.add(id(owner))
        return Tensor._make(array)


def _owner(array):
    """The array that owns `array`'s memory (NumPy and CuPy point views at it)."""
    base = array.base
    return array if base is None else base


_ACCUMULATE_LOCK = threading.Lock()  # backward calls on several threads may share a leaf


def _accumulate(leaf, grad, create_graph, fresh):
    if leaf._hooks:
        grad = _run_tensor_hooks(leaf._hooks, grad)
    with _ACCUMULATE_LOCK:
        current = leaf._grad
        if current is None:
            leaf._grad = grad if create_graph else fresh.own(grad)
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


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Same as torch.autograd.backward: accumulate gradients of `tensors` into leaves' .grad."""
    roots = _as_tuple(tensors)
    grads = _root_gradients(roots, _as_tuple(grad_tensors))
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        execute(roots, grads, retain_graph, create_graph)
        return
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    edges = _input_edges(inputs, "backward")
    captured = execute(roots, grads, retain_graph, create_graph, capture=edges, accumulate=False)
    fresh = _FreshGrads(grads)
    for t, edge in zip(inputs, edges):
        g = captured.get(edge)
        if g is not None:
            if isinstance(t, GradientEdge):  # a leaf's edge fills that leaf's .grad
                if t.node.__class__ is AccumulateGrad:
                    _accumulate(t.node.variable, g, create_graph, fresh)
            elif t.grad_fn is None:
                _accumulate(t, g, create_graph, fresh)
            else:
                t._grad = g if t._grad is None else t._grad + g


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
    """Same as torch.autograd.grad: the gradients of `outputs` w.r.t. `inputs`, as a tuple."""
    from ember import ops

    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported by ember")
    if allow_unused is None:
        allow_unused = materialize_grads
    roots = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = _root_gradients(roots, _as_tuple(grad_outputs))
    if retain_graph is None:
        retain_graph = create_graph
    edges = _input_edges(inputs, "grad")
    captured = execute(roots, grads, retain_graph, create_graph, capture=edges, accumulate=False)
    result = []
    for t, edge in zip(inputs, edges):
        g = captured.get(edge)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            if materialize_grads:
                g = ops.zeros_like(t)
        result.append(g)
    return tuple(result)

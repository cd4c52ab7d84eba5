"""Memory: training keeps RSS flat; graphs, saved tensors and hooks are freed by reference
counting alone (the cycle collector off), as soon as nothing needs them."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref

import pytest

import ember

ITERATIONS = 10_000  # about 12 s with one BLAS thread


@pytest.fixture
def no_gc():
    """Only reference counting frees objects: a leak through a cycle shows up."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_seed_mlp_keeps_rss_flat():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-m", "tests.memory_soak", "--iterations", str(ITERATIONS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loss"] < 1e-3, result  # it trained
    assert result["end_mb"] - result["start_mb"] < 2.0, result
    assert result["peak_mb"] - result["start_mb"] < 4.0, result


def _graph_nodes(root):
    """Every node reachable from `root` (iteratively)."""
    seen, stack = [], [root]
    while stack:
        node = stack.pop()
        if node is None or any(node is s for s in seen):
            continue
        seen.append(node)
        stack.extend(n for n, _ in node.next_functions)
    return seen


def _mlp_graph():
    x = ember.randn(8, 5)
    w1 = ember.randn(5, 6, requires_grad=True)
    w2 = ember.randn(6, 2, requires_grad=True)
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y = h_relu.mm(w2).tanh()
    loss = (y - 1).pow(2).sum()
    tensor_refs = [weakref.ref(t) for t in (h, h_relu, y)]
    array_refs = [weakref.ref(t._data) for t in (h, h_relu, y)]
    return w1, w2, loss, tensor_refs, array_refs


def test_backward_frees_saved_tensors_and_graph(no_gc):
    w1, w2, loss, tensor_refs, array_refs = _mlp_graph()
    node_refs = [weakref.ref(n) for n in _graph_nodes(loss.grad_fn)]
    assert len(node_refs) >= 6
    loss.backward()
    # saved intermediates go as soon as backward ends, while `loss` (and its graph) live on
    assert [r() for r in tensor_refs] == [None] * 3
    assert [r() for r in array_refs] == [None] * 3
    del loss
    alive = [r() for r in node_refs if r() is not None]
    # the leaves' AccumulateGrad nodes may be cached on the leaves, as in PyTorch
    assert all(type(n).__name__ == "AccumulateGrad" for n in alive), alive
    del w1, w2
    assert [r() for r in node_refs if r() is not None] == []


def test_retained_graph_freed_with_its_last_tensor(no_gc):
    w1, w2, loss, tensor_refs, array_refs = _mlp_graph()
    node_refs = [weakref.ref(n) for n in _graph_nodes(loss.grad_fn)]
    loss.backward(retain_graph=True)
    first = w1.grad.clone()
    assert any(r() is not None for r in array_refs)  # kept for a second backward
    loss.backward()
    assert ember.allclose(w1.grad, 2 * first)
    del loss, w1, w2
    assert [r() for r in node_refs if r() is not None] == []
    assert [r() for r in array_refs] == [None] * 3


def test_graph_dropped_without_backward_is_freed(no_gc):
    w1, w2, loss, tensor_refs, array_refs = _mlp_graph()
    node_refs = [weakref.ref(n) for n in _graph_nodes(loss.grad_fn)]
    del loss, w1, w2
    assert [r() for r in node_refs if r() is not None] == []
    assert [r() for r in array_refs] == [None] * 3


def test_create_graph_double_backward_frees_everything(no_gc):
    x = ember.randn(4, requires_grad=True)
    y = (x.sin() * x).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    node_refs = [weakref.ref(n) for n in _graph_nodes(g.grad_fn) + _graph_nodes(y.grad_fn)]
    g.sum().backward()
    del g, y
    alive = [r() for r in node_refs if r() is not None]
    assert all(type(n).__name__ == "AccumulateGrad" for n in alive), alive
    x_ref = weakref.ref(x)
    del x, alive
    assert x_ref() is None
    assert [r() for r in node_refs if r() is not None] == []


class _Hook:
    calls = 0

    def __call__(self, grad):
        _Hook.calls += 1
        return None


def test_tensor_hooks_do_not_leak(no_gc):
    leaf = ember.randn(3, requires_grad=True)
    mid = leaf * 2
    refs = []
    for _ in range(2000):
        for t in (leaf, mid):
            hook = _Hook()
            refs.append(weakref.ref(hook))
            handle = t.register_hook(hook)
            handle.remove()
            del hook, handle
    assert [r() for r in refs if r() is not None] == []
    _Hook.calls = 0
    mid.sum().backward()
    assert _Hook.calls == 0  # removed hooks never run
    # a hook that stays registered is freed with its tensor's graph
    keep = _Hook()
    ref = weakref.ref(keep)
    out = leaf * 3
    out.register_hook(keep)
    del keep
    out.sum().backward()
    assert _Hook.calls == 1
    del out
    assert ref() is None


def test_module_hooks_do_not_leak(no_gc):
    model = ember.nn.Linear(3, 2)
    refs = []
    for _ in range(1000):
        for register in (model.register_forward_hook, model.register_forward_pre_hook):
            hook = lambda *args: None  # noqa: E731
            refs.append(weakref.ref(hook))
            handle = register(hook)
            handle.remove()
            del hook, handle
    assert [r() for r in refs if r() is not None] == []
    assert len(model._forward_hooks) == 0 and len(model._forward_pre_hooks) == 0


def test_retain_grad_many_times_does_not_grow(no_gc):
    x = ember.randn(3, requires_grad=True)
    y = x * 2
    for _ in range(1000):
        y.retain_grad()
    y.sum().backward()
    assert ember.equal(y.grad, ember.ones(3))
    hooks = y.grad_fn._tensor_hooks or {}
    assert sum(len(h) for h in hooks.values()) <= 1


def test_no_grad_records_nothing(no_gc):
    w = ember.randn(5, 5, requires_grad=True)
    with ember.no_grad():
        out = w.mm(w).relu().sum()
    assert out.grad_fn is None and not out.requires_grad

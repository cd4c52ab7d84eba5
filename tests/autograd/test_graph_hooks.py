"""torch.autograd.graph's hooks in ember: saved-tensor pack/unpack hooks, save_on_cpu,
disabling them, mutation of saved tensors, gradient edges, multi-tensor hooks, node metadata."""

from __future__ import annotations

import threading

import pytest

import ember
from ember.autograd import graph


def test_pack_and_unpack_see_every_saved_tensor(lib):
    calls = []

    def pack(t):
        calls.append(("pack", tuple(t.shape), t.grad_fn is not None, lib.is_grad_enabled()))
        return t

    def unpack(t):
        calls.append(("unpack",))
        return t

    a = lib.ones(2, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = (a * a).exp()  # mul saves both inputs; exp saves its output
    y.sum().backward()
    assert calls == [
        ("pack", (2,), False, False),
        ("pack", (2,), False, False),
        ("pack", (2,), True, False),
        ("unpack",),
        ("unpack",),
        ("unpack",),
    ]
    assert a.grad.tolist() == pytest.approx([2 * 2.718281828] * 2)


def test_pack_may_store_anything_and_unpack_rebuilds(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(
        lambda t: t.tolist(), lambda values: lib.tensor(values)
    ):
        y = a * a
    y.sum().backward()
    assert a.grad.tolist() == [2.0, 4.0]


def test_custom_functions_go_through_the_hooks_too():
    packed = []

    class Square(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    x = ember.tensor([3.0], requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: packed.append(t) or "token", lambda k: packed[0]):
        y = Square.apply(x)
    y.backward()
    assert x.grad.tolist() == [6.0] and len(packed) == 1


def test_only_the_innermost_pair_applies_and_it_is_thread_local():
    outer, inner = [], []
    a = ember.ones(1, requires_grad=True)
    other_thread = []
    with graph.saved_tensors_hooks(lambda t: outer.append(1) or t, lambda t: t):
        with graph.saved_tensors_hooks(lambda t: inner.append(1) or t, lambda t: t):
            a * a
            thread = threading.Thread(target=lambda: other_thread.append((a * a).grad_fn))
            thread.start()
            thread.join()
    assert inner == [1, 1] and outer == [] and other_thread


def test_disable_saved_tensors_hooks(lib):
    hooks = lib.autograd.graph
    with hooks.disable_saved_tensors_hooks("not here"):
        with pytest.raises(RuntimeError, match="not here"):
            with hooks.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    with hooks.saved_tensors_hooks(lambda t: t, lambda t: t):
        with pytest.raises(RuntimeError, match="nor here"):
            with hooks.disable_saved_tensors_hooks("nor here"):
                pass


def test_save_on_cpu_gives_the_same_gradients(lib):
    a = lib.tensor([0.5, 1.5], requires_grad=True)
    with lib.autograd.graph.save_on_cpu():
        y = (a * a).exp().sum()
    y.backward()  # d/da exp(a^2) = 2a exp(a^2)
    assert a.grad.tolist() == pytest.approx([2 * 0.5 * 2.718281828**0.25, 3 * 2.718281828**2.25])


def test_allow_mutation_on_saved_tensors(lib):
    w = lib.ones(2, requires_grad=True)
    with lib.autograd.graph.allow_mutation_on_saved_tensors():
        b = w.clone()
        c = b * b
        b.mul_(2)  # b was saved by c's node: backward still uses its old value
        c.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]


def test_a_gradient_edge_stands_for_its_tensor_in_grad(lib):
    x = lib.ones(2, requires_grad=True)
    z = x * 2
    edge = lib.autograd.graph.get_gradient_edge(z)
    assert edge.node is z.grad_fn and edge.output_nr == 0
    (g,) = lib.autograd.grad((z * 3).sum(), edge)
    assert g.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="does not require"):
        lib.autograd.graph.get_gradient_edge(lib.ones(1))


def test_multi_grad_hook_all_and_any(lib):
    register = lib.autograd.graph.register_multi_grad_hook
    t1, t2 = lib.ones(1, requires_grad=True), lib.ones(1, requires_grad=True)
    seen = []
    handle = register((t1, t2), lambda grads: seen.append([g is not None for g in grads]))
    (t1 * 2).sum().backward()
    (t1 * t2).sum().backward()
    assert seen == [[True, False], [True, True]]
    handle.remove()
    (t1 * t2).sum().backward()
    assert len(seen) == 2
    first = []
    register((t1, t2), lambda g: first.append(g.tolist()), mode="any")
    (t1 * 3 + t2 * 5).sum().backward()
    assert first == [[5.0]]  # once per pass: the first gradient computed


@pytest.mark.parametrize("mode", ["all", "any"])
def test_multi_grad_hook_once_per_pass_with_inputs_and_threads(lib, mode):
    t1, t2, t3 = (lib.ones(2, requires_grad=True) for _ in range(3))
    calls = []
    lock = threading.Lock()

    def hook(arg):
        with lock:
            calls.append([g is not None for g in arg] if mode == "all" else "any")

    lib.autograd.graph.register_multi_grad_hook((t1, t2, t3), hook, mode=mode)
    out = (t2 * t3).sum()
    out.backward(inputs=(t2, t3), retain_graph=True)
    assert calls == ([[False, True, True]] if mode == "all" else ["any"])

    threads = [
        threading.Thread(target=lambda: out.backward(inputs=(t2, t3), retain_graph=True))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 5


def test_multi_grad_hook_after_a_failed_pass(lib):
    t1, t2 = lib.ones(2, requires_grad=True), lib.ones(2, requires_grad=True)
    fail = [True]

    class MaybeFail(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            if fail[0]:
                raise ValueError("backward failed")
            return g

    calls = []
    lib.autograd.graph.register_multi_grad_hook((t1, t2), calls.append)
    out = (MaybeFail.apply(t1) * t2).sum()
    with pytest.raises(ValueError, match="backward failed"):
        out.backward(retain_graph=True)
    assert calls == []  # the failed pass calls nothing
    fail[0] = False
    for _ in range(3):
        out.backward(retain_graph=True)
    assert [[g is not None for g in grads] for grads in calls] == [[True, True]] * 3


def test_node_metadata_and_name(lib):
    x = lib.ones(1, requires_grad=True)
    node = (x * 2).grad_fn
    node.metadata["step"] = 3
    assert node.metadata == {"step": 3} and node.name() == "MulBackward0"


def test_set_multithreading_enabled():
    assert ember.autograd.is_multithreading_enabled()
    with ember.autograd.set_multithreading_enabled(False):
        assert not ember.autograd.is_multithreading_enabled()
        x = ember.ones(1, requires_grad=True)
        (x * 2).sum().backward()
        assert x.grad.tolist() == [2.0]
    assert ember.autograd.is_multithreading_enabled()


def test_queue_callback_runs_when_the_pass_ends():
    from ember.autograd import engine

    order = []
    x = ember.ones(1, requires_grad=True)
    x.register_hook(lambda g: engine.queue_callback(lambda: order.append("end")) or None)
    (x * 2).sum().backward()
    order.append("after")
    assert order == ["end", "after"]
    with pytest.raises(RuntimeError, match="during backward pass"):
        engine.queue_callback(lambda: None)


def test_second_derivatives_flow_through_hooked_saved_tensors(lib):
    x = lib.tensor([0.5, 1.0], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda t: t):
        y = (x * x).exp()
    (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
    g.sum().backward()  # d/dx of 2x exp(x^2) = (2 + 4x^2) exp(x^2)
    assert x.grad.tolist() == pytest.approx([3 * 1.2840254, 6 * 2.7182818])


def test_post_accumulate_grad_hook_and_output_nr(lib):
    w = lib.ones(2, requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    handle.remove()
    (w * 3).sum().backward()
    assert seen == [[3.0, 3.0], [6.0, 6.0]] and w.grad.tolist() == [9.0, 9.0]
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    values, indices = lib.ones(2, 3, requires_grad=True).max(1)
    assert values.output_nr == 0 and (w * 2).output_nr == 0


def test_backward_takes_gradient_edges_as_roots_and_inputs(lib):
    get_edge = lib.autograd.graph.get_gradient_edge
    x = lib.ones(2, requires_grad=True)
    lib.autograd.backward((x * 3).sum(), inputs=[get_edge(x)])
    assert x.grad.tolist() == [3.0, 3.0]
    z = x * 2
    lib.autograd.backward(get_edge(z), lib.ones(2))  # from a node's output, given its grad
    assert x.grad.tolist() == [5.0, 5.0]


def test_execution_engine_queue_callback(lib):
    calls = []
    x = lib.ones(1, requires_grad=True)
    engine = lib.autograd.Variable._execution_engine
    x.register_hook(lambda g: engine.queue_callback(lambda: calls.append("end")))
    (x * 2).sum().backward()
    assert calls == ["end"]


def test_a_graph_saved_through_hooks_is_freed_without_the_garbage_collector():
    """exp saves its own output: through a pack hook, that entry must not hold its node
    strongly, or node -> saved entry -> node is a cycle only gc.collect frees."""
    import gc
    import weakref

    gc.disable()
    try:
        x = ember.randn(3, requires_grad=True)
        with ember.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            y = x.exp()
        node = weakref.ref(y.grad_fn)
        y.sum().backward()
        assert x.grad.tolist() == y.detach().tolist()
        del y
        assert node() is None
    finally:
        gc.enable()

"""The engine: graph shapes, accumulation, deep graphs, retain/create graph, hooks, grad mode."""

import gc
import threading
import weakref

import numpy as np
import pytest

import ember
from ember.autograd import grad


def leaf(*values, dtype=ember.float64):
    return ember.tensor(values if len(values) > 1 else values[0], dtype=dtype, requires_grad=True)


def test_diamond_sums_both_paths():
    x = leaf(2.0)
    a = x * 3
    b = x * x
    (a + b).backward()
    assert x.grad.item() == pytest.approx(3 + 2 * 2.0)


def test_shared_subgraph_is_run_once_with_summed_gradient():
    x = leaf(1.0, 2.0)
    shared = x.exp()
    out = (shared * 2).sum() + (shared * 3).sum()
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 5 * np.exp([1.0, 2.0]))


def test_gradients_accumulate_across_backward_calls():
    x = leaf(1.0, 2.0)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_leaf_grad_does_not_alias_other_gradients():
    a, b = leaf(1.0, 2.0), leaf(3.0, 4.0)
    g = ember.tensor([1.0, 1.0], dtype=ember.float64)
    (a + b).backward(g)
    a.grad.zero_()
    np.testing.assert_allclose(b.grad.numpy(), [1, 1])
    np.testing.assert_allclose(g.numpy(), [1, 1])


def test_broadcast_gradient_is_summed_to_input_shape():
    x = leaf(*[[1.0], [2.0]])  # (2, 1)
    y = leaf(1.0, 2.0, 3.0)  # (3,)
    (x * y).sum().backward()
    assert x.grad.shape == (2, 1) and y.grad.shape == (3,)
    np.testing.assert_allclose(x.grad.numpy(), [[6], [6]])
    np.testing.assert_allclose(y.grad.numpy(), [3, 3, 3])


def test_deep_chain_does_not_recurse():
    x = leaf(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_second_backward_without_retain_graph_raises():
    x = leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])


def test_non_scalar_root_needs_a_gradient():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()
    (x * 2).backward(ember.tensor([1.0, 0.5], dtype=ember.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2, 1])


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        ember.tensor([1.0]).sum().backward()


def test_create_graph_gives_second_derivative():
    x = leaf(1.0, 2.0, 3.0)
    (dy,) = grad((x**3).sum(), x, create_graph=True)
    np.testing.assert_allclose(dy.detach().numpy(), 3 * x.detach().numpy() ** 2)
    (d2y,) = grad(dy.sum(), x)
    np.testing.assert_allclose(d2y.numpy(), 6 * x.detach().numpy())


def test_backward_with_create_graph_leaves_differentiable_grad():
    x = leaf(2.0)
    (x**3).backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(12.0)


def test_autograd_grad_does_not_touch_leaf_grads_and_prunes():
    x, w = leaf(1.0, 2.0), leaf(3.0, 4.0)
    y = (x * w).sum()
    (gx,) = grad(y, x)
    np.testing.assert_allclose(gx.numpy(), [3, 4])
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x, z = leaf(1.0), leaf(2.0)
    y = x * 2
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        grad(y, [x, z], retain_graph=True)
    gx, gz = grad(y, [x, z], allow_unused=True)
    assert gx.item() == 2.0 and gz is None
    _, gz = grad(x * 2, [x, z], materialize_grads=True)
    assert gz.item() == 0.0


def test_grad_of_non_leaf_input():
    x = leaf(1.0, 2.0)
    h = x * 2
    y = (h * h).sum()
    (gh,) = grad(y, h)
    np.testing.assert_allclose(gh.numpy(), [4, 8])


def test_backward_inputs_only_accumulates_there():
    x, w = leaf(1.0), leaf(3.0)
    (x * w).backward(inputs=[w])
    assert x.grad is None and w.grad.item() == 1.0


def test_tensor_hook_can_replace_gradient():
    x = leaf(1.0, 2.0)
    h = x * 1
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    h.sum().backward()
    np.testing.assert_allclose(seen[0], [1, 1])
    np.testing.assert_allclose(x.grad.numpy(), [10, 10])


def test_leaf_hook_and_handle_remove():
    x = leaf(1.0)
    handle = x.register_hook(lambda g: g * 2)
    (x * 1).backward()
    assert x.grad.item() == 2.0
    handle.remove()
    (x * 1).backward()
    assert x.grad.item() == 3.0


def test_retain_grad_on_non_leaf():
    x = leaf(1.0, 2.0)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())


def test_non_leaf_grad_access_warns():
    x = leaf(1.0)
    y = x * 2
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None


def test_node_names_and_next_functions():
    x = leaf(1.0, 2.0)
    y = (x * 2).sum()
    assert y.grad_fn.name() == "SumBackward0"
    ((mul_node, _),) = y.grad_fn.next_functions
    assert type(mul_node).__name__ == "MulBackward0"
    accumulate = mul_node.next_functions[0][0]
    assert type(accumulate).__name__ == "AccumulateGrad" and accumulate.variable is x
    assert len(mul_node.next_functions) == 1  # a Python number is no input
    constant = ember.tensor([2.0, 2.0], dtype=ember.float64)
    assert (x * constant).grad_fn.next_functions[1] == (None, 0)


def test_no_grad_builds_no_graph():
    x = leaf(1.0)
    with ember.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad


def test_no_grad_as_decorator_and_enable_grad_inside():
    x = leaf(1.0)

    @ember.no_grad()
    def f():
        with ember.enable_grad():
            inner = x * 2
        return x * 2, inner

    outer, inner = f()
    assert outer.grad_fn is None and inner.grad_fn is not None
    assert ember.is_grad_enabled()


def test_set_grad_enabled_function_and_context():
    with ember.set_grad_enabled(False):
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)
    try:
        assert not ember.is_grad_enabled()
    finally:
        ember.set_grad_enabled(True)


def test_inference_mode():
    x = leaf(1.0)
    with ember.inference_mode():
        assert (x * 2).grad_fn is None


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        seen["worker"] = ember.is_grad_enabled()

    with ember.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        seen["main"] = ember.is_grad_enabled()
    assert seen == {"worker": True, "main": False}


def test_saved_tensors_are_freed_after_backward():
    x = leaf(1.0, 2.0)
    y = x.exp()
    node = y.grad_fn
    z = y.sum()
    z.backward()
    assert node._saved is None


def test_graph_is_freed_without_cycle_collector():
    gc.disable()
    try:
        x = leaf(1.0, 2.0)
        y = (x.exp() * x).sum()
        ref = weakref.ref(y.grad_fn)
        y.backward()
        del y
        assert ref() is None
    finally:
        gc.enable()


def test_retained_graph_is_freed_when_output_dropped():
    gc.disable()
    try:
        x = leaf(1.0, 2.0)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        ref = weakref.ref(y.grad_fn)
        del y
        assert ref() is None
    finally:
        gc.enable()


def test_float32_and_float64_mixing_casts_gradients():
    a = leaf(1.0, 2.0, dtype=ember.float32)
    b = leaf(3.0, 4.0, dtype=ember.float64)
    (a * b).sum().backward()
    assert a.grad.dtype == ember.float32 and b.grad.dtype == ember.float64
    np.testing.assert_allclose(a.grad.numpy(), [3, 4])


def test_node_pre_and_post_hooks():
    x = leaf(1.0)
    y = x * 2
    calls = []
    y.grad_fn.register_prehook(lambda gout: calls.append("pre"))
    y.grad_fn.register_hook(lambda gin, gout: calls.append("post"))
    y.backward()
    assert calls == ["pre", "post"]


def test_anomaly_mode_names_the_node_and_the_forward_line():
    x = ember.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection"):
        guard = ember.autograd.detect_anomaly()
    with guard:
        y = x.sqrt()  # d sqrt/dx at 0 is inf; times 0 below gives nan
        z = (y * 0).sum()
        with pytest.warns(RuntimeWarning, match="test_engine.py") as record:
            with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan"):
                z.backward()
    assert any("y = x.sqrt()" in str(r.message) for r in record)
    assert not ember.autograd.is_anomaly_enabled()


def test_set_detect_anomaly_toggles():
    ember.autograd.set_detect_anomaly(True)
    try:
        assert ember.autograd.is_anomaly_enabled()
    finally:
        ember.autograd.set_detect_anomaly(False)
    assert not ember.autograd.is_anomaly_enabled()


def test_leaf_grads_that_are_views_of_one_gradient_do_not_share_memory():
    a = ember.ones(2, 3, requires_grad=True)
    b = ember.ones(2, 3, requires_grad=True)
    (a.t() + b.t()).backward(ember.ones(3, 2))
    a.grad.zero_()
    assert b.grad.numpy().sum() == 6.0
    (a.t() * 2).sum().backward()  # accumulating into one leaf leaves the other alone
    assert b.grad.numpy().sum() == 6.0 and a.grad.numpy().sum() == 12.0

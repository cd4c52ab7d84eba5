"""The engine: graph shapes, accumulation, deep graphs, retain/create graph, hooks, grad mode."""

import gc
import threading
import warnings
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
        with pytest.warns(UserWarning, match="test_engine.py") as record:
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


def test_grad_materialize_grads_gives_zeros_that_can_be_differentiated_again(lib):
    x = lib.tensor(0.5, requires_grad=True)
    y = x * lib.tensor(1.0, requires_grad=True)
    (dydx,) = lib.autograd.grad(y, x, create_graph=True)
    (none,) = lib.autograd.grad(dydx, x, create_graph=True, allow_unused=True)
    (zero,) = lib.autograd.grad(dydx, x, create_graph=True, materialize_grads=True)
    assert none is None and zero.item() == 0 and zero.requires_grad
    (again,) = lib.autograd.grad(zero, x, materialize_grads=True)
    assert again.item() == 0
    with pytest.raises(ValueError, match="Expected allow_unused to be True or not passed"):
        lib.autograd.grad(y, x, allow_unused=False, materialize_grads=True)


def test_grad_materialize_grads_refuses_an_unused_gradient_edge(lib):
    x = lib.rand(2, requires_grad=True).clone()
    y = lib.rand(2, requires_grad=True).clone()
    y_edge = lib.autograd.graph.get_gradient_edge(y)
    out = x.clone().sum()
    lib.autograd.grad(out, (x, y_edge), allow_unused=True, retain_graph=True)
    with pytest.raises(RuntimeError, match="materialize_grads cannot be used when the given"):
        lib.autograd.grad(out, (x, y_edge), materialize_grads=True)


def test_grad_with_batched_grad_outputs_equals_one_pass_per_row(lib):
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = x * x
    rows = lib.tensor(
        [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [2.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]
    )
    (batched,) = lib.autograd.grad(out, x, rows, is_grads_batched=True, retain_graph=True)
    assert batched.shape == (3, 2, 2)
    for b in range(3):
        (one,) = lib.autograd.grad(out, x, rows[b], retain_graph=True)
        assert batched[b].tolist() == one.tolist()
    (from_ints,) = lib.autograd.grad(x.sum(), x, lib.arange(3), is_grads_batched=True)
    assert from_ints.dtype == x.dtype and from_ints[2].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    with pytest.raises(RuntimeError, match="If `is_grads_batched=True`, we interpret the first"):
        lib.autograd.grad(out, x, lib.ones(2, 2), is_grads_batched=True)


def test_a_gradient_edge_can_be_an_output_of_grad_and_backward(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    mid = x.sin().sum()
    edge = lib.autograd.graph.get_gradient_edge(mid)
    (through_edge,) = lib.autograd.grad(edge, x, retain_graph=True)  # implicit 1 for a scalar
    assert through_edge.tolist() == pytest.approx(x.detach().cos().tolist())
    lib.autograd.backward(edge, retain_graph=True)
    assert x.grad.tolist() == through_edge.tolist()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        lib.autograd.grad(edge, x, grad_outputs=lib.ones(3), retain_graph=True)
    wide = lib.autograd.graph.get_gradient_edge(x.sin())
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        lib.autograd.grad(wide, x)


def test_node_input_metadata_describes_what_each_output_gradient_must_be(lib):
    x = lib.ones(2, 3, requires_grad=True)
    y = x.sum(0)
    lib.autograd.graph.get_gradient_edge(y)  # (ember learns a one-output op's shape here)
    (meta,) = y.grad_fn._input_metadata
    assert tuple(meta.shape) == (3,) and meta.dtype == lib.float32
    acc = y.grad_fn.next_functions[0][0]
    assert tuple(acc._input_metadata[0].shape) == (2, 3)


def test_calling_a_grad_fn_runs_its_backward_and_checks_the_count(lib):
    x = lib.ones(2, requires_grad=True)
    y = x**2
    assert y.grad_fn(lib.ones(2)).tolist() == [2.0, 2.0]
    for wrong in ((), (lib.ones(2), lib.ones(2))):
        with pytest.raises(TypeError, match="expected 1 arguments, got .* instead"):
            y.grad_fn(*wrong)
    acc = x.clone().grad_fn.next_functions[0][0]
    assert acc(lib.ones(2)) == () and x.grad.tolist() == [1.0, 1.0]


def test_increment_version_makes_a_stale_saved_tensor_an_error(lib):
    a = lib.ones(3, requires_grad=True)
    b = a * 1.0
    c = b * b
    before = b._version
    lib.autograd.graph.increment_version(b)
    assert b._version == before + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()
    lib.autograd.graph.increment_version([lib.zeros(2, dtype=lib.int32)])  # lists work too


def test_backward_with_create_graph_warns_of_the_cycle_and_grad_does_not(lib):
    # (torch warns once per process unless set_warn_always; ember leaves that to Python's
    # warning filters, which show it once per calling line by default)
    always = getattr(lib, "set_warn_always", None)
    was = always and lib.is_warn_always_enabled()
    if always:
        always(True)
    try:
        x = lib.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="Using backward\\(\\) with create_graph=True"):
            (x * x).sum().backward(create_graph=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.autograd.grad((x * x).sum(), x, create_graph=True)
    finally:
        if always:
            always(was)


def test_resize_function_of_autograd_functions(lib):
    if lib.__name__ == "torch":
        import torch.autograd._functions  # noqa: F401 - torch loads it lazily
    else:
        import ember.autograd._functions  # noqa: F401
    x = lib.ones(2, 3, requires_grad=True)
    y = lib.autograd._functions.Resize.apply(x, (3, 2))
    assert tuple(y.shape) == (3, 2)
    (y * lib.arange(6.0).view(3, 2)).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(RuntimeError, match="autograd's resize can only change the shape"):
        lib.autograd._functions.Resize.apply(x, (4,))


class _NanBackward:
    """A custom Function (per library) whose backward returns NaN; `parent` calls it from its
    own backward, so the NaN-producing node is made by a backward pass."""

    def __init__(self, lib):
        class Nan(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * float("nan")

        class Parent(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 3

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return Nan.apply(g * x)

        self.nan, self.parent = Nan, Parent


def test_anomaly_mode_names_the_failing_node_and_the_backward_that_made_it(lib):
    fns = _NanBackward(lib)
    x = lib.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with lib.autograd.detect_anomaly():
            (g,) = lib.autograd.grad(fns.parent.apply(x).sum(), x, create_graph=True)
            with pytest.raises(RuntimeError, match="Function 'NanBackward' returned nan values"):
                g.sum().backward()
    messages = [str(w.message) for w in record if "Anomaly Detection" not in str(w.message)]
    assert messages[0].startswith("Error detected in NanBackward. Traceback of forward call")
    assert "return Nan.apply(g * x)" in messages[0]
    assert "Previous calculation was induced by ParentBackward" in messages[1]
    assert "fns.parent.apply(x)" in messages[1]


def test_anomaly_mode_without_a_recorded_forward_says_so(lib):
    fns = _NanBackward(lib)
    x = lib.ones(2, requires_grad=True)
    (g,) = lib.autograd.grad(fns.parent.apply(x).sum(), x, create_graph=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with lib.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="nan values"):
            g.sum().backward()
    assert any("No forward pass information available" in str(w.message) for w in record)


def test_anomaly_mode_reports_any_error_raised_by_a_backward(lib, capsys):
    x = lib.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with lib.autograd.detect_anomaly():
            d = x + 1
            squared = d**2
            d += 1
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                lib.autograd.grad(squared.sum(), x)
    assert any("Error detected in PowBackward0" in str(w.message) for w in record)
    with lib.autograd.detect_anomaly():
        d = x + 1
        squared = d**2
        d += 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the warning cannot be raised: it goes to stderr
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                lib.autograd.grad(squared.sum(), x)
    assert "Error detected in PowBackward0" in capsys.readouterr().err


def test_a_read_only_gradient_handed_to_a_custom_backward_keeps_its_history(lib):
    """The gradient reaching a custom backward here is a broadcast (read-only) view of `a`;
    the writable copy it gets must stay in the graph, or d(dy/dx)/da is silently lost."""

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            grad[0] = grad[0]  # allowed: the backward owns its gradient
            return 2 * x * grad

    x = lib.tensor([1.0, 2.0], requires_grad=True)
    a = lib.tensor(3.0, requires_grad=True)
    (dx,) = lib.autograd.grad(Square.apply(x).sum() * a, x, create_graph=True)
    (da,) = lib.autograd.grad(dx.sum(), a)
    assert dx.tolist() == [6.0, 12.0] and da.item() == 6.0


@pytest.mark.parametrize("write", [False, True])
def test_a_second_backward_through_advanced_indexing_raises(lib, write):
    x = lib.randn(4, requires_grad=True)
    if write:
        y = x.clone()
        y[[0, 2]] = 5.0
    else:
        y = x[[0, 2]]
    total = y.sum()
    total.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        total.backward()

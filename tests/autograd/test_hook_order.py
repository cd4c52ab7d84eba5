"""When each kind of backward hook runs, relative to the others and to the nodes, and what a
hook may return. Every case runs in ember and in PyTorch (the `lib` fixture): same log."""

import pytest


def _log_every_hook(lib, leaf, log):
    """Hooks of every kind on `leaf` and on its AccumulateGrad node, each logging its name."""
    out = leaf * 1.0
    acc = out.grad_fn.next_functions[0][0]
    leaf.register_hook(lambda g: log.append("tensor"))
    acc.register_prehook(lambda gs: log.append("node pre"))
    acc.register_hook(lambda gi, go: log.append(f"node post {len(gi)} {len(go)}"))
    leaf.register_post_accumulate_grad_hook(lambda t: log.append("post accumulate"))
    return out


def test_a_leafs_hooks_run_tensor_then_node_pre_then_accumulate_then_node_post(lib):
    x = lib.ones(2, requires_grad=True)
    log = []
    out = _log_every_hook(lib, x, log)
    out.sum().backward()
    assert log == ["tensor", "node pre", "post accumulate", "node post 0 1"]


def test_each_hook_sees_what_the_one_before_made_of_the_gradient(lib):
    x = lib.ones(3, requires_grad=True)
    acc = x.view_as(x).grad_fn.next_functions[0][0]
    x.register_hook(lambda g: g - 2.0)  # 1 -> -1
    acc.register_prehook(lambda gs: (gs[0] / 5.0,))  # -> -0.2

    def add_half(t):
        t.grad.add_(0.5)  # .grad (the tensor the node was given) = 0.3

    x.register_post_accumulate_grad_hook(add_half)

    def overwrite(grad_inputs, grad_outputs):
        x.grad = grad_outputs[0] * 10

    acc.register_hook(overwrite)
    x.sum().backward()
    assert x.grad.tolist() == pytest.approx([3.0, 3.0, 3.0])


def test_tensor_hooks_come_before_node_prehooks_whatever_the_registration_order(lib):
    log = []

    def times3(g):
        log.append("tensor")
        return g * 3

    def times2(gs):
        log.append("node")
        return tuple(g * 2 for g in gs)

    a = lib.tensor(1.0, requires_grad=True)
    b = a.clone()
    b.grad_fn.register_prehook(times2)
    b.register_hook(times3)
    b.retain_grad()
    b.grad_fn.register_prehook(times2)
    b.sum().backward()
    assert log == ["tensor", "node", "node"]
    assert b.grad.item() == 3  # retain_grad keeps the gradient before the node's pre-hooks
    assert a.grad.item() == 12


def test_grad_runs_tensor_hooks_of_what_it_returns_but_not_that_nodes_hooks(lib):
    a = lib.tensor(1.0, requires_grad=True)
    b = a * 2
    c = b * 2
    log = []
    for t in (a, b):
        t.register_hook(lambda g: log.append("tensor"))
    acc = b.grad_fn.next_functions[0][0]
    for node in (acc, b.grad_fn):
        node.register_prehook(lambda gs: log.append("pre"))
        node.register_hook(lambda gi, go: log.append("post"))

    lib.autograd.grad(c, b, retain_graph=True)
    assert log == ["tensor"]  # b's node needs not run: nothing asked lies beyond it
    log.clear()
    lib.autograd.grad(c, (a, b), retain_graph=True)
    assert sorted(log) == ["post", "pre", "tensor", "tensor"]  # a's AccumulateGrad never runs
    log.clear()
    c.backward(inputs=(a, b), retain_graph=True)
    assert sorted(log) == ["post", "post", "pre", "pre", "tensor", "tensor"]


def test_backward_with_a_non_leaf_input_makes_it_retain_its_grad(lib):
    a = lib.ones(2, requires_grad=True)
    b = a * 2
    (b * b).sum().backward(inputs=[b], retain_graph=True)
    assert b.retains_grad and b.grad.tolist() == [4.0, 4.0]
    assert a.grad is None


def test_the_ready_node_made_last_runs_first_and_set_sequence_nr_changes_that(lib):
    x, y, z = (lib.ones(2, requires_grad=True) for _ in range(3))
    a = x + y
    b = y + z
    order = []
    a.register_hook(lambda g: order.append("a"))
    b.register_hook(lambda g: order.append("b"))
    (a + b).sum().backward(retain_graph=True)
    assert order == ["b", "a"]
    a.grad_fn._set_sequence_nr(b.grad_fn._sequence_nr() + 1)
    assert a.grad_fn._sequence_nr() == b.grad_fn._sequence_nr() + 1
    order.clear()
    (a + b).sum().backward()
    assert order == ["a", "b"]


def test_node_prehooks_get_every_output_of_a_multi_output_function(lib):
    class Pair(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k, k, x * 2 * k

        @staticmethod
        def backward(ctx, g1, _, g2):
            return g1 * 3 + g2 * 6, None

    seen = []

    def double(grads):
        seen.append(len(grads))
        assert grads[1] is None
        return (grads[0] * 2, None, grads[2] * 2)

    x = lib.ones(2, requires_grad=True)
    first, _, second = Pair.apply(x, 3)
    first.grad_fn.register_prehook(double)
    (first + second).sum().backward()
    assert seen == [3] and x.grad.tolist() == [18.0, 18.0]


@pytest.mark.parametrize(
    "where, returned, error, message",
    [
        ("tensor", 1, TypeError, "expected Variable, but hook returned 'int'"),
        ("tensor", "ones3", RuntimeError, "hook 'bad' has changed the size of value"),
        ("tensor", "double", RuntimeError, "hook 'bad' has changed the type of value"),
        ("pre", 1, TypeError, "expected tuple, but hook returned 'int'"),
        ("pre", "list", TypeError, "expected tuple, but hook returned 'list'"),
        ("pre", "two", RuntimeError, "incorrect number of values \\(got 2, but expected 1\\)"),
        ("post", "list", TypeError, "expected tuple, but hook returned 'list'"),
        ("post", "one", RuntimeError, "incorrect number of values \\(got 1, but expected 2\\)"),
    ],
)
def test_hooks_returning_the_wrong_thing_are_refused(lib, where, returned, error, message):
    x = lib.ones(2, requires_grad=True)
    y = x * x

    def bad(*args):
        g = y.detach()
        return {
            "ones3": lib.ones(3),
            "double": g.double(),
            "list": [g],
            "two": (g, g),
            "one": (g,),
        }.get(returned, returned)

    {"tensor": y.register_hook, "pre": y.grad_fn.register_prehook}.get(
        where, y.grad_fn.register_hook
    )(bad)
    with pytest.raises(error, match=message):
        y.sum().backward()


def test_a_post_accumulate_grad_hook_must_return_none(lib):
    x = lib.ones(2, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: t.grad)
    with pytest.raises(RuntimeError, match="post accumulate grad hooks should return None"):
        x.sum().backward()


def test_module_full_backward_hook_runs_after_a_prehook_on_its_input_node(lib):
    log = []
    module = lib.nn.Linear(3, 3)
    module.register_full_backward_hook(lambda *args: log.append("module"))
    nodes = []  # the forward hook sees the inputs as routed through the hook's node
    module.register_forward_hook(lambda mod, args, out: nodes.append(args[0].grad_fn))
    out = module(lib.ones(2, 3, requires_grad=True))
    nodes[0].register_prehook(lambda gs: log.append("pre"))
    nodes[0].register_hook(lambda gi, go: log.append("post"))
    out.sum().backward()
    assert log == ["pre", "module", "post"]


def test_module_full_backward_hook_is_not_rerun_by_a_double_backward(lib):
    calls = []
    loss_fn = lib.nn.MSELoss()
    loss_fn.register_full_backward_hook(lambda *args: calls.append(1))
    x = lib.rand(1, requires_grad=True)
    (dx,) = lib.autograd.grad(loss_fn(x, lib.rand(1)), x, create_graph=True)
    assert len(calls) == 1
    lib.autograd.grad(dx, x)  # goes through the module's backward graph, not its output
    assert len(calls) == 1

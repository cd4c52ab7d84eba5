"""Behaviours where ember once differed from PyTorch without a word; each against PyTorch."""

from __future__ import annotations

import pytest

import ember


def test_a_retained_grad_belongs_to_the_current_version(lib):
    leaf = lib.ones(1, requires_grad=True)
    a = leaf.clone()
    a.retain_grad()
    a.mul_(2)
    a.sum().backward()
    assert a.grad.tolist() == [1.0] and leaf.grad.tolist() == [2.0]


def test_an_inplace_change_through_one_view_is_seen_through_a_sibling(lib):
    root = lib.ones(2, 2, requires_grad=True)
    x = root.clone()
    v1, v2 = x.narrow(0, 0, 1), x.narrow(0, 0, 1)
    v1.mul_(2)
    v2.sum().backward()
    assert root.grad.tolist() == [[2.0, 2.0], [0.0, 0.0]]


def test_a_view_made_before_its_base_changed_in_place_follows_the_base(lib):
    root = lib.ones(2, 2, requires_grad=True)
    x = root.clone()
    row = x[0]
    x.mul_(3)
    row.backward(lib.ones(2))  # the stale view as the root of backward
    assert root.grad.tolist() == [[3.0, 3.0], [0.0, 0.0]]


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_of_all_nans_shares_the_gradient(lib, name):
    x = lib.tensor([float("nan")] * 3, requires_grad=True)
    getattr(lib, name)(x).backward()
    assert x.grad.tolist() == pytest.approx([1 / 3] * 3)
    y = lib.tensor([1.0, float("nan"), 2.0], requires_grad=True)
    getattr(lib, name)(y).backward()
    assert y.grad.tolist() == [0.0, 1.0, 0.0]
    z = lib.tensor([float("nan")] * 2, requires_grad=True)
    lib.amax(z).backward()  # amax keeps PyTorch's NaN gradient
    assert all(g != g for g in z.grad.tolist())


def test_a_second_backward_through_a_node_that_saved_something_raises(lib):
    leaf = lib.ones(2, requires_grad=True)
    y = (leaf * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    assert leaf.grad.tolist() == [2.0, 2.0]  # nothing accumulated by the refused pass
    z = (leaf + 1).sum()  # nothing saved anywhere: a second pass is allowed, as PyTorch
    z.backward()
    z.backward()
    assert leaf.grad.tolist() == [4.0, 4.0]


def test_setup_context_gets_forwards_defaults(lib):
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(x, factor=3.0):
            return x * factor

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.factor = inputs[1]

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor, None

    x = lib.ones(2, requires_grad=True)
    Scale.apply(x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_a_custom_backward_may_write_into_its_gradient(lib):
    class ZeroFirst(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            grad[0] = 0
            return grad

    x = lib.ones(3, requires_grad=True)
    (ZeroFirst.apply(x) * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 3.0]
    y = lib.ones(3, requires_grad=True)
    ZeroFirst.apply(y).sum().backward()  # sum()'s gradient is a broadcast: writable too
    assert y.grad.tolist()[0] == 0.0  # (PyTorch's stride-0 broadcast zeroes all three)


def test_deep_reentrant_backward_has_no_depth_limit(lib):
    class Deeper(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with lib.enable_grad():
                ctx.x = x.detach().requires_grad_() - 1
            return ctx.x.detach()

        @staticmethod
        def backward(ctx, grad):
            if ctx.x < 0:
                return grad
            with lib.enable_grad():
                Deeper.apply(ctx.x).sum().backward()
            return grad

    v = lib.tensor(1500.0, requires_grad=True)
    Deeper.apply(v).sum().backward()
    assert v.grad.item() == 1.0


def test_reentrant_backward_keeps_grad_mode_and_errors():
    class Fails(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.depth = int(x.item())
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            if ctx.depth == 0:
                raise ValueError("deep down")
            with ember.enable_grad():
                inner = ember.tensor(float(ctx.depth - 1), requires_grad=True)
                Fails.apply(inner).sum().backward()
            return grad

    start = ember.tensor(120.0, requires_grad=True)  # deeper than one thread's share
    with pytest.raises(ValueError, match="deep down"):
        Fails.apply(start).sum().backward()
    assert ember.is_grad_enabled()


def test_zero_to_a_tensor_power_has_pytorchs_exponent_gradient(lib):
    b = lib.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    lib.pow(0.0, b).sum().backward()
    assert b.grad.tolist() == [float("-inf"), 0.0, 0.0]


def test_atan2_at_the_origin_has_zero_gradient(lib):
    x, y = lib.zeros(1, requires_grad=True), lib.zeros(1, requires_grad=True)
    lib.atan2(x, y).sum().backward()
    assert x.grad.tolist() == [0.0] and y.grad.tolist() == [0.0]


def test_grad_applies_hooks_of_leaf_inputs(lib):
    a = lib.ones(2, requires_grad=True)
    a.register_hook(lambda g: g * 10)
    assert lib.autograd.grad((a * 2).sum(), a)[0].tolist() == [20.0, 20.0]


def test_a_custom_function_may_name_its_backward_vjp(lib):
    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def vjp(ctx, grad):
            return grad * 2

    x = lib.ones(2, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_del_grad_and_anomaly_without_nan_checks(lib):
    x = lib.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    del x.grad
    assert x.grad is None
    z = lib.zeros(1, requires_grad=True)
    with pytest.warns(UserWarning):
        with lib.autograd.detect_anomaly(check_nan=False):
            (z.sqrt() * 0).sum().backward()  # NaN gradient, but no check asked for
    assert z.grad.isnan().all()

"""In-place shape changes (transpose_, t_, squeeze_, unsqueeze_, swapdims_, as_strided_) and
the storage-level resize_, resize_as_ and set_: shapes, strides, versions, gradients and the
errors, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember

SHAPE_OPS = [
    ("transpose_", lambda t: t.transpose_(0, 2)),
    ("t_", lambda t: t[0].t_()),
    ("squeeze_", lambda t: t[:, :1].squeeze_()),
    ("squeeze_dims", lambda t: t[:, :1].squeeze_((0, 1))),
    ("unsqueeze_", lambda t: t.unsqueeze_(-1)),
    ("swapaxes_", lambda t: t.swapaxes_(1, 2)),
    ("swapdims_", lambda t: t.swapdims_(0, 1)),
    ("as_strided_", lambda t: t.as_strided_((3, 2), (1, 3), 2)),
]


@pytest.mark.parametrize("name, op", SHAPE_OPS, ids=[n for n, _ in SHAPE_OPS])
def test_shape_change_in_place_matches_pytorch(name, op, torch):
    values = np.random.default_rng(0).standard_normal((2, 3, 4))
    results = []
    for lib in (torch, ember):
        leaf = lib.tensor(values, requires_grad=True)
        x = leaf * 1.0
        before = x._version
        out = op(x)
        weights = lib.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)))
        (out * weights).sum().backward()
        results.append((tuple(out.shape), out.stride(), x._version - before, leaf.grad.numpy()))
    (t_shape, t_stride, t_bump, t_grad), (e_shape, e_stride, e_bump, e_grad) = results
    assert e_shape == t_shape and e_stride == t_stride
    assert e_bump == t_bump == 1
    np.testing.assert_allclose(e_grad, t_grad)


def test_shape_change_returns_self_and_keeps_values():
    x = ember.arange(6.0).reshape(2, 3)
    assert x.t_() is x
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3).T)


def test_shape_change_on_leaf_that_requires_grad_is_refused_outside_no_grad():
    x = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.transpose_(0, 1)
    with ember.no_grad():
        x.transpose_(0, 1)
    assert x.shape == (3, 2) and x.is_leaf
    x.sum().backward()
    assert x.grad.shape == (3, 2)


def test_in_place_op_on_transposed_view_updates_base_gradient(torch):
    grads = []
    for lib in (torch, ember):
        leaf = lib.zeros(2, 3, requires_grad=True)
        base = leaf.clone()
        view = base[0:2]
        view.t_()
        view.mul_(lib.arange(6.0).reshape(3, 2))
        (base + leaf).sum().backward()
        grads.append((base.detach().numpy(), leaf.grad.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])


def test_shape_change_carries_forward_mode_tangent():
    import ember.autograd.forward_ad as fwad

    x = ember.arange(6.0).reshape(2, 3)
    with fwad.dual_level():
        dual = fwad.make_dual(x, ember.ones(2, 3) * ember.arange(3.0)) * 1.0
        dual.t_()
        tangent = fwad.unpack_dual(dual).tangent
    np.testing.assert_array_equal(tangent.numpy(), (np.ones((2, 3)) * np.arange(3.0)).T)


def test_t_refuses_more_than_two_dims(torch):
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="t_\\(\\) expects a tensor with <= 2 dimensions"):
            lib.ones(2, 3, 4).t_()


def test_inference_tensor_shape_change_follows_pytorch():
    with ember.inference_mode():
        x = ember.ones(1, 2, 3, requires_grad=True)
        x.transpose_(0, 1)
        assert ember.is_inference(x) and x.requires_grad
    y = None
    with ember.inference_mode():
        y = ember.ones(1, 2, 3)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
        y.transpose_(0, 1)


# --- resize_ and resize_as_ ---
def test_resize_versions_match_pytorch(torch):
    bumps = []
    for lib in (torch, ember):
        x = lib.rand(1)
        y = lib.randn(3)
        seen = []
        x.resize_((1, 2))
        seen.append(x._version)
        x.resize_as_(y)
        seen.append(x._version)
        x.resize_((3,))  # the same shape: a no-op
        x.resize_as_(y)
        seen.append(x._version)
        bumps.append(seen)
    assert bumps[1] == bumps[0] == [1, 2, 2]


def test_resize_within_and_beyond_storage(torch):
    for lib in (torch, ember):
        x = lib.arange(6.0)
        x.resize_(2, 2)
        assert x.tolist() == [[0.0, 1.0], [2.0, 3.0]] and x.stride() == (2, 1)
        x.resize_(6)
        assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # the storage kept its values
        x.resize_(8)
        assert x.shape == (8,) and x[:6].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_resize_of_a_view_starts_at_its_offset(torch):
    for lib in (torch, ember):
        base = lib.arange(6.0)
        view = base[2:4]
        view.resize_(3)
        assert view.tolist() == [2.0, 3.0, 4.0]
        view.fill_(9.0)
        assert base.tolist() == [0.0, 1.0, 9.0, 9.0, 9.0, 5.0]


def test_resize_refuses_tensors_that_require_grad(torch):
    for lib in (torch, ember):
        x = lib.ones(2, requires_grad=True)
        for context in (lib.no_grad, lib.enable_grad):
            with context(), pytest.raises(RuntimeError, match="cannot resize variables that"):
                x.resize_(3)
        with lib.inference_mode():
            y = lib.ones(1, 2, 3, requires_grad=True)
            y.resize_(1, 2)
            assert y.shape == (1, 2)


# --- set_ ---
def test_set_forms_match_pytorch(torch):
    out = []
    for lib in (torch, ember):
        a, b = lib.ones(4), lib.arange(6.0)
        a.set_(b)
        shared = a.data_ptr() == b.data_ptr()
        b.add_(1)
        first = (a.tolist(), a._version, b._version, shared)
        a.set_(b, 1, (2, 2), (1, 2))
        second = (a.tolist(), a.storage_offset(), a.stride(), a._version)
        a.set_(b, 0, (3,))
        third = (a.tolist(), a.stride())
        a.set_()
        out.append((first, second, third, tuple(a.shape), a._version))
    assert out[1] == out[0]


def test_set_errors_match_pytorch(torch):
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="Could not set tensor of type double"):
            lib.ones(3).set_(lib.ones(3, dtype=lib.float64))
        leaf = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf.set_(lib.zeros(3))
    with pytest.raises(TypeError, match="pass a tensor instead"):
        ember.ones(2).set_(ember.ones(2).untyped_storage())


def test_set_in_a_recorded_graph_refuses_backward(torch):
    for lib in (torch, ember):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        y.set_(lib.zeros(3))
        assert y.requires_grad
        with pytest.raises(RuntimeError, match="derivative for set_ is not implemented"):
            y.sum().backward()


def test_set_under_no_grad_gives_the_leaf_a_new_accumulator(torch):
    for lib in (torch, ember):
        x = lib.rand(2, requires_grad=True)
        edge = lib.autograd.graph.get_gradient_edge(x)
        out = x.clone()
        with lib.no_grad():
            x.set_(lib.rand(2))
        with pytest.raises(RuntimeError, match="to not have been used in the graph"):
            lib.autograd.grad(out.sum(), x)
        (grad,) = lib.autograd.grad(out.sum(), edge)
        assert grad.tolist() == [1.0, 1.0]


def test_parameter_set_to_its_own_slice_trains(torch):
    for lib in (torch, ember):
        p = lib.nn.Parameter(lib.ones(16, dtype=lib.float64))
        for _ in range(2):
            with lib.no_grad():
                p.set_(p[1:])
                p.grad = None
            lib.cat((p, p)).sum().backward()
            assert p.grad.tolist() == [2.0] * p.numel()
        assert p.numel() == 14

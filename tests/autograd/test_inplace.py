"""In-place ops: version counters, the errors that prevent wrong gradients, and .data."""

import numpy as np
import pytest

import ember


def leaf(values):
    return ember.tensor(values, dtype=ember.float64, requires_grad=True)


def test_inplace_on_leaf_requiring_grad_raises_and_changes_nothing():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 5.0
    np.testing.assert_allclose(x.detach().numpy(), [1, 2])
    assert x._version == 0


def test_inplace_on_leaf_allowed_under_no_grad():
    x = leaf([1.0, 2.0])
    with ember.no_grad():
        x.mul_(2)
    np.testing.assert_allclose(x.detach().numpy(), [2, 4])
    assert x.is_leaf and x.requires_grad


def test_modifying_a_saved_tensor_makes_backward_raise():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = (y * y).sum()  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_modifying_a_saved_output_makes_backward_raise():
    x = leaf([1.0, 2.0])
    y = x.exp()  # exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_non_leaf_records_its_gradient(torch):
    values = [0.5, -1.5, 2.0]
    for lib in (ember, torch):
        x = lib.tensor(values, dtype=lib.float64, requires_grad=True)
        y = x * 3
        y.mul_(x)
        y.add_(2)
        y.sum().backward()
        if lib is ember:
            ours = x.grad.numpy().copy()
        else:
            np.testing.assert_allclose(ours, x.grad.numpy())


def test_inplace_on_a_view_of_an_expanded_tensor_is_refused():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = x * 1
    v = y.expand(2, 4)[0]  # NumPy marks every view of a broadcast read-only
    with pytest.raises(RuntimeError, match="single memory location"):
        v.mul_(2)
    np.testing.assert_allclose(y.detach().numpy(), [1, 2, 3, 4])


def test_inplace_on_reshape_and_transpose_views(torch):
    results = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=lib.float64, requires_grad=True)
        y = x * 2
        y.view(3, 2).mul_(x.reshape(3, 2))
        y.t()[0].add_(1)
        y.reshape(6)[1:4].relu_()
        (y * y).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs)


def test_inplace_on_index_views_updates_the_base_gradient(torch):
    results = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        y[:, 0] += 1
        y[1].mul_(w)
        v = y[0, 1:]
        v *= 3
        (y * y).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs)


def test_inplace_on_view_of_leaf_is_refused():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x[1:].mul_(2)
    np.testing.assert_allclose(x.detach().numpy(), [1, 2, 3])


def test_views_share_the_version_counter():
    x = ember.zeros(3, 4)
    v = x[0]
    r = x.reshape(12)
    x.add_(1)
    assert v._version == x._version == r._version == 1
    assert v.numpy()[0] == 1.0  # a real view


def test_setitem_is_differentiable_in_target_and_value(torch):
    results = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=lib.float64, requires_grad=True)
        v = lib.tensor([7.0, 8.0, 9.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        y[1] = v * v
        (y * y).sum().backward()
        results.append((x.grad.numpy().copy(), v.grad.numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1])


def test_boolean_mask_assignment_as_the_seed_does():
    g = ember.tensor([1.0, -2.0, 3.0])
    g[g < 0] = 0
    np.testing.assert_allclose(g.numpy(), [1, 0, 3])


def test_data_shares_storage_outside_the_graph():
    w = leaf([1.0, 2.0])
    d = w.data
    assert not d.requires_grad and d.grad_fn is None
    w.data -= 0.5 * ember.tensor([2.0, 2.0], dtype=ember.float64)
    np.testing.assert_allclose(w.detach().numpy(), [0, 1])
    assert w.is_leaf and w.requires_grad
    w.data.zero_()
    np.testing.assert_allclose(w.detach().numpy(), [0, 0])


def test_grad_data_zero_keeps_the_grad_tensor():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    g = w.grad
    w.grad.data.zero_()
    assert w.grad is g and not w.grad.numpy().any()


def test_inplace_dtype_rules():
    i = ember.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(ember.tensor([0.5, 0.5]))
    np.testing.assert_array_equal(i.numpy(), [1, 2])
    f = ember.tensor([1.0, 2.0])
    f.add_(ember.tensor([1, 1]))
    assert f.dtype == ember.float32


def test_inplace_shape_mismatch_raises_before_writing():
    x = ember.zeros(3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(ember.ones(2, 3))
    assert not x.numpy().any()


def test_inplace_on_expanded_tensor_is_refused():
    x = ember.zeros(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError, match="single memory location"):
        x.add_(1)


def test_augmented_assignment_is_inplace():
    x = ember.ones(2)
    alias = x
    x += 1
    x *= 3
    assert alias is x
    np.testing.assert_allclose(x.numpy(), [6, 6])


def test_copy_and_fill():
    x = ember.zeros(2, 3)
    x.copy_(ember.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.numpy(), [[1, 2, 3], [1, 2, 3]])
    x.fill_(7)
    assert (x.numpy() == 7).all()
    a = leaf([1.0, 2.0])
    b = ember.zeros(2, dtype=ember.float64)
    b.copy_(a * 3)
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3, 3])

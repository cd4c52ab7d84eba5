"""A leaf's .grad is laid out like the leaf (PyTorch's layout contract): row-major."""

import numpy as np
import pytest

import ember


def _row_major(t):
    return t._data.flags.c_contiguous


def test_linear_weight_gradient_is_row_major_without_a_copy():
    layer = ember.nn.Linear(7, 5)
    layer(ember.randn(3, 7)).sum().backward()
    assert _row_major(layer.weight.grad)
    # made row-major by the product itself: the transposed weight's gradient is computed
    # as a transposed product, so nothing is copied on the way to the leaf
    w = ember.randn(5, 7, requires_grad=True)
    x = ember.randn(3, 7)
    out = x.mm(w.t())
    (g,) = ember.autograd.grad(out.sum(), w)
    assert _row_major(g)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_mm_gradients_match_either_layout(transpose_a, transpose_b):
    rng = np.random.default_rng(0)
    a0 = rng.standard_normal((4, 3) if transpose_a else (3, 4))
    b0 = rng.standard_normal((5, 4) if transpose_b else (4, 5))
    cot = rng.standard_normal((3, 5))
    a = ember.tensor(a0, requires_grad=True)
    b = ember.tensor(b0, requires_grad=True)
    out = (a.t() if transpose_a else a).mm(b.t() if transpose_b else b)
    (out * ember.tensor(cot)).sum().backward()
    am = a0.T if transpose_a else a0
    bm = b0.T if transpose_b else b0
    ga, gb = cot @ bm.T, am.T @ cot
    np.testing.assert_allclose(a.grad.numpy(), ga.T if transpose_a else ga, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb.T if transpose_b else gb, rtol=1e-12)
    assert _row_major(a.grad) and _row_major(b.grad)


def test_a_transposed_gradient_reaching_a_leaf_is_copied_row_major():
    w = ember.randn(3, 4, requires_grad=True)
    (w.t() * ember.randn(4, 3)).sum().backward()
    assert _row_major(w.grad)
    w.grad.data.zero_()  # and it is the leaf's own memory
    assert float(w.grad.abs().sum()) == 0


def test_layout_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        lib.manual_seed(0)
    e_layer, t_layer = ember.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    e_layer(ember.randn(2, 6)).sum().backward()
    t_layer(torch.randn(2, 6)).sum().backward()
    e_strides = tuple(s // 4 for s in e_layer.weight.grad._data.strides)
    assert e_strides == t_layer.weight.grad.stride()

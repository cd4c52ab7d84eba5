"""searchsorted, bucketize, signbit, the in-place comparisons (eq_, lt_, ...) and
index_reduce: what the op table cannot say (forms, dtypes, errors, ties, and prod's refused
second derivative), against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

SEARCHES = [
    lambda lib: lib.searchsorted(
        lib.tensor([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]), lib.tensor([[3, 6, 9], [3, 6, 9]])
    ),
    lambda lib: lib.searchsorted(lib.tensor([1.0, 3.0, 5.0]), lib.tensor([3.0, 4.0]), right=True),
    lambda lib: lib.searchsorted(lib.tensor([1, 3, 5]), lib.tensor([3, 6]), side="right"),
    lambda lib: lib.searchsorted(lib.tensor([1, 3, 5]), 5),
    lambda lib: lib.searchsorted(lib.tensor([1, 3, 5]), lib.tensor([[0, 9]]), out_int32=True),
    lambda lib: lib.searchsorted(
        lib.tensor([3.0, 1.0, 2.0]), lib.tensor([2.5]), sorter=lib.tensor([1, 2, 0])
    ),
    lambda lib: lib.bucketize(lib.tensor([[1, 5], [6, 9]]), lib.tensor([1, 3, 5, 7, 9])),
    lambda lib: lib.bucketize(lib.tensor([1, 5, 6]), lib.tensor([1, 3, 5]), right=True),
]


@pytest.mark.parametrize("make", SEARCHES)
def test_searchsorted_and_bucketize_match_pytorch(make, torch):
    want, got = make(torch), make(ember)
    assert got.tolist() == want.tolist()
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")


def test_search_results_are_not_differentiable():
    seq = ember.linspace(0, 1, 10, requires_grad=True)
    values = ember.rand(3, requires_grad=True)
    assert not ember.searchsorted(seq, values).requires_grad
    assert not ember.bucketize(values, seq).requires_grad
    assert not ember.signbit(values).requires_grad


def test_searchsorted_errors_match_pytorch(torch):
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="boundaries tensor should be 1 dimension"):
            lib.searchsorted(lib.ones(2, 5), lib.ones(2))
        with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
            lib.searchsorted(lib.ones(3), lib.ones(2), side="left", right=True)


def test_signbit_matches_pytorch(torch):
    values = [-0.0, 0.0, -1.0, 2.0, float("nan"), -float("nan"), -float("inf")]
    for dtype in ("float32", "float64"):
        want = torch.signbit(torch.tensor(values, dtype=getattr(torch, dtype)))
        assert ember.signbit(ember.tensor(values, dtype=getattr(ember, dtype))).tolist() == (
            want.tolist()
        )
    assert ember.signbit(ember.tensor([-1, 2, 0])).tolist() == [True, False, False]
    assert ember.tensor([-1.0]).signbit().tolist() == [True]


# --- in-place comparisons ---
@pytest.mark.parametrize("name", ["eq_", "ne_", "lt_", "le_", "gt_", "ge_"])
def test_comparison_in_place_matches_pytorch(name, torch):
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0, 3.0])
        assert getattr(x, name)(2.0) is x
    f_want = getattr(torch.tensor([[1.0, 2.0, 3.0]] * 2), name)(torch.tensor([2.0, 2.0, 4.0]))
    f_got = getattr(ember.tensor([[1.0, 2.0, 3.0]] * 2), name)(ember.tensor([2.0, 2.0, 4.0]))
    assert f_got.tolist() == f_want.tolist()
    i_want = getattr(torch.tensor([1, 2, 3]), name)(2.5)
    i_got = getattr(ember.tensor([1, 2, 3]), name)(2.5)
    assert i_got.tolist() == i_want.tolist() and i_got.dtype == ember.int64


def test_comparison_in_place_keeps_graph_with_zero_gradient(torch):
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        y.eq_(2)
        assert y.requires_grad and y.grad_fn.name() == "EqBackward0"
        y.sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0]
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            lib.ones(3).lt_(lib.ones(2, 3))


# --- index_reduce ---
INDEX_REDUCE = [
    (1, [0, 0, 2], (2, 3), "mean", True),
    (1, [0, 0, 2], (2, 3), "mean", False),
    (0, [1], (1, 3), "amax", True),
    (0, [1, 1], (2, 3), "amin", False),
    (0, [1, 0], (2, 3), "prod", True),
    (-1, [2, 2, 0], (2, 3), "prod", False),
]


@pytest.mark.parametrize("dim, index, source_shape, reduce, include_self", INDEX_REDUCE)
def test_index_reduce_matches_pytorch(dim, index, source_shape, reduce, include_self, torch):
    x = np.arange(6.0).reshape(2, 3) - 2
    src = np.random.default_rng(0).standard_normal(source_shape)
    results = []
    for lib in (torch, ember):
        a = lib.tensor(x, requires_grad=True)
        s = lib.tensor(src, requires_grad=True)
        out = lib.index_reduce(a, dim, lib.tensor(index), s, reduce, include_self=include_self)
        out.backward(lib.tensor(np.arange(6.0).reshape(2, 3)))
        results.append((out.detach().numpy(), a.grad.numpy(), s.grad.numpy()))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_index_reduce_in_place_matches_pytorch(torch):
    outs = []
    for lib in (torch, ember):
        x = lib.arange(6.0).reshape(2, 3)
        assert x.index_reduce_(0, lib.tensor([1]), lib.ones(1, 3) * 2, "prod") is x
        outs.append(x.tolist())
    assert outs[1] == outs[0]


@pytest.mark.parametrize("reduce", ["amin", "amax"])
@pytest.mark.parametrize("op", ["scatter_reduce", "index_reduce"])
def test_ties_share_the_gradient(op, reduce):
    x = ember.randn(2, 3, dtype=ember.float64, requires_grad=True)
    src = x.clone().detach_().requires_grad_(True)
    index = ember.arange(2)
    if op == "scatter_reduce":
        index = index.unsqueeze(-1).expand(2, 3)
    assert gradcheck(getattr(ember, op), (x, 0, index, src, reduce))


@pytest.mark.parametrize("op", ["scatter_reduce", "index_reduce"])
def test_prod_second_derivative_refused_where_zeros_meet(op, torch):
    x = ember.tensor([1.0], dtype=ember.float64, requires_grad=True)
    src = ember.tensor([0.0, 0.0], dtype=ember.float64, requires_grad=True)
    index = ember.tensor([0, 0])
    fn = getattr(ember, op)
    assert gradcheck(fn, (x, 0, index, src, "prod"))
    word = "source" if op == "index_reduce" else "src"
    message = f"{op}\\(\\): Double backward is unsupported for {word}"
    with pytest.raises(RuntimeError, match=message):
        gradgradcheck(fn, (x, 0, index, src, "prod"))
    # one zero per entry: the second derivative is given
    two = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    assert gradgradcheck(fn, (two, 0, ember.tensor([0, 1]), src, "prod"))


def test_index_reduce_errors_match_pytorch(torch):
    for lib in (torch, ember):
        x = lib.ones(2, 3)
        with pytest.raises(RuntimeError, match="Expected reduce to be one of prod, mean"):
            lib.index_reduce(x, 0, lib.tensor([1]), lib.ones(1, 3), "sum")
        with pytest.raises(RuntimeError, match="Number of indices \\(2\\) should be equal"):
            lib.index_reduce(x, 0, lib.tensor([1, 0]), lib.ones(1, 3), "prod")

"""Ops that ordinary training code reaches for, beyond what the op table says: the ones with
no gradient (unique, bincount, histc, gcd, ...) against torch, errors in PyTorch's words, and
the few gradients the table cannot compare with torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

NAN = math.nan


def _plain(result):
    """Values and dtype names of a tensor or a tuple of them, for comparing libraries."""
    if isinstance(result, (tuple, list)):
        return [_plain(r) for r in result]
    return result.detach().numpy(), str(result.dtype).split(".")[-1]


def assert_same(got, expected):
    got, expected = _plain(got), _plain(expected)
    if not isinstance(got, list):
        got, expected = [got], [expected]
    assert len(got) == len(expected)
    for (g, g_dtype), (e, e_dtype) in zip(got, expected):
        assert g_dtype == e_dtype
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7, equal_nan=True)


def both(fn, torch):
    """fn run with ember and with torch; both results compared."""
    assert_same(fn(ember), fn(torch))


def same_error(fn, torch):
    """fn raises the same exception type with the same message in ember and in torch."""
    with pytest.raises(Exception) as expected:
        fn(torch)
    with pytest.raises(type(expected.value)) as got:
        fn(ember)
    assert str(got.value) == str(expected.value)


# --- unique and friends ---
UNIQUE_CASES = {
    "flat": lambda lib: lib.unique(
        lib.tensor([3.0, 1, 3, 2, 1, NAN]), return_inverse=True, return_counts=True
    ),
    "rows": lambda lib: lib.unique(
        lib.tensor([[1, 2], [1, 2], [0, 5]]), dim=0, return_inverse=True, return_counts=True
    ),
    "columns": lambda lib: lib.unique(lib.tensor([[1, 2, 1], [1, 2, 1]]), dim=1),
    "method": lambda lib: lib.tensor([[1, 2, 1], [1, 3, 1]]).unique(return_counts=True),
    "0-d": lambda lib: lib.unique(lib.tensor(3)),
    "consecutive": lambda lib: lib.unique_consecutive(
        lib.tensor([1, 1, 2, 2, 3, 1, 1, 2]), return_inverse=True, return_counts=True
    ),
    "consecutive dim": lambda lib: lib.tensor([[1, 1, 2], [1, 1, 2]]).unique_consecutive(
        return_inverse=True, return_counts=True, dim=1
    ),
    "consecutive empty": lambda lib: lib.unique_consecutive(
        lib.tensor([], dtype=lib.float32), return_counts=True
    ),
}


@pytest.mark.parametrize("case", UNIQUE_CASES)
def test_unique_matches_torch(case, torch):
    both(UNIQUE_CASES[case], torch)


def test_unique_carries_no_gradient():
    x = ember.tensor([2.0, 1.0, 2.0], requires_grad=True)
    assert not ember.unique(x).requires_grad


COUNT_CASES = {
    "bincount": lambda lib: lib.bincount(lib.tensor([0, 2, 2, 5])),
    "bincount weights": lambda lib: lib.bincount(
        lib.tensor([0, 2, 2]), lib.tensor([0.5, 1.0, 2.0]), minlength=5
    ),
    "bincount int weights": lambda lib: lib.bincount(lib.tensor([0, 2]), lib.tensor([1, 2])),
    "bincount empty": lambda lib: lib.bincount(lib.tensor([], dtype=lib.int64)),
    "bincount method": lambda lib: lib.tensor([1, 2, 4]).bincount(minlength=2),
    "count_nonzero": lambda lib: lib.count_nonzero(lib.tensor([[0, 1.0], [2, 0]])),
    "count_nonzero dim": lambda lib: lib.count_nonzero(lib.tensor([[0, 1.0], [2, 3]]), dim=0),
    "count_nonzero dims": lambda lib: lib.tensor([[0, 1], [2, 0]]).count_nonzero((0, 1)),
    "histc": lambda lib: lib.histc(lib.tensor([1.0, 2, 1, 4, 2.5, 5, -1]), 4, 0, 4),
    "histc own range": lambda lib: lib.histc(lib.tensor([1.0, 2, 1]), bins=4),
    "histc constant": lambda lib: lib.tensor([3.0, 3.0]).histc(bins=4),
    "repeat_interleave counts": lambda lib: lib.repeat_interleave(lib.tensor([1, 2, 3])),
    "repeat_interleave flat": lambda lib: lib.repeat_interleave(lib.tensor([[1, 2], [3, 4]]), 2),
    "repeat_interleave 0-d repeats": lambda lib: lib.tensor([[1, 2], [3, 4]]).repeat_interleave(
        lib.tensor(2), dim=1
    ),
    "gcd": lambda lib: lib.gcd(lib.tensor([12, -8, 0, 7]), lib.tensor([18, 12, 0, -21])),
    "lcm": lambda lib: lib.tensor([4, -6, 0]).lcm(lib.tensor([6, 4, 3])),
    "heaviside": lambda lib: lib.heaviside(lib.tensor([-1.0, 0, 2]), lib.tensor([0.5])),
    "heaviside method": lambda lib: lib.tensor([0, 3]).heaviside(lib.tensor([7, 7])),
    "logaddexp infinities": lambda lib: lib.logaddexp(
        lib.tensor([-math.inf, math.inf, 1.0]), lib.tensor([-math.inf, math.inf, -math.inf])
    ),
    "deg2rad of int": lambda lib: lib.deg2rad(lib.tensor([180, 90])),
    "copysign of int": lambda lib: lib.copysign(lib.tensor([1, 2]), -1),
    "copysign -0.0": lambda lib: lib.copysign(lib.tensor([1.0, 2.0]), lib.tensor([-0.0, 0.0])),
    "float_power of int": lambda lib: lib.float_power(lib.tensor([2, 3]), 2),
    "frexp": lambda lib: lib.frexp(lib.tensor([8.0, 0.3, 0.0, -5.0, 1e-310], dtype=lib.float64)),
    "ldexp": lambda lib: lib.ldexp(lib.tensor([1, 3]), lib.tensor([3, -1])),
    "cummax ints and ties": lambda lib: lib.cummax(lib.tensor([1, 3, 3, 2]), 0),
    "cummax NaN": lambda lib: lib.cummax(lib.tensor([NAN, 1.0, NAN, 2.0]), 0),
    "cummin NaN": lambda lib: lib.tensor([1.0, 0, 0, 2, -5, NAN, 1]).cummin(0),
    "logcumsumexp spread": lambda lib: lib.logcumsumexp(
        lib.tensor([-1000.0, 0.0, 1.0, -math.inf], dtype=lib.float64), 0
    ),
    "diff bool": lambda lib: lib.diff(lib.tensor([True, False, False])),
    "diff ints": lambda lib: lib.tensor([1, 4, 9, 16]).diff(n=2),
    "diff too often": lambda lib: lib.diff(lib.tensor([1.0, 4.0]), n=3),
    "combinations r=0": lambda lib: lib.combinations(lib.tensor([1, 2, 3]), 0),
    "combinations r>n": lambda lib: lib.combinations(lib.tensor([1, 2, 3]), 4),
    "block_diag mixed": lambda lib: lib.block_diag(
        lib.tensor(1), lib.tensor([2, 3]), lib.tensor([[4.0]])
    ),
    "vander bool": lambda lib: lib.vander(lib.tensor([True, False]), 3),
    "vander int": lambda lib: lib.vander(lib.tensor([1, 2, 3]), 4),
    "cov int": lambda lib: lib.cov(lib.tensor([[1, 2, 4], [0, 1, 1]])),
    "corrcoef 1-D": lambda lib: lib.corrcoef(lib.tensor([1.0, 2, 4])),
    "rot90 ints": lambda lib: lib.rot90(lib.arange(6).reshape(2, 3), -1),
}


@pytest.mark.parametrize("case", COUNT_CASES)
def test_values_match_torch(case, torch):
    both(COUNT_CASES[case], torch)


ERROR_CASES = {
    "repeats size": lambda lib: lib.repeat_interleave(lib.tensor([1, 2]), lib.tensor([1, 2, 3]), 0),
    "repeats negative tensor": lambda lib: lib.repeat_interleave(
        lib.tensor([1, 2]), lib.tensor([-1, 2]), 0
    ),
    "repeats negative int": lambda lib: lib.repeat_interleave(lib.tensor([1, 2]), -1),
    "output_size": lambda lib: lib.repeat_interleave(
        lib.tensor([1, 2]), lib.tensor([1, 2]), dim=0, output_size=5
    ),
    "bincount negative": lambda lib: lib.bincount(lib.tensor([-1, 2])),
    "bincount float": lambda lib: lib.bincount(lib.tensor([1.0, 2.0])),
    "bincount 2-D": lambda lib: lib.bincount(lib.tensor([[1]])),
    "bincount minlength": lambda lib: lib.bincount(lib.tensor([1]), minlength=-1),
    "bincount weights": lambda lib: lib.bincount(lib.tensor([1, 2]), lib.tensor([1.0])),
    "histc int": lambda lib: lib.histc(lib.tensor([3, 3]), bins=4),
    "histc range": lambda lib: lib.histc(lib.tensor([3.0]), bins=4, min=3, max=1),
    "histc bins": lambda lib: lib.histc(lib.tensor([1.0]), bins=0),
    "histc infinite": lambda lib: lib.histc(lib.tensor([1.0]), min=0, max=math.inf),
    "logaddexp int": lambda lib: lib.logaddexp(lib.tensor([1, 2]), lib.tensor([1, 2])),
    "logcumsumexp int": lambda lib: lib.logcumsumexp(lib.tensor([1, 2]), 0),
    "heaviside dtypes": lambda lib: lib.heaviside(lib.tensor([-1.0, 0]), lib.tensor([1])),
    "positive bool": lambda lib: lib.positive(lib.tensor([True])),
    "frexp int": lambda lib: lib.frexp(lib.tensor([1])),
    "gcd float": lambda lib: lib.gcd(lib.tensor([1.0]), lib.tensor([2.0])),
    "diff 0-d": lambda lib: lib.diff(lib.tensor(1.0)),
    "diff prepend dims": lambda lib: lib.diff(lib.tensor([[1, 4.0]]), prepend=lib.tensor([1.0])),
    "cdist 1-D": lambda lib: lib.cdist(lib.zeros(2), lib.zeros(2)),
    "cdist columns": lambda lib: lib.cdist(lib.zeros(2, 3), lib.zeros(2, 4)),
    "cdist p": lambda lib: lib.cdist(lib.zeros(2, 3), lib.zeros(2, 3), -1),
    "inner shapes": lambda lib: lib.inner(lib.zeros(2, 3), lib.zeros(2)),
    "cov dims": lambda lib: lib.cov(lib.zeros(2, 2, 2)),
    "block_diag dims": lambda lib: lib.block_diag(lib.zeros(2, 2, 2)),
    "cartesian_prod 2-D": lambda lib: lib.cartesian_prod(lib.zeros(2, 2)),
    "combinations 2-D": lambda lib: lib.combinations(lib.zeros(2, 2)),
    "combinations r": lambda lib: lib.combinations(lib.zeros(2), -1),
    "rot90 1-D": lambda lib: lib.rot90(lib.zeros(2), 1),
    "rot90 same dims": lambda lib: lib.rot90(lib.zeros(2, 2), 1, [0, 0]),
    "rot90 three dims": lambda lib: lib.rot90(lib.zeros(2, 2), 1, [0, 1, 2]),
    "vander 2-D": lambda lib: lib.vander(lib.zeros(2, 2)),
    "vander N": lambda lib: lib.vander(lib.zeros(2), -1),
    "float_power_ float32": lambda lib: lib.ones(2).float_power_(2),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_match_torch(case, torch):
    same_error(ERROR_CASES[case], torch)


def test_logcumsumexp_keeps_small_early_terms():
    x = ember.tensor([-800.0, 0.0], dtype=ember.float64)
    assert ember.logcumsumexp(x, 0)[0].item() == -800.0


def test_logcumsumexp_gradient_with_a_wide_spread():
    x = ember.tensor([-900.0, 0.0, 3.0, -2.0], dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda t: ember.logcumsumexp(t, 0), [x])


# --- gradients the op table cannot compare with torch ---
def test_vander_gradient_matches_finite_differences(torch):
    """torch 2.13's vander raises in backward; ember's gradient is checked on its own, and
    against torch's gradient of the same powers written out."""
    x = ember.tensor([0.0, 1.5, -0.7], dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda t: ember.vander(t, 4), [x])
    assert gradgradcheck(lambda t: ember.vander(t, 4, increasing=True), [x])
    tx = torch.tensor([0.0, 1.5, -0.7], dtype=torch.float64, requires_grad=True)
    powers = torch.stack([tx**3, tx**2, tx, torch.ones_like(tx)], 1)
    cotangent = np.arange(12.0).reshape(3, 4)
    (expected,) = torch.autograd.grad(powers, tx, torch.tensor(cotangent))
    (got,) = ember.autograd.grad(ember.vander(x, 4), x, ember.tensor(cotangent))
    np.testing.assert_allclose(got.numpy(), expected.numpy())
    assert_same(ember.vander(x.detach(), 4), torch.vander(tx.detach(), 4))


def test_cov_gradient_of_the_observation_weights(torch):
    rng = np.random.default_rng(0)
    data, weights = rng.standard_normal((3, 5)), rng.uniform(0.5, 2.0, 5)
    freq = [1, 2, 1, 3, 1]
    x = ember.tensor(data, requires_grad=True)
    w = ember.tensor(weights, requires_grad=True)
    got = ember.cov(x, correction=1, fweights=ember.tensor(freq), aweights=w)
    tx = torch.tensor(data, requires_grad=True)
    tw = torch.tensor(weights, requires_grad=True)
    expected = torch.cov(tx, correction=1, fweights=torch.tensor(freq), aweights=tw)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy())
    cotangent = rng.standard_normal((3, 3))
    grads = ember.autograd.grad(got, [x, w], ember.tensor(cotangent))
    expected_grads = torch.autograd.grad(expected, [tx, tw], torch.tensor(cotangent))
    for g, e in zip(grads, expected_grads):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-10)
    assert gradcheck(lambda a, b: ember.cov(a, aweights=b), [x, w])


def test_cov_weights_are_checked(torch):
    same_error(lambda lib: lib.cov(lib.ones(2, 3), aweights=lib.tensor([1.0, -1.0, 1.0])), torch)
    same_error(lambda lib: lib.cov(lib.ones(2, 3), fweights=lib.tensor([1.0, 1.0, 1.0])), torch)
    same_error(lambda lib: lib.cov(lib.ones(2, 3), fweights=lib.tensor([1, 1])), torch)


def test_cdist_gradient_is_zero_at_zero_distance(torch):
    a = ember.tensor([[0.0, 0.0], [1.0, 1.0]], requires_grad=True)
    b = ember.tensor([[0.0, 0.0]], requires_grad=True)
    ember.cdist(a, b).sum().backward()
    ta = torch.tensor([[0.0, 0.0], [1.0, 1.0]], requires_grad=True)
    tb = torch.tensor([[0.0, 0.0]], requires_grad=True)
    torch.cdist(ta, tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-6)


def test_in_place_methods_match_torch(torch):
    results = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, -2.0], [3.0, 4.0]])
        assert x.renorm_(2, 0, 3.0) is x
        x.deg2rad_().copysign_(-1.0)
        y = lib.tensor([[2.0]], dtype=lib.float64)
        y.float_power_(3)
        n = lib.tensor([12, 18])
        n.gcd_(lib.tensor([8, 12]))
        results.append((x, y, n))
    assert_same(*results)


def test_positive_is_the_input():
    x = ember.tensor([1.0, -1.0])
    assert ember.positive(x) is x

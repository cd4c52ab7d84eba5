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


# --- quantiles, mode, writes by position, windows ---
MORE_CASES = {
    "quantile modes": lambda lib: [
        lib.quantile(lib.arange(5.0), lib.tensor([0.125, 0.375, 0.5, 0.625]), interpolation=m)
        for m in ("linear", "lower", "higher", "nearest", "midpoint")
    ],
    "quantile NaN": lambda lib: lib.quantile(lib.tensor([[1.0, NAN], [1, 2]]), 0.5, dim=1),
    "nanquantile": lambda lib: lib.tensor([[1.0, NAN, 3], [1, 2, 5], [NAN] * 3]).nanquantile(
        0.5, dim=1
    ),
    "mode ties": lambda lib: lib.mode(lib.tensor([[1.0, 2, 2, 1, 3], [5, 5, 4, 4, 4]])),
    "mode ints": lambda lib: lib.tensor([1, 2, 2, 1, 3, 1, 2]).mode(0, True),
    "index_copy": lambda lib: lib.zeros(3, 4).index_copy(1, lib.tensor([3, 0]), lib.ones(3, 2)),
    "masked_scatter": lambda lib: lib.zeros(2, 3).masked_scatter(
        lib.tensor([True, False, True]), lib.arange(6.0)
    ),
    "fill_diagonal_ wrap": lambda lib: lib.zeros(7, 3).fill_diagonal_(1, wrap=True),
    "fill_diagonal_ cube": lambda lib: lib.zeros(2, 2, 2, dtype=lib.int64).fill_diagonal_(4),
    "unfold": lambda lib: lib.arange(7.0).unfold(0, 3, 2),
    "unfold 2-D": lambda lib: lib.arange(12).reshape(3, 4).unfold(1, 2, 1),
    "unfold 0-d": lambda lib: lib.tensor(5.0).unfold(0, 1, 1),
}


@pytest.mark.parametrize("case", MORE_CASES)
def test_more_values_match_torch(case, torch):
    both(MORE_CASES[case], torch)


MORE_ERRORS = {
    "quantile q range": lambda lib: lib.quantile(lib.arange(3.0), 1.5),
    "quantile q tensor range": lambda lib: lib.quantile(lib.arange(3.0), lib.tensor([1.5])),
    "quantile q dims": lambda lib: lib.quantile(lib.arange(3.0), lib.tensor([[0.5]])),
    "quantile q dtype": lambda lib: lib.quantile(
        lib.arange(3.0), lib.tensor([0.5], dtype=lib.float64)
    ),
    "quantile int": lambda lib: lib.quantile(lib.arange(3), 0.5),
    "quantile empty": lambda lib: lib.quantile(lib.zeros(0), 0.5),
    "quantile mode": lambda lib: lib.quantile(lib.arange(3.0), 0.5, interpolation="foo"),
    "mode empty": lambda lib: lib.mode(lib.zeros(2, 0), 1),
    "masked_scatter dtypes": lambda lib: lib.zeros(3).masked_scatter(
        lib.ones(3, dtype=lib.bool), lib.zeros(3, dtype=lib.float64)
    ),
    "masked_scatter short": lambda lib: lib.zeros(3).masked_scatter(
        lib.ones(3, dtype=lib.bool), lib.zeros(2)
    ),
    "masked_scatter mask": lambda lib: lib.zeros(3).masked_scatter(lib.ones(3), lib.zeros(3)),
    "fill_diagonal_ 1-D": lambda lib: lib.zeros(3).fill_diagonal_(1),
    "fill_diagonal_ unequal": lambda lib: lib.zeros(2, 3, 2).fill_diagonal_(1),
    "unfold size": lambda lib: lib.zeros(3, 4).unfold(0, 4, 1),
    "unfold step": lambda lib: lib.zeros(3, 4).unfold(0, 2, 0),
    "random_ range": lambda lib: lib.zeros(3).random_(3, 2),
    "exponential_ int": lambda lib: lib.zeros(3, dtype=lib.int64).exponential_(),
    "geometric_ p": lambda lib: lib.zeros(3).geometric_(1.5),
    "is_nonzero empty": lambda lib: lib.zeros(0).is_nonzero(),
    "is_nonzero many": lambda lib: lib.zeros(2).is_nonzero(),
}


@pytest.mark.parametrize("case", MORE_ERRORS)
def test_more_errors_match_torch(case, torch):
    same_error(MORE_ERRORS[case], torch)


def test_unfold_is_a_view_of_its_input():
    x = ember.arange(7.0)
    windows = x.unfold(0, 3, 2)
    assert windows._base is x
    x[2] = 100.0
    assert windows[0, 2].item() == 100.0 and windows[1, 0].item() == 100.0


def test_unfold_gradient_adds_overlapping_windows():
    x = ember.arange(7.0, requires_grad=True)
    x.unfold(0, 3, 2).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0]
    assert x.unfold(0, 3, 2).grad_fn.name() == "UnfoldBackward0"


def test_tensor_information_matches_torch(torch):
    for make in (
        lambda lib: lib.ones(2, 3, dtype=lib.float64)[:, :2],
        lambda lib: lib.zeros(4, dtype=lib.uint8),
        lambda lib: lib.tensor([True]),
        lambda lib: lib.tensor([-3]),
    ):
        e, t = make(ember), make(torch)
        for name in ("is_cpu", "nbytes", "itemsize", "is_meta", "is_sparse", "is_quantized"):
            assert getattr(e, name) == getattr(t, name), name
        for name in ("is_signed", "is_complex", "is_pinned", "get_device"):
            assert getattr(e, name)() == getattr(t, name)(), name
        assert e.is_nested == t.is_nested
    assert ember.tensor([2.0]).is_nonzero() and not ember.tensor([0]).is_nonzero()
    assert ember.ones(2, 3).is_same_size(ember.zeros(2, 3))
    assert not ember.ones(2, 3).is_same_size(ember.zeros(3, 2))


def test_layout_and_memory_calls():
    x = ember.ones(2)
    assert x.layout is ember.strided and repr(ember.strided) == "ember.strided"
    assert x.pin_memory() is x and x.share_memory_() is x
    assert not x.is_shared()


def test_random_fills_follow_the_generator():
    def draw(fill):
        generator = ember.Generator().manual_seed(7)
        return fill(ember.empty(200), generator)

    fills = {
        "random_": lambda t, g: t.random_(2, 5, generator=g),
        "exponential_": lambda t, g: t.exponential_(3.0, generator=g),
        "cauchy_": lambda t, g: t.cauchy_(1.0, 0.5, generator=g),
        "log_normal_": lambda t, g: t.log_normal_(0.0, 0.25, generator=g),
        "geometric_": lambda t, g: t.geometric_(0.3, generator=g),
    }
    for name, fill in fills.items():
        first, second = draw(fill), draw(fill)
        assert first.tolist() == second.tolist(), name
    values = draw(fills["random_"])
    assert set(values.tolist()) == {2.0, 3.0, 4.0}
    assert draw(fills["exponential_"]).min().item() > 0
    assert abs(draw(fills["exponential_"]).mean().item() - 1 / 3) < 0.1
    assert draw(fills["geometric_"]).min().item() >= 1
    assert draw(fills["log_normal_"]).min().item() > 0
    ints = ember.empty(300, dtype=ember.int64).random_()
    assert ints.min().item() >= 0 and ints.max().item() > 2**40
    flags = ember.empty(50, dtype=ember.bool).random_()
    assert set(flags.tolist()) == {False, True}

"""Reductions beyond the op table: zeros, ties, NaN, dtypes, legacy arguments, errors."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

NAN, INF = math.nan, math.inf


def _run(lib, fn, array, dtype):
    x = lib.tensor(array, dtype=getattr(lib, dtype), requires_grad=dtype.startswith("float"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(lib, x)
        outs = out if isinstance(out, tuple) else (out,)
        grad = None
        if outs[0].requires_grad:
            (grad,) = lib.autograd.grad(outs[0].sum(), [x])
    arrays = [np.asarray(o.detach().numpy()) for o in outs]
    dtypes = [str(o.dtype).split(".")[-1] for o in outs]
    return arrays, dtypes, None if grad is None else grad.numpy()


def assert_like_torch(torch, fn, array, dtype="float64", check_indices=True):
    """Values, dtypes, indices (when asked) and the gradient of the first output."""
    ours, our_dtypes, our_grad = _run(ember, fn, array, dtype)
    theirs, their_dtypes, their_grad = _run(torch, fn, array, dtype)
    assert our_dtypes == their_dtypes
    for k, (o, e) in enumerate(zip(ours, theirs)):
        if k == 0 or check_indices:
            np.testing.assert_allclose(o, e, rtol=1e-7, equal_nan=True)
    if their_grad is not None:
        np.testing.assert_allclose(our_grad, their_grad, rtol=1e-7, equal_nan=True)
    return ours, our_grad


# --- products with zeros ---
WITH_ZEROS = [[2.0, 0.0, 3.0, 0.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.5, 2.0, 0.5, 1.0]]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.prod(x),
        lambda lib, x: x.prod(1),
        lambda lib, x: x.prod(0, keepdim=True),
        lambda lib, x: lib.cumprod(x, 1),
        lambda lib, x: x.cumprod(dim=0),
    ],
)
def test_products_with_zeros_match_torch_and_finite_differences(torch, fn):
    assert_like_torch(torch, fn, WITH_ZEROS)
    x = ember.tensor(WITH_ZEROS, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda t: fn(ember, t), [x])
    assert gradgradcheck(lambda t: fn(ember, t), [x])


def test_prod_with_a_lone_zero_routes_the_product_of_the_others(torch):
    _, grad = assert_like_torch(torch, lambda lib, x: lib.prod(x), [2.0, 0.0, 3.0])
    assert grad.tolist() == [0.0, 6.0, 0.0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.prod(x),
        lambda lib, x: lib.cumsum(x, 0),
        lambda lib, x: lib.cumprod(x, 0),
        lambda lib, x: lib.nansum(x),
        lambda lib, x: x.sum(),
    ],
)
@pytest.mark.parametrize("dtype", ["int32", "bool", "int64"])
def test_integer_accumulation_gives_int64(torch, fn, dtype):
    assert_like_torch(torch, fn, [1, 0, 3] if dtype == "bool" else [2, -3, 4], dtype=dtype)


def test_dtype_argument_casts_before_accumulating(torch):
    assert_like_torch(torch, lambda lib, x: lib.cumsum(x, 0, dtype=lib.float64), [1, 2], "int64")
    assert_like_torch(torch, lambda lib, x: x.prod(dtype=lib.float32), [1.5, 2.0])


def test_prod_dim_must_be_an_int():
    with pytest.raises(TypeError, match="prod"):
        ember.prod(ember.ones(2, 3), (0, 1))


# --- variance and friends ---
@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.var(x, 1, False, True),  # legacy positional unbiased
        lambda lib, x: lib.var(x, False),
        lambda lib, x: x.std(unbiased=False),
        lambda lib, x: x.std(dim=(0, 1), correction=2),
        lambda lib, x: lib.var_mean(x, 0, correction=0),
        lambda lib, x: lib.std_mean(x, 1, keepdim=True),
        lambda lib, x: lib.std_mean(x),
    ],
)
def test_var_std_argument_forms(torch, fn):
    assert_like_torch(torch, fn, [[2.0, 2.5, 1.0], [1.0, 3.0, -2.0]])


def test_std_of_a_constant_has_zero_gradient(torch):
    _, grad = assert_like_torch(torch, lambda lib, x: lib.std(x, 1), [[2.0, 2.0], [1.0, 3.0]])
    assert grad[0].tolist() == [0.0, 0.0]


def test_var_without_degrees_of_freedom_warns_and_gives_nan_or_inf(torch):
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        out = ember.var(ember.tensor([2.0]))
    assert math.isnan(out.item())
    with pytest.warns(UserWarning):
        assert ember.std(ember.tensor([1.0, 3.0]), correction=2).item() == INF


def test_var_of_integers_raises():
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        ember.var(ember.tensor([1, 2]))


# --- logsumexp, nansum, nanmean ---
def test_logsumexp_is_stable_for_huge_and_infinite_inputs(torch):
    x = [[-INF, -INF], [1e4, -1e4], [INF, 1.0], [-1e4, -1e4], [1e4, 1e4]]
    ours, grad = assert_like_torch(torch, lambda lib, t: lib.logsumexp(t, 1), x)
    finite_rows = [1, 3, 4]
    assert np.isfinite(ours[0][finite_rows]).all() and np.isfinite(grad[finite_rows]).all()
    assert ours[0][0] == -INF and ours[0][2] == INF


def test_logsumexp_of_integers_and_empty_dims(torch):
    assert_like_torch(torch, lambda lib, t: lib.logsumexp(t, 0), [1, 2, 3], dtype="int64")
    assert_like_torch(torch, lambda lib, t: t.logsumexp(0), np.zeros((0, 3)))


def test_nan_reductions_skip_nan(torch):
    x = [[1.0, NAN, 3.0], [NAN, NAN, 2.0]]
    assert_like_torch(torch, lambda lib, t: lib.nansum(t, 1), x)
    assert_like_torch(torch, lambda lib, t: t.nanmean(1, keepdim=True), x)
    assert_like_torch(torch, lambda lib, t: lib.nanmean(t), x)
    with pytest.raises(RuntimeError, match="nanmean"):
        ember.nanmean(ember.tensor([1, 2]))


# --- selections: the gradient goes to the returned index ---
def test_max_min_with_dim_route_the_gradient_to_the_returned_index(torch):
    x = [[1.0, 3.0, 3.0], [-INF, 2.0, -INF], [NAN, 1.0, NAN]]
    for fn in (lambda lib, t: lib.max(t, 1), lambda lib, t: t.min(dim=0, keepdim=True)):
        ours, grad = assert_like_torch(torch, fn, x)
        assert not np.isnan(grad[:2]).any()  # -inf elsewhere in the row does not leak NaN


def test_amax_splits_ties_but_max_with_dim_does_not(torch):
    x = [[1.0, 3.0, 3.0]]
    _, split = assert_like_torch(torch, lambda lib, t: t.amax(1), x)
    _, routed = assert_like_torch(torch, lambda lib, t: t.max(1), x)
    assert split.tolist() == [[0.0, 0.5, 0.5]]
    assert routed.tolist() == [[0.0, 1.0, 0.0]]


WITH_TIES = [3.0, 1.0, 3.0, NAN, 1.0, 2.0, NAN]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, t: lib.sort(t, stable=True),
        lambda lib, t: t.sort(descending=True, stable=True),
        lambda lib, t: lib.topk(t, 3),
        lambda lib, t: t.topk(2, largest=False),
        lambda lib, t: lib.median(t, 0),
        lambda lib, t: t.nanmedian(dim=0, keepdim=True),
        lambda lib, t: lib.max(t, 0),
    ],
)
def test_selections_match_torch_with_ties_and_nan(torch, fn):
    assert_like_torch(torch, fn, WITH_TIES)


def test_argsort_and_msort_match_torch(torch):
    x = [[3.0, 1.0, 3.0], [NAN, 1.0, -2.0]]
    assert_like_torch(torch, lambda lib, t: lib.argsort(t, descending=True, stable=True), x)
    assert_like_torch(torch, lambda lib, t: lib.argsort(t, dim=0, stable=True), x)
    assert_like_torch(torch, lambda lib, t: lib.msort(t), x)


def test_sort_integers_stably(torch):
    x = [3, 1, 3, -5, 1]
    assert_like_torch(torch, lambda lib, t: lib.sort(t, descending=True, stable=True), x, "int64")


def test_kthvalue_and_topk_values_and_gradients(torch):
    x = [[4.0, 1.0, 3.0, 2.0], [0.5, -1.0, 2.5, 7.0]]
    assert_like_torch(torch, lambda lib, t: lib.kthvalue(t, 3, 1, True), x)
    assert_like_torch(torch, lambda lib, t: t.kthvalue(1, dim=0), x)
    assert_like_torch(torch, lambda lib, t: t.topk(3, dim=1, largest=False), x)


def test_global_median_is_the_lower_median_and_splits_ties(torch):
    _, grad = assert_like_torch(torch, lambda lib, t: lib.median(t), [4.0, 1.0, 3.0, 2.0])
    assert grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    _, grad = assert_like_torch(torch, lambda lib, t: t.median(), [1.0, 2.0, 2.0, 3.0])
    assert grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    assert_like_torch(torch, lambda lib, t: t.median(), [1.0, NAN, 2.0, NAN])
    assert_like_torch(torch, lambda lib, t: t.nanmedian(), [1.0, NAN, 2.0, NAN, 5.0])
    assert_like_torch(torch, lambda lib, t: lib.median(t), [4, 1, 3, 2], dtype="int64")
    assert math.isnan(ember.median(ember.tensor([])).item())


def test_values_indices_named_tuple():
    result = ember.tensor([[1.0, 5.0, 2.0]]).sort(dim=1, descending=True)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert indices.dtype == ember.int64 and indices.tolist() == [[1, 2, 0]]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, t: lib.sort(t),
        lambda lib, t: lib.topk(t, 1),
        lambda lib, t: lib.kthvalue(t, 1),
        lambda lib, t: lib.median(t, 0),
        lambda lib, t: lib.cumsum(t, -1),
        lambda lib, t: lib.cumprod(t, 0),
        lambda lib, t: lib.logsumexp(t, 0),
        lambda lib, t: lib.prod(t, 0),
        lambda lib, t: lib.max(t, 0),
    ],
)
def test_zero_dim_tensors(torch, fn):
    assert_like_torch(torch, fn, 2.5)


# --- errors ---
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda lib, t: lib.cumsum(t, 2), IndexError, r"Dimension out of range \(expected to be"),
        (lambda lib, t: t.sort(dim=-3), IndexError, "Dimension out of range"),
        (lambda lib, t: t.std(dim=5), IndexError, "Dimension out of range"),
        (lambda lib, t: lib.logsumexp(t, (0, 0)), RuntimeError, "appears multiple times"),
        (lambda lib, t: t.topk(5), RuntimeError, "selected index k out of range"),
        (lambda lib, t: t.topk(-1), RuntimeError, "selected index k out of range"),
        (lambda lib, t: t.kthvalue(0), RuntimeError, r"kthvalue\(\): selected number k out of"),
        (lambda lib, t: t.kthvalue(5, dim=1), RuntimeError, "out of range for dimension 1"),
        (lambda lib, t: t[:, :0].median(1), IndexError, "Expected reduction dim 1 to have non-"),
    ],
)
def test_bad_arguments_raise_as_torch(torch, call, error, message):
    with pytest.raises(error, match=message):
        call(ember, ember.ones(3, 4))
    with pytest.raises(error):
        call(torch, torch.ones(3, 4))


def test_cumsum_in_place():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.cumsum_(0) is x
    assert x.tolist() == [[1.0, 2.0], [4.0, 6.0]]
    y = ember.tensor([1.0, 2.0, 3.0])
    y.cumprod_(dim=0)
    assert y.tolist() == [1.0, 2.0, 6.0]

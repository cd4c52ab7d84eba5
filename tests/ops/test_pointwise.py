"""Elementwise math beyond the op table: ties, NaN, dtypes, extremes, errors, in-place."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember.ops import activation_math

NAN, INF = math.nan, math.inf


def _functional(lib):
    return activation_math if lib is ember else lib.nn.functional


def _run(lib, fn, arrays, dtype="float64", grad=True):
    """fn(lib, *tensors) and the gradient of its sum, as NumPy arrays."""
    inputs = [
        lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=grad and dtype.startswith("float"))
        for a in arrays
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(lib, *inputs)
        grads = ()
        if grad and out.requires_grad:
            grads = lib.autograd.grad(out.sum(), inputs, allow_unused=True)
    as_array = lambda t: None if t is None else np.asarray(t.detach().numpy())  # noqa: E731
    return as_array(out), [as_array(g) for g in grads], str(out.dtype).split(".")[-1]


def assert_like_torch(torch, fn, *arrays, dtype="float64", grad=True, rtol=1e-7):
    ours, our_grads, our_dtype = _run(ember, fn, arrays, dtype, grad)
    theirs, their_grads, their_dtype = _run(torch, fn, arrays, dtype, grad)
    assert our_dtype == their_dtype
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-300, equal_nan=True)
    for g, e in zip(our_grads, their_grads):
        if e is None:
            assert g is None or not g.any()
        else:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-300, equal_nan=True)
    return ours, our_grads


# --- extrema: ties and NaN ---
@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
def test_extrema_split_ties_and_handle_nan_as_torch(torch, name):
    a = [1.0, 2.0, NAN, 3.0, NAN, -0.0]
    b = [1.0, 3.0, 1.0, NAN, NAN, 0.0]
    _, grads = assert_like_torch(torch, lambda lib, x, y: getattr(lib, name)(x, y), a, b)
    if name in ("maximum", "minimum"):
        assert grads[0][0] == grads[1][0] == 0.5  # a tie shares the gradient


def test_maximum_takes_a_number_and_is_a_method():
    x = ember.tensor([-1.0, 2.0])
    assert ember.maximum(x, 0.0).tolist() == [0.0, 2.0]
    assert x.minimum(ember.tensor(0.0)).tolist() == [-1.0, 0.0]
    assert ember.max(x, ember.tensor([0.0, 0.0])).tolist() == [0.0, 2.0]


def test_clamp_with_tensor_bounds_follows_torch_at_ties_and_crossed_bounds(torch):
    x = [0.0, 1.0, 2.0, -1.0, 5.0, 0.5, 1.0]
    lo = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    hi = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert_like_torch(torch, lambda lib, a, b, c: lib.clamp(a, b, c), x, lo, hi)
    assert_like_torch(torch, lambda lib, a, b: lib.clamp(a, min=b), x, lo)
    assert_like_torch(torch, lambda lib, a, c: a.clamp(max=c), x, hi)
    assert_like_torch(torch, lambda lib, a, b: lib.clamp_min(a, b), x, lo)


def test_clamp_tensor_promotes_an_integer_input():
    out = ember.clamp(ember.tensor([1, 5]), ember.tensor([2.5, 0.0]), None)
    assert out.dtype == ember.float32
    assert out.tolist() == [2.5, 5.0]


# --- dtypes ---
@pytest.mark.parametrize(
    "name",
    "reciprocal rsqrt exp2 expm1 log1p log2 log10 tan atan sinh cosh asinh erf erfc".split(),
)
def test_float_functions_of_integers_give_the_default_float(torch, name):
    fn = lambda lib, x: getattr(lib, name)(x)  # noqa: E731
    assert_like_torch(torch, fn, [1, 2, 3], dtype="int64", rtol=1e-6)


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "fix", "square"])
def test_rounding_of_integers_keeps_the_integer_dtype(torch, name):
    assert_like_torch(torch, lambda lib, x: getattr(lib, name)(x), [-3, 2, 7], dtype="int64")


@pytest.mark.parametrize(
    "a, b",
    [
        ([7, -7, 7, -7, 0], [2, 2, -2, -2, 3]),
        ([7.5, -7.5, 7.5, -7.5, 1.0], [2.0, 2.0, -2.0, -2.0, 0.0]),
    ],
)
@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, a, b: lib.floor_divide(a, b),
        lambda lib, a, b: lib.remainder(a, b),
        lambda lib, a, b: lib.fmod(a, b),
        lambda lib, a, b: lib.div(a, b, rounding_mode="trunc"),
        lambda lib, a, b: lib.div(a, b, rounding_mode="floor"),
        lambda lib, a, b: a // b,
        lambda lib, a, b: a % b,
    ],
)
def test_rounded_division_matches_torch_in_value_and_dtype(torch, fn, a, b):
    dtype = "int64" if isinstance(a[0], int) else "float64"
    assert_like_torch(torch, fn, a, b, dtype=dtype, grad=False)


def test_rounded_division_with_numbers_and_mixed_dtypes(torch):
    for fn in (
        lambda lib, a: 7 // a,
        lambda lib, a: 7.5 % a,
        lambda lib, a: a // 2.5,
        lambda lib, a: lib.remainder(a, -3),
    ):
        assert_like_torch(torch, fn, [2, -3, 4], dtype="int64", grad=False)


def test_remainder_and_fmod_gradients_match_torch(torch):
    a, b = [5.5, -5.5, 5.5, -5.5], [2.0, 2.0, -2.0, -2.0]
    assert_like_torch(torch, lambda lib, x, y: lib.remainder(x, y), a, b)
    assert_like_torch(torch, lambda lib, x, y: lib.fmod(x, y), a, b)
    _, grads = assert_like_torch(torch, lambda lib, x, y: x.div(y, rounding_mode="floor"), a, b)
    assert not grads[0].any() and not grads[1].any()


def test_integer_division_by_zero_raises_as_torch():
    zero = ember.tensor([0, 1])
    for fn in (ember.floor_divide, ember.remainder, ember.fmod):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            fn(ember.tensor([5, 5]), zero)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ember.tensor([5]) // 0


def test_bad_rounding_mode_and_bool_division_raise():
    x = ember.tensor([1.0])
    with pytest.raises(RuntimeError, match="rounding_mode to be one of None, 'trunc', or 'floor'"):
        ember.div(x, x, rounding_mode="nearest")
    with pytest.raises(NotImplementedError, match="Bool"):
        ember.floor_divide(ember.tensor([True]), ember.tensor([True]))


def test_round_is_half_to_even_with_decimals(torch):
    assert_like_torch(torch, lambda lib, x: lib.round(x), [0.5, 1.5, 2.5, -0.5, -2.5])
    assert_like_torch(torch, lambda lib, x: x.round(decimals=2), [1.005, -2.675, 12345.6789])
    assert_like_torch(torch, lambda lib, x: lib.round(x, decimals=-2), [150.0, 250.0, -1234.5])
    with pytest.raises(NotImplementedError, match="round_cpu"):
        ember.round(ember.tensor([1, 2]), decimals=1)
    with pytest.raises(NotImplementedError, match="frac_cpu"):
        ember.frac(ember.tensor([1, 2]))


# --- accuracy and extremes ---
def test_erf_erfc_erfinv_are_accurate_far_into_the_tails(torch):
    x = [-10.0, -3.0, -0.4, 0.0, 1e-8, 0.3, 0.5, 0.51, 2.0, 6.0, 10.0, 26.0, INF, -INF, NAN]
    assert_like_torch(torch, lambda lib, t: lib.erf(t), x, rtol=1e-13)
    assert_like_torch(torch, lambda lib, t: lib.erfc(t), x, rtol=1e-13)
    y = [-1.0, -0.999999, -0.5, 0.0, 1e-10, 0.3, 0.7, 1 - 1e-12, 1.0, 1.5, NAN]
    assert_like_torch(torch, lambda lib, t: lib.erfinv(t), y, rtol=1e-12)


def test_erfinv_inverts_erf_in_float32(torch):
    y = np.linspace(-0.999, 0.999, 101)
    assert_like_torch(torch, lambda lib, t: lib.erfinv(t), y, dtype="float32", rtol=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        lambda F, x: F.softplus(x),
        lambda F, x: F.softplus(x, beta=2.0, threshold=5.0),
        lambda F, x: F.logsigmoid(x),
        lambda F, x: F.gelu(x),
        lambda F, x: F.gelu(x, approximate="tanh"),
        lambda F, x: F.silu(x),
        lambda F, x: F.mish(x),
        lambda F, x: F.elu(x),
        lambda F, x: F.selu(x),
        lambda F, x: F.celu(x, alpha=2.0),
        lambda F, x: F.leaky_relu(x, 0.1),
        lambda F, x: F.softsign(x),
    ],
)
def test_activations_stay_finite_for_huge_inputs(torch, call):
    x = [1e4, -1e4, 30.0, -30.0, 0.0, 2.4, 2.6]
    ours, grads = assert_like_torch(torch, lambda lib, t: call(_functional(lib), t), x)
    assert np.isfinite(ours).all() and np.isfinite(grads[0]).all()


@pytest.mark.parametrize("name", ["hardtanh", "relu6", "hardsigmoid", "hardswish", "leaky_relu"])
def test_piecewise_activations_use_torch_slopes_at_their_kinks(torch, name):
    x = [-3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 7.0, -4.0]
    assert_like_torch(torch, lambda lib, t: getattr(_functional(lib), name)(t), x)


def test_logit_gradient_at_and_beyond_the_edges(torch):
    assert_like_torch(torch, lambda lib, t: lib.logit(t), [0.0, 0.5, 1.0, 2.0, -1.0])
    assert_like_torch(torch, lambda lib, t: t.logit(eps=0.1), [0.0, 0.05, 0.1, 0.5, 0.9, 1.0])
    assert_like_torch(torch, lambda lib, t: lib.logit(t), [0, 1], dtype="int64", grad=False)


def test_xlogy_is_zero_where_x_is_zero(torch):
    x, y = [0.0, 0.0, 1.0, 2.0, 0.0], [-1.0, 3.0, 0.0, 3.0, NAN]
    assert_like_torch(torch, lambda lib, a, b: lib.xlogy(a, b), x, y)
    assert_like_torch(torch, lambda lib, a: lib.xlogy(a, 3.0), [0.0, 2.0])
    assert_like_torch(torch, lambda lib, b: lib.xlogy(2, b), [1.0, 3.0])


def test_hypot_does_not_overflow(torch):
    assert_like_torch(torch, lambda lib, a, b: lib.hypot(a, b), [3.0, 1e300], [4.0, 1e300])


# --- NaN and infinity ---
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "isposinf", "isneginf"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_classification_matches_torch(torch, name, dtype):
    x = [NAN, INF, -INF, 1.0, 0.0] if dtype == "float32" else [1, 0, -3]
    ours, _, our_dtype = _run(ember, lambda lib, t: getattr(lib, name)(t), [x], dtype, False)
    theirs, _, _ = _run(torch, lambda lib, t: getattr(lib, name)(t), [x], dtype, False)
    assert our_dtype == "bool"
    assert ours.tolist() == theirs.tolist()


def test_nan_to_num_values_and_gradient(torch):
    x = [NAN, INF, -INF, 1.5]
    assert_like_torch(torch, lambda lib, t: lib.nan_to_num(t), x)
    assert_like_torch(torch, lambda lib, t: t.nan_to_num(2.0, 3.0, -4.0), x)
    assert_like_torch(torch, lambda lib, t: lib.nan_to_num(t), x, dtype="float32")
    assert ember.isnan(ember.tensor(NAN)).item() is True  # 0-d results are tensors too


# --- in place ---
@pytest.mark.parametrize(
    "name, args",
    [
        ("exp2", ()),
        ("log1p", ()),
        ("floor", ()),
        ("round", ()),
        ("frac", ()),
        ("clamp_min", (0.2,)),
        ("clamp_max", (0.2,)),
        ("lerp", ("t", 0.25)),
        ("addcmul", ("t", "t")),
        ("atan2", ("t",)),
        ("remainder", (0.3,)),
        ("floor_divide", (0.3,)),
        ("fmod", (0.3,)),
        ("logit", ()),
        ("erfinv", ()),
        ("arcsin", ()),
    ],
)
def test_inplace_methods_match_the_out_of_place_op(name, args):
    base = ember.tensor([0.1, 0.45, 0.8])
    args = tuple(ember.tensor([0.3, 0.6, 0.9]) if a == "t" else a for a in args)
    expected = getattr(base, name)(*args)
    x = base.clone()
    result = getattr(x, f"{name}_")(*args)
    assert result is x
    np.testing.assert_allclose(x.numpy(), expected.numpy())


def test_inplace_records_the_graph_and_bumps_the_version():
    leaf = ember.tensor([0.5, 1.5], requires_grad=True)
    x = leaf * 1.0
    version = x._version
    x.expm1_()
    assert x._version == version + 1
    x.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), np.exp([0.5, 1.5]), rtol=1e-6)


def test_inplace_float_result_into_an_integer_tensor_raises():
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.tensor([1, 2]).exp2_()


def test_integer_floordiv_and_mod_dunders_work_in_place():
    x = ember.tensor([7, -7])
    x //= 2
    assert x.tolist() == [3, -4] and x.dtype == ember.int64
    x %= 3
    assert x.tolist() == [0, 2]


@pytest.mark.parametrize("name", ["elu", "leaky_relu", "hardtanh", "selu", "celu"])
def test_functional_inplace_flag_and_underscore_spelling(torch, name):
    x = ember.tensor([-1.0, 0.5, 2.0])
    expected = getattr(activation_math, name)(x)
    y = x.clone()
    assert getattr(activation_math, name)(y, inplace=True) is y
    np.testing.assert_allclose(y.numpy(), expected.numpy())
    z = x.clone()
    getattr(activation_math, f"{name}_")(z)
    np.testing.assert_allclose(z.numpy(), expected.numpy())


def test_top_level_activation_names_and_errors():
    x = ember.tensor([-1.0, 1.0])
    assert ember.selu.__name__ == "selu" and ember.celu.__name__ == "celu"  # through the front door
    assert ember.selu(x).tolist() == activation_math.selu(x).tolist()
    assert not hasattr(ember, "gelu")  # nn.functional only, as in PyTorch
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        activation_math.gelu(x, approximate="fast")
    with pytest.raises(NotImplementedError, match="softplus"):
        activation_math.softplus(ember.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        ember.addcdiv(ember.tensor([1]), ember.tensor([1]), ember.tensor([2]))

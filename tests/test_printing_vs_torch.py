"""repr and str of tensors, character for character against PyTorch's.

Each case builds the same tensor in both libraries from the same NumPy data, under the same
print options, and the two strings must agree once 'torch' is spelled 'ember'.
"""

import importlib.util
import math

import numpy as np
import pytest

import ember
from ember._printing import get_printoptions, printoptions


def _data(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _t(values, dtype=None, **kwargs):
    """A maker: the same values in either library, with a dtype named as a string."""

    def make(lib):
        kw = dict(kwargs)
        if dtype is not None:
            kw["dtype"] = getattr(lib, dtype)
        return lib.tensor(values, **kw)

    return make


INF, NAN = math.inf, math.nan
FLOATS = ["float16", "float32", "float64"]
if importlib.util.find_spec("ml_dtypes") is not None:  # bfloat16 tensors need it
    FLOATS.append("bfloat16")
INTS = ["uint8", "int8", "int16", "int32", "int64"]

CASES = []


def case(name, make, **options):
    CASES.append(pytest.param(make, options, id=name))


# value patterns for every floating dtype
FLOAT_PATTERNS = {
    "scalar": 3.0,
    "scalar_frac": -0.125,
    "empty": [],
    "int_valued": [1.0, 2.0, -3.0],
    "sign_column": [[1e-5, -2.0], [3.0, 1e3]],
    "fractions": [[0.5, -1.25, 2.0], [3.0, 4.75, -0.001]],
    "nan_inf": [1.0, NAN, -INF, INF, 2.5],
    "zeros_and_nonfinite": [0.0, -0.0, NAN, INF],
    "range_3d": np.arange(24.0).reshape(2, 3, 4) / 8,
    "wide_row": _data(1, 30),
}
for dtype in FLOATS:
    for pattern, values in FLOAT_PATTERNS.items():
        case(f"{dtype}-{pattern}", _t(values, dtype))

# ranges of magnitude (default dtype)
for name, values in {
    "big": [1e10, 2.0, -3.5],
    "big_ints": [1e9, 1.0],
    "tiny": [1e-10, 1e-12],
    "span_1000": [0.01, 10.5],
    "span_1001": [0.01, 10.02],
    "under_1e8": [99999999.0, 1.0],
    "huge_exponent": np.array([1e200, -1e-200, 3.0]),
    "neg_zero_scalar": -0.0,
    "nan_scalar": NAN,
    "all_nan": [NAN, NAN],
    "rounds_up": [9.99996, 0.5],
    "4d": _data(2, 2, 3, 2, 2),
}.items():
    dtype = "float64" if name == "huge_exponent" else None
    case(f"magnitude-{name}", _t(values, dtype))

# integers and bool
for dtype in INTS:
    low = 0 if dtype == "uint8" else -100
    case(f"{dtype}-scalar", _t(7, dtype))
    case(f"{dtype}-vector", _t([low, 5, 100], dtype))
    case(f"{dtype}-matrix", _t(np.arange(12).reshape(3, 4) + low, dtype))
    case(f"{dtype}-empty_2d", lambda lib, d=dtype: lib.zeros(2, 0, dtype=getattr(lib, d)))
case("bool-vector", _t([True, False, True]))
case("bool-all_true", _t([[True, True], [True, True]]))
case("bool-scalar", _t(False))
case("bool-empty", lambda lib: lib.zeros(0, 3, dtype=lib.bool))
case("bool-summarized", lambda lib: lib.tensor(np.arange(1500) % 3 == 0))

# empties
case("empty-default", lambda lib: lib.zeros(0))
case("empty-int64", lambda lib: lib.zeros(0, dtype=lib.int64))
case("empty-3d", lambda lib: lib.zeros(0, 3, 1))
case("empty-requires_grad", lambda lib: lib.zeros(2, 0, requires_grad=True))

# summarization and wrapping
case("summarized-randn_100x100", _t(_data(3, 100, 100)))
case("summarized-1d", _t(_data(4, 2000)))
case("summarized-3d", _t(_data(5, 10, 10, 11)))
case("summarized-4d", _t(_data(6, 6, 6, 6, 6)))
case("summarized-int", lambda lib: lib.arange(3000).reshape(30, 100))
case("summarized-float16", _t(_data(7, 40, 40), "float16"))
case("summarized-sci", _t(_data(8, 1200) * 1e6))
case("not_summarized-840", _t(_data(9, 4, 5, 6, 7)))
case("wrap-long_ints", lambda lib: lib.arange(100) * 1000)

# print options
case("opt-precision2", _t(_data(10, 3, 3)), precision=2)
case("opt-precision8", _t([1 / 3, 2 / 3]), precision=8)
case("opt-precision0", _t([0.4, 1.6, 10.0]), precision=0)
case("opt-threshold5", lambda lib: lib.arange(10), threshold=5)
case("opt-threshold0_scalar", _t(1.5), threshold=0)
case("opt-edgeitems1", _t(_data(11, 20, 20)), edgeitems=1)
case("opt-edgeitems0_1d", _t(_data(12, 2000)), edgeitems=0)
case("opt-edgeitems0_2d", _t(_data(13, 50, 50)), edgeitems=0)
case("opt-linewidth40", _t(_data(14, 3, 12)), linewidth=40)
case("opt-linewidth200", _t(_data(15, 30)), linewidth=200)
case("opt-sci_on", _t([1.0, 2.5]), sci_mode=True)
case("opt-sci_on_ints", _t([1.0, 2.0]), sci_mode=True)
case("opt-sci_off", _t([[1e-5, -2.0], [3.0, 1e3]]), sci_mode=False)
case("opt-sci_off_big", _t([1e10, 1.5]), sci_mode=False)
case("opt-profile_short", _t(_data(16, 10, 10)), profile="short")
case("opt-profile_full", _t(_data(17, 40, 30)), profile="full")
case("opt-profile_full_int", lambda lib: lib.arange(1100), profile="full")
case("opt-profile_short_then_precision", _t(_data(18, 5)), profile="short", precision=6)

# suffixes
case("suffix-requires_grad", _t([1.0, 2.0], requires_grad=True))
case("suffix-requires_grad_float64", _t([1.5], "float64", requires_grad=True))
case("suffix-grad_fn_mul", lambda lib: lib.tensor([1.0, 2.0], requires_grad=True) * 2)
case("suffix-grad_fn_sum", lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).sum())
case(
    "suffix-grad_fn_dtype",
    lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True).exp(),
)
case(
    "suffix-wraps_past_linewidth",
    lambda lib: lib.tensor(_data(19, 2, 7), dtype=lib.float16, requires_grad=True) * 3,
)
case("suffix-wraps_narrow", _t([1.0, 2.0], "float64", requires_grad=True), linewidth=30)
case("suffix-edgeitems0_size", _t(_data(20, 2000), "float16"), edgeitems=0)


@pytest.fixture
def same_options(torch):
    """Both libraries back at their defaults after the test, whatever it set."""
    yield
    for lib in (ember, torch):
        lib.set_printoptions(profile="default")


@pytest.mark.parametrize("make, options", CASES)
def test_repr_and_str_match_pytorch(torch, same_options, make, options):
    for lib in (ember, torch):
        lib.set_printoptions(**options)
    ours, theirs = make(ember), make(torch)
    expected = repr(theirs).replace("torch.", "ember.")
    assert repr(ours) == expected
    assert str(ours) == str(theirs).replace("torch.", "ember.")


def test_enough_cases():
    assert len(CASES) >= 60


def test_default_dtype_float64_shows_float32(torch, same_options):
    for lib in (ember, torch):
        lib.set_default_dtype(lib.float64)
    try:
        for make in (_t([1.5, 2.0]), _t([1.5], "float32"), lambda lib: lib.zeros(0, 2)):
            assert repr(make(ember)) == repr(make(torch)).replace("torch.", "ember.")
    finally:
        for lib in (ember, torch):
            lib.set_default_dtype(lib.float32)


def test_set_printoptions_resets_sci_mode_when_not_given():
    with printoptions(sci_mode=True):
        ember.set_printoptions(precision=3)
        assert get_printoptions()["sci_mode"] is None
    assert get_printoptions()["precision"] == 4


def test_unknown_profile_raises_before_changing_anything():
    before = get_printoptions()
    with pytest.raises(ValueError, match="unknown profile 'long'"):
        ember.set_printoptions(precision=1, profile="long")
    assert get_printoptions() == before


def test_subclass_prints_its_own_name(torch):
    class Marked(ember.Tensor):
        pass

    class TorchMarked(torch.Tensor):
        pass

    expected = repr(TorchMarked([1.0, 2.0])).replace("TorchMarked", "Marked")
    assert repr(Marked([1.0, 2.0])) == expected == "Marked([1., 2.])"
    # ember's own subclasses print as tensors, as PyTorch's Parameter and Buffer do
    assert repr(ember.nn.Buffer(ember.ones(2))) == "tensor([1., 1.])"
    assert repr(ember.nn.Parameter(ember.ones(2))) == repr(torch.nn.Parameter(torch.ones(2)))


def test_huge_tensor_prints_fast():
    import time

    x = ember.zeros(3000, 3000)
    start = time.perf_counter()
    text = repr(x)
    assert time.perf_counter() - start < 1.0
    assert "..." in text


def test_dual_tensor_shows_tangent_like_pytorch(torch):
    texts = []
    for lib in (ember, torch):
        forward_ad = lib.autograd.forward_ad
        with forward_ad.dual_level():
            dual = forward_ad.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.5]))
            texts.append((repr(dual), repr(dual * 2)))
    assert (
        texts[0]
        == texts[1]
        == (
            "tensor([1., 2.], tangent=tensor([3.0000, 4.5000]))",
            "tensor([2., 4.], tangent=tensor([6., 9.]))",
        )
    )

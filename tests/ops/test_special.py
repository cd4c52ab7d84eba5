"""ember.special: values over wide ranges (against torch, and mpmath where torch is the less
accurate one), the namespace, and the errors. Gradients are in the op table."""

import math

import numpy as np
import pytest

import ember

WIDE = np.linspace(-5.3, 40.0, 211)
TOP_LEVEL = ["lgamma", "digamma", "i0", "sinc"]
SPECIAL_ONLY = ["i0e", "i1", "i1e", "log_ndtr", "erfcx", "entr"]


def _close(ours, theirs, rtol):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.array_equal(np.isinf(ours), np.isinf(theirs))
    finite = np.isfinite(theirs)
    scale = np.maximum(np.abs(theirs[finite]), 1e-300)
    assert np.max(np.abs(ours[finite] - theirs[finite]) / scale, initial=0) < rtol


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_functions_match_torch(name, torch):
    ours = getattr(ember, name)(ember.tensor(WIDE)).numpy()
    _close(ours, getattr(torch, name)(torch.tensor(WIDE)).numpy(), 1e-9)
    special_name = {"lgamma": "gammaln"}.get(name, name)
    assert getattr(ember.special, special_name)(ember.tensor(WIDE)).tolist() == ours.tolist()


@pytest.mark.parametrize("name", SPECIAL_ONLY)
def test_special_functions_match_torch(name, torch):
    ours = getattr(ember.special, name)(ember.tensor(WIDE)).numpy()
    _close(ours, getattr(torch.special, name)(torch.tensor(WIDE)).numpy(), 1e-12)


def test_poles_and_edges_match_torch(torch):
    edges = [-3.0, -2.5, -1.0, -0.5, 0.0, 1e-8, 0.5, 1.0, 170.5, 200.0, math.inf, math.nan]
    for name in ["lgamma", "digamma"]:
        ours = getattr(ember, name)(ember.tensor(edges, dtype=ember.float64)).numpy()
        _close(ours, getattr(torch, name)(torch.tensor(edges, dtype=torch.float64)).numpy(), 1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_is_accurate(n, torch):
    mpmath = pytest.importorskip("mpmath")
    x = np.linspace(0.1, 25.0, 60)
    exact = [float(mpmath.polygamma(n, v)) for v in x]
    _close(ember.polygamma(n, ember.tensor(x)).numpy(), exact, 1e-13)
    assert ember.tensor(x).polygamma(n).tolist() == ember.polygamma(n, ember.tensor(x)).tolist()


def test_normal_cdf_and_quantile_stay_accurate_in_the_tails():
    mpmath = pytest.importorskip("mpmath")
    x = np.linspace(-60.0, 8.0, 137)
    _close(ember.special.ndtr(ember.tensor(x)).numpy(), [float(mpmath.ncdf(v)) for v in x], 1e-12)
    with mpmath.workdps(60):
        exact_log = [float(mpmath.log(mpmath.ncdf(v))) for v in x]
    _close(ember.special.log_ndtr(ember.tensor(x)).numpy(), exact_log, 1e-13)
    p = np.concatenate([np.logspace(-300, -1, 40), np.linspace(0.02, 0.98, 25)])
    with mpmath.workdps(400):  # 1 - 2p keeps its digits for p down to 1e-300
        exact_q = [float(-mpmath.sqrt(2) * mpmath.erfinv(1 - 2 * mpmath.mpf(v))) for v in p]
    _close(ember.special.ndtri(ember.tensor(p)).numpy(), exact_q, 1e-12)
    assert ember.special.ndtri(ember.tensor([0.0, 1.0, -0.5, 2.0])).tolist()[:2] == [
        -math.inf,
        math.inf,
    ]


def test_zeta_xlog1py_mvlgamma_match_torch(torch):
    x, q = [2.0, 3.0, 2.0, 4.5], [1.0, 2.5, -1.5, 0.3]
    _close(
        ember.special.zeta(
            ember.tensor(x, dtype=ember.float64), ember.tensor(q, dtype=ember.float64)
        ).numpy(),
        torch.special.zeta(
            torch.tensor(x, dtype=torch.float64), torch.tensor(q, dtype=torch.float64)
        ).numpy(),
        1e-12,
    )
    a, b = [0.0, 2.0, 0.0, 1.5], [-1.0, 3.0, math.nan, 0.2]
    _close(
        ember.special.xlog1py(
            ember.tensor(a, dtype=ember.float64), ember.tensor(b, dtype=ember.float64)
        ).numpy(),
        torch.special.xlog1py(
            torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        ).numpy(),
        1e-15,
    )
    _close(
        ember.special.multigammaln(ember.tensor([2.5, 3.0]), 3).numpy(),
        torch.special.multigammaln(torch.tensor([2.5, 3.0]), 3).numpy(),
        1e-6,
    )


def test_special_namespace_and_out(torch):
    for name in ember.special.__all__:
        assert callable(getattr(ember.special, name)) and hasattr(torch.special, name)
    assert ember.special.expit(ember.tensor([0.0])).tolist() == [0.5]
    out = ember.empty(3)
    ember.special.entr(ember.tensor([0.5, 1.0, 2.0]), out=out)
    assert out.tolist() == pytest.approx([0.5 * math.log(2), 0.0, -2 * math.log(2)])
    assert ember.special.gammaln(ember.tensor([3])).dtype == ember.float32  # ints become float


def test_errors_name_the_function():
    with pytest.raises(RuntimeError, match="polygamma"):
        ember.polygamma(-1, ember.ones(2))
    with pytest.raises(RuntimeError, match=r"greater than \(p-1\)/2"):
        ember.mvlgamma(ember.tensor([0.5]), 3)
    x = ember.tensor([2.0], requires_grad=True)
    q = ember.tensor([1.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative of zeta"):
        ember.special.zeta(x, q).sum().backward()
    (grad_q,) = ember.autograd.grad(ember.special.zeta(x.detach(), q).sum(), q)
    assert grad_q.item() == pytest.approx(-2 * ember.special.zeta(3.0, q).item())

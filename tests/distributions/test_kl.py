"""kl_divergence against torch for every registered pair (values and gradients in float64),
and the registry's dispatch rules."""

import warnings

import numpy as np
import pytest

import ember
import ember.distributions as D
from tests.distributions.common import close, grads, leaves

R = np.random.default_rng(7)


def _pos(*shape, low=0.5, high=3.0):
    return R.uniform(low, high, shape)


def _spd(n, batch=()):
    a = R.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# family: (build(D, params), params), each batch of 3 (MVN: 2 x 3-vectors)
FAMILIES = {
    "Normal": (
        lambda D, p: D.Normal(p["a"], p["b"]),
        lambda: {"a": R.standard_normal(3), "b": _pos(3)},
    ),
    "Laplace": (
        lambda D, p: D.Laplace(p["a"], p["b"]),
        lambda: {"a": R.standard_normal(3), "b": _pos(3)},
    ),
    "Uniform": (
        lambda D, p: D.Uniform(p["a"], p["a"] + p["b"]),
        lambda: {"a": R.uniform(0.05, 0.3, 3), "b": R.uniform(0.1, 0.6, 3)},
    ),
    "Exponential": (lambda D, p: D.Exponential(p["a"]), lambda: {"a": _pos(3)}),
    "Gamma": (lambda D, p: D.Gamma(p["a"], p["b"]), lambda: {"a": _pos(3), "b": _pos(3)}),
    "Beta": (lambda D, p: D.Beta(p["a"], p["b"]), lambda: {"a": _pos(3), "b": _pos(3)}),
    "Dirichlet": (lambda D, p: D.Dirichlet(p["a"]), lambda: {"a": _pos(3, 4)}),
    "Bernoulli": (lambda D, p: D.Bernoulli(logits=p["a"]), lambda: {"a": R.standard_normal(3)}),
    "Categorical": (
        lambda D, p: D.Categorical(logits=p["a"]),
        lambda: {"a": R.standard_normal((3, 5))},
    ),
    "OneHotCategorical": (
        lambda D, p: D.OneHotCategorical(probs=p["a"]),
        lambda: {"a": R.uniform(0.1, 1.0, (3, 5))},
    ),
    "MultivariateNormal": (
        lambda D, p: D.MultivariateNormal(p["a"], covariance_matrix=p["b"]),
        lambda: {"a": R.standard_normal((2, 3)), "b": _spd(3, (2,))},
    ),
    "Independent": (
        lambda D, p: D.Independent(D.Normal(p["a"], p["b"]), 1),
        lambda: {"a": R.standard_normal((2, 3)), "b": _pos(2, 3)},
    ),
    "LogNormal": (
        lambda D, p: D.LogNormal(p["a"], p["b"]),
        lambda: {"a": R.standard_normal(3), "b": _pos(3)},
    ),
    "TransformedDistribution": (
        lambda D, p: D.TransformedDistribution(
            D.Normal(p["a"], p["b"]), [D.transforms.ExpTransform()]
        ),
        lambda: {"a": R.standard_normal(3), "b": _pos(3)},
    ),
}

PAIRS = [
    ("Normal", "Normal"), ("Laplace", "Laplace"), ("Uniform", "Uniform"),
    ("Exponential", "Exponential"), ("Gamma", "Gamma"), ("Beta", "Beta"),
    ("Dirichlet", "Dirichlet"), ("Bernoulli", "Bernoulli"), ("Categorical", "Categorical"),
    ("OneHotCategorical", "OneHotCategorical"), ("MultivariateNormal", "MultivariateNormal"),
    ("Independent", "Independent"), ("LogNormal", "LogNormal"),
    ("TransformedDistribution", "TransformedDistribution"),
    ("Beta", "Exponential"), ("Beta", "Gamma"), ("Beta", "Normal"), ("Beta", "Uniform"),
    ("Exponential", "Gamma"), ("Exponential", "Normal"), ("Gamma", "Exponential"),
    ("Gamma", "Normal"), ("Laplace", "Normal"), ("Normal", "Laplace"), ("Uniform", "Beta"),
    ("Uniform", "Exponential"), ("Uniform", "Gamma"), ("Uniform", "Normal"),
    ("Normal", "Gamma"), ("Normal", "Uniform"), ("Laplace", "Beta"), ("Exponential", "Beta"),
    ("Gamma", "Uniform"), ("Normal", "Beta"), ("Laplace", "Exponential"),
]  # fmt: skip


def _kl(lib, p_name, q_name, p_params, q_params):
    p_leaves, q_leaves = leaves(lib, p_params), leaves(lib, q_params)
    p = FAMILIES[p_name][0](lib.distributions, p_leaves)
    q = FAMILIES[q_name][0](lib.distributions, q_leaves)
    value = lib.distributions.kl_divergence(p, q)
    return value, list(p_leaves.values()) + list(q_leaves.values())


@pytest.mark.parametrize("p_name, q_name", PAIRS, ids=[f"{p}-{q}" for p, q in PAIRS])
def test_kl_matches_torch(torch, p_name, q_name):
    p_params, q_params = FAMILIES[p_name][1](), FAMILIES[q_name][1]()
    mine, my_inputs = _kl(ember, p_name, q_name, p_params, q_params)
    theirs, their_inputs = _kl(torch, p_name, q_name, p_params, q_params)
    assert tuple(mine.shape) == tuple(theirs.shape)
    close(mine, theirs, rtol=1e-9, atol=1e-11)
    finite = np.isfinite(theirs.detach().numpy())
    if finite.any():
        for g, h in zip(grads(ember, [mine], my_inputs), grads(torch, [theirs], their_inputs)):
            if h is None:
                assert g is None or not np.any(g.numpy())
            else:
                close(g, h, rtol=1e-7, atol=1e-9)


def test_kl_is_infinite_where_q_misses_p_support(torch):
    p = D.Uniform(ember.tensor([0.0, 0.0]), ember.tensor([1.0, 3.0]))
    q = D.Uniform(ember.tensor([-1.0, 0.5]), ember.tensor([2.0, 4.0]))
    assert D.kl_divergence(p, q).tolist() == [pytest.approx(np.log(3.0)), float("inf")]
    b = D.Bernoulli(probs=ember.tensor([0.0, 0.3]))
    c = D.Bernoulli(probs=ember.tensor([0.5, 0.0]))
    assert D.kl_divergence(b, c).tolist()[1] == float("inf")
    assert np.isfinite(D.kl_divergence(b, c).tolist()[0])


def test_unregistered_pair_raises():
    with pytest.raises(
        NotImplementedError,
        match="No KL\\(p \\|\\| q\\) is implemented for p type Bernoulli and q type Normal",
    ):
        D.kl_divergence(D.Bernoulli(0.3), D.Normal(0.0, 1.0))


def test_register_kl_subclass_dispatch_and_ambiguity():
    class MyNormal(D.Normal):
        pass

    class MyLaplace(D.Laplace):
        pass

    p, q = MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)
    assert D.kl_divergence(p, q).item() == pytest.approx(0.5)  # inherits Normal-Normal

    @D.register_kl(MyNormal, D.Normal)
    def _mine(p, q):
        return ember.tensor(42.0)

    assert D.kl_divergence(p, q).item() == 42.0

    @D.register_kl(D.Normal, MyLaplace)
    def _other(p, q):
        return ember.tensor(-1.0)

    class Both(MyNormal):
        pass

    # (MyNormal, Normal) and (Normal, MyLaplace) both match (Both, MyLaplace): p-first and
    # q-first orders disagree, which warns
    @D.register_kl(MyNormal, D.Laplace)
    def _third(p, q):
        return ember.tensor(3.0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = D.kl_divergence(Both(0.0, 1.0), MyLaplace(0.0, 1.0))
    assert value.item() == 3.0
    assert any("Ambiguous kl_divergence(Both, MyLaplace)" in str(w.message) for w in caught)


def test_register_kl_rejects_non_distributions():
    with pytest.raises(TypeError, match="Expected type_p to be a Distribution subclass"):
        D.register_kl(int, D.Normal)
    with pytest.raises(TypeError, match="Expected type_q to be a Distribution subclass"):
        D.register_kl(D.Normal, "Normal")


def test_mvn_kl_needs_equal_event_shapes():
    p = D.MultivariateNormal(ember.zeros(2), ember.eye(2))
    q = D.MultivariateNormal(ember.zeros(3), ember.eye(3))
    with pytest.raises(ValueError, match="different event shapes"):
        D.kl_divergence(p, q)


def test_independent_kl_needs_equal_reinterpreted_dims():
    base = D.Normal(ember.zeros(2, 3), 1.0)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Independent(base, 1), D.Independent(base, 2))

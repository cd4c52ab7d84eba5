"""Sampling: shapes, reproducibility under ember.manual_seed, sample statistics, and
reparameterized gradients (location-scale families exactly, Gamma/Beta/Dirichlet through
the implicit gradient)."""

import math

import numpy as np
import pytest

import ember
import ember.distributions as D


def _t(values, grad=False):
    return ember.tensor(values, dtype=ember.float64, requires_grad=grad)


# (distribution, mean, variance) with batch shape (2,) (event shape where noted)
FAMILIES = {
    "Normal": lambda: D.Normal(_t([0.0, 2.0]), _t([1.0, 0.5])),
    "Laplace": lambda: D.Laplace(_t([0.0, -1.0]), _t([1.0, 2.0])),
    "Uniform": lambda: D.Uniform(_t([0.0, -2.0]), _t([1.0, 3.0])),
    "Exponential": lambda: D.Exponential(_t([0.5, 3.0])),
    "Gamma": lambda: D.Gamma(_t([0.3, 4.0]), _t([1.0, 2.0])),
    "Beta": lambda: D.Beta(_t([0.5, 3.0]), _t([2.0, 1.5])),
    "Dirichlet": lambda: D.Dirichlet(_t([[0.5, 1.0, 2.0], [3.0, 3.0, 0.2]])),
    "Bernoulli": lambda: D.Bernoulli(probs=_t([0.2, 0.9])),
    "Categorical": lambda: D.Categorical(probs=_t([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])),
    "OneHotCategorical": lambda: D.OneHotCategorical(probs=_t([[0.2, 0.3, 0.5], [1.0, 0, 0]])),
    "MultivariateNormal": lambda: D.MultivariateNormal(
        _t([[0.0, 1.0], [2.0, -1.0]]), covariance_matrix=_t([[2.0, 0.5], [0.5, 1.0]])
    ),
    "Independent": lambda: D.Independent(D.Normal(_t([0.0, 1.0]), _t([1.0, 2.0])), 1),
    "LogNormal": lambda: D.TransformedDistribution(
        D.Normal(_t([0.0, 0.5]), _t([0.5, 0.25])), D.transforms.ExpTransform()
    ),
}
REPARAMETERIZED = {"Normal", "Laplace", "Uniform", "Exponential", "Gamma", "Beta", "Dirichlet",
                   "MultivariateNormal", "Independent", "LogNormal"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_sample_shapes(name, sample_shape):
    dist = FAMILIES[name]()
    expected = tuple(sample_shape) + tuple(dist.batch_shape) + tuple(dist.event_shape)
    x = dist.sample(sample_shape)
    assert tuple(x.shape) == expected
    assert not x.requires_grad
    assert dist.has_rsample == (name in REPARAMETERIZED)
    if dist.has_rsample:
        assert tuple(dist.rsample(sample_shape).shape) == expected
    else:
        with pytest.raises(NotImplementedError, match="has no reparameterized sampler"):
            dist.rsample(sample_shape)
    assert tuple(dist.log_prob(x).shape) == tuple(sample_shape) + tuple(dist.batch_shape)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_manual_seed_reproduces_samples(name):
    ember.manual_seed(3)
    first = FAMILIES[name]().sample((4,))
    ember.manual_seed(3)
    again = FAMILIES[name]().sample((4,))
    other = FAMILIES[name]().sample((4,))
    assert np.array_equal(first.numpy(), again.numpy())
    if name != "OneHotCategorical":  # its second row is deterministic; the first may repeat
        assert not np.array_equal(first.numpy(), other.numpy())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_sample_moments(name):
    dist = FAMILIES[name]()
    n = 40_000
    x = dist.sample((n,)).numpy().astype(np.float64)
    if name == "LogNormal":
        loc, scale = np.array([0.0, 0.5]), np.array([0.5, 0.25])
        mean, var = np.exp(loc + scale**2 / 2), (np.exp(scale**2) - 1) * np.exp(2 * loc + scale**2)
    elif name == "Categorical":
        probs = dist.probs.numpy()
        k = np.arange(probs.shape[-1])
        mean = (probs * k).sum(-1)
        var = (probs * k**2).sum(-1) - mean**2
    else:
        mean, var = dist.mean.detach().numpy(), dist.variance.detach().numpy()
    # 6 standard errors of the mean, and a loose bound on the variance
    assert np.all(np.abs(x.mean(0) - mean) <= 6 * np.sqrt(var / n) + 1e-12), name
    assert np.allclose(x.var(0), var, rtol=0.1, atol=1e-3), name


@pytest.mark.parametrize(
    "name", ["Normal", "Laplace", "Uniform", "Exponential", "MultivariateNormal"]
)
def test_location_scale_rsample_gradient_matches_finite_differences(name):
    # with the seed fixed, the draw is a smooth function of the parameters
    def draw(params):
        ember.manual_seed(11)
        if name == "MultivariateNormal":
            dist = D.MultivariateNormal(params[0], scale_tril=params[1])
        elif name == "Exponential":
            dist = D.Exponential(params[0])
        else:
            dist = getattr(D, name)(params[0], params[1])
        return dist.rsample((3,))

    if name == "MultivariateNormal":
        params = [_t([0.5, -0.2], True), _t([[1.5, 0.0], [0.3, 0.7]], True)]
    elif name == "Exponential":
        params = [_t([0.5, 2.0], True)]
    elif name == "Uniform":
        params = [_t([0.5, -1.0], True), _t([1.0, 2.0], True)]
    else:
        params = [_t([0.5, -1.0], True), _t([1.0, 2.0], True)]
    weights = np.random.default_rng(0).standard_normal(tuple(draw(params).shape))
    loss = (draw(params) * _t(weights)).sum()
    analytic = ember.autograd.grad(loss, params)
    h = 1e-6
    for p, g in zip(params, analytic):
        flat = p.detach().numpy().ravel()
        for i in range(flat.size):
            if name == "MultivariateNormal" and p.dim() == 2 and i == 1:
                continue  # above the diagonal of scale_tril: not a parameter
            bumped = []
            for sign in (1, -1):
                values = flat.copy()
                values[i] += sign * h
                moved = [q if q is not p else _t(values.reshape(p.shape)) for q in params]
                bumped.append((draw(moved).detach().numpy() * weights).sum())
            numeric = (bumped[0] - bumped[1]) / (2 * h)
            assert g.numpy().ravel()[i] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_gamma_implicit_gradient_matches_inverse_cdf_differences():
    special = pytest.importorskip("scipy.special")
    alpha = _t([0.05, 0.5, 1.0, 3.0, 40.0, 2500.0], True)
    x = D.Gamma(alpha, 1.0).rsample((200,))
    # per draw: d/dalpha of P^-1(alpha, u) at u = P(alpha, x)
    a, xs = alpha.detach().numpy(), x.detach().numpy()
    u = special.gammainc(a, xs)
    h = 1e-6 * a
    numeric = (special.gammaincinv(a + h, u) - special.gammaincinv(a - h, u)) / (2 * h)
    inside = (u > 1e-10) & (u < 1 - 1e-10)  # where the differences are meaningful
    (mine,) = ember.autograd.grad((x * _t(inside.astype(float))).sum(), alpha)
    assert np.allclose(mine.numpy(), np.where(inside, numeric, 0.0).sum(0), rtol=1e-6)


def test_gamma_implicit_gradient_agrees_with_torch(torch):
    alpha = np.array([0.1, 0.7, 2.0, 9.0, 150.0])
    a = _t(alpha, True)
    x = D.Gamma(a, 1.0).rsample((300,))
    (summed,) = ember.autograd.grad(x.sum(), a)
    theirs = torch._standard_gamma_grad(
        torch.tensor(alpha).expand(300, 5), torch.tensor(x.detach().numpy())
    ).sum(0)
    # PyTorch approximates this derivative (to about 1e-3); ember computes it to ~1e-9
    assert np.allclose(summed.numpy(), theirs.numpy(), rtol=5e-3)


def test_gamma_rate_gradient_is_exact():
    c, r = _t([2.0, 3.0], True), _t([0.5, 4.0], True)
    ember.manual_seed(5)
    x = D.Gamma(c, r).rsample((4,))
    (g,) = ember.autograd.grad(x.sum(), r)
    assert np.allclose(g.numpy(), (-x / r).sum(0).detach().numpy())  # x = G / rate


@pytest.mark.parametrize("family", ["Gamma", "Beta", "Dirichlet"])
def test_reparameterized_gradient_is_unbiased(family):
    # the Monte Carlo gradient of E[f(x)] matches the closed form's gradient
    if family == "Gamma":
        params = [_t([0.4, 2.5], True), _t([1.5, 0.5], True)]
        dist = D.Gamma(*params)
        exact = lambda c, r: c * (c + 1) / r**2  # E[x^2]  # noqa: E731
    elif family == "Beta":
        params = [_t([0.4, 2.5], True), _t([1.5, 0.8], True)]
        dist = D.Beta(*params)
        exact = lambda a, b: a * (a + 1) / ((a + b) * (a + b + 1))  # noqa: E731
    else:
        params = [_t([[0.4, 2.5, 1.0]], True)]
        dist = D.Dirichlet(*params)
        exact = lambda c: c[..., 0] * (c[..., 0] + 1) / (c.sum(-1) * (c.sum(-1) + 1))  # noqa: E731
    ember.manual_seed(2)
    x = dist.rsample((200_000,))
    first = x[..., 0] if family == "Dirichlet" else x
    estimate = ember.autograd.grad(first.pow(2).mean(0).sum(), params)
    truth = ember.autograd.grad(exact(*params).sum(), params)
    for e, t in zip(estimate, truth):
        assert np.allclose(e.numpy(), t.numpy(), rtol=0.03, atol=0.005), (e, t)


def test_gamma_second_derivative_raises():
    alpha = _t([2.0], True)
    x = D.Gamma(alpha, 1.0).rsample()
    (g,) = ember.autograd.grad(x.sum(), alpha, create_graph=True)
    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        ember.autograd.grad(g.sum(), alpha)


def test_float32_gamma_draws_stay_positive():
    x = D.Gamma(ember.tensor([0.01, 0.05]), ember.tensor([1.0, 1.0])).sample((1000,))
    assert x.dtype == ember.float32 and bool((x > 0).all())
    b = D.Beta(ember.tensor([0.02]), ember.tensor([0.02])).sample((1000,))
    assert bool(((b > 0) & (b < 1)).all())


def test_sample_is_outside_the_graph_and_rsample_inside():
    loc = _t([0.0], True)
    dist = D.Normal(loc, 1.0)
    assert not dist.sample().requires_grad
    assert dist.rsample().requires_grad


def test_one_hot_straight_through_gradient():
    probs = _t([0.2, 0.3, 0.5], True)
    dist = D.OneHotCategoricalStraightThrough(probs=probs)
    x = dist.rsample()
    assert sorted(x.detach().tolist()) == [0.0, 0.0, 1.0]
    (g,) = ember.autograd.grad((x * _t([1.0, 2.0, 3.0])).sum(), probs)
    # d/dprobs of probs / probs.sum() applied to (1, 2, 3)
    expected = (np.array([1.0, 2.0, 3.0]) - np.dot([0.2, 0.3, 0.5], [1.0, 2.0, 3.0])) / 1.0
    assert np.allclose(g.numpy(), expected)


def test_enumerate_support(torch):
    for name, mine, theirs in [
        (
            "Bernoulli",
            D.Bernoulli(ember.tensor([0.2, 0.4])),
            torch.distributions.Bernoulli(torch.tensor([0.2, 0.4])),
        ),
        (
            "Categorical",
            D.Categorical(ember.ones(2, 3)),
            torch.distributions.Categorical(torch.ones(2, 3)),
        ),
        (
            "OneHot",
            D.OneHotCategorical(ember.ones(2, 3)),
            torch.distributions.OneHotCategorical(torch.ones(2, 3)),
        ),
    ]:
        for expand in (True, False):
            a, b = mine.enumerate_support(expand), theirs.enumerate_support(expand)
            assert a.tolist() == b.tolist() and str(a.dtype)[6:] == str(b.dtype)[6:], name
    assert math.isclose(
        D.Normal(0.0, 1.0).perplexity().item(),
        math.exp(0.5 * math.log(2 * math.pi * math.e)),
        rel_tol=1e-6,
    )

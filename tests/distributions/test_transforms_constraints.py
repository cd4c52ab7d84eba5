"""Transforms (forward, inverse, log |det J|, caching, composition) and constraints against
torch."""

import numpy as np
import pytest

import ember
import ember.distributions as D
from tests.distributions.common import close

X = np.random.default_rng(3).standard_normal((4, 3)) * 2


def _transforms(lib):
    T = lib.distributions.transforms
    loc = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64)
    scale = lib.tensor([2.0, -0.5, 1.5], dtype=lib.float64)
    return {
        "exp": T.ExpTransform(),
        "sigmoid": T.SigmoidTransform(),
        "tanh": T.TanhTransform(),
        "affine_number": T.AffineTransform(1.0, -3.0),
        "affine_tensor": T.AffineTransform(loc, scale),
        "affine_event": T.AffineTransform(loc, scale, event_dim=1),
        "compose": T.ComposeTransform([T.AffineTransform(loc, scale), T.TanhTransform()]),
        "compose_event": T.ComposeTransform(
            [T.ExpTransform(), T.AffineTransform(loc, scale, event_dim=1)]
        ),
        "inverse_sigmoid": T.SigmoidTransform().inv,
        "identity": T.identity_transform,
    }


@pytest.mark.parametrize("name", sorted(_transforms(ember)))
def test_transform_matches_torch(torch, name):
    mine, theirs = _transforms(ember)[name], _transforms(torch)[name]
    x_source = np.clip(X, -1.5, 1.5) if name == "inverse_sigmoid" else X
    if name == "inverse_sigmoid":
        x_source = 1 / (1 + np.exp(-x_source))
    xe = ember.tensor(x_source, dtype=ember.float64, requires_grad=True)
    xt = torch.tensor(x_source, dtype=torch.float64, requires_grad=True)
    ye, yt = mine(xe), theirs(xt)
    close(ye, yt)
    close(mine.inv(ye), theirs.inv(yt), rtol=1e-7)
    je, jt = mine.log_abs_det_jacobian(xe, ye), theirs.log_abs_det_jacobian(xt, yt)
    assert tuple(je.shape) == tuple(jt.shape)
    close(je, jt, rtol=1e-9)
    (ge,) = ember.autograd.grad((ye.sum() + je.sum()), xe)
    (gt,) = torch.autograd.grad((yt.sum() + jt.sum()), xt)
    close(ge, gt, rtol=1e-9)
    assert mine.bijective == theirs.bijective
    assert repr(mine) == repr(theirs)
    for attr in ("domain", "codomain"):
        assert repr(getattr(mine, attr)) == repr(getattr(theirs, attr)), attr
        assert getattr(mine, attr).event_dim == getattr(theirs, attr).event_dim


def test_inverse_of_inverse_and_equality():
    t = D.transforms.ExpTransform()
    assert t.inv.inv is t
    assert D.transforms.ExpTransform() == D.transforms.ExpTransform()
    assert D.transforms.ExpTransform() != D.transforms.SigmoidTransform()
    assert D.transforms.AffineTransform(1.0, 2.0) == D.transforms.AffineTransform(1.0, 2.0)
    assert D.transforms.AffineTransform(1.0, 2.0) != D.transforms.AffineTransform(1.0, 3.0)
    c = D.transforms.ComposeTransform([t, D.transforms.AffineTransform(0.0, 2.0)])
    assert c.inv.inv is c
    assert D.transforms.AffineTransform(0.0, -2.0).sign == -1 and c.sign == 1


def test_cache_returns_the_remembered_input():
    x = ember.tensor([30.0], dtype=ember.float64)  # tanh(30) rounds to 1: atanh would be inf
    cached = D.transforms.TanhTransform(cache_size=1)
    y = cached(x)
    assert cached.inv(y) is x
    assert cached(x) is y
    uncached = D.transforms.TanhTransform()
    assert uncached.inv(uncached(x)).item() == float("inf")
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        D.transforms.ExpTransform(cache_size=2)
    assert D.transforms.ExpTransform().with_cache(1)._cache_size == 1


def test_tanh_normal_scores_its_own_samples():
    # the squashed Gaussian of SAC-style policies: a cached Tanh scores a saturated draw
    loc = ember.tensor([40.0], dtype=ember.float64, requires_grad=True)
    policy = D.TransformedDistribution(
        D.Normal(loc, 1.0), [D.transforms.TanhTransform(cache_size=1)]
    )
    action = policy.rsample()
    log_prob = policy.log_prob(action)
    assert np.isfinite(log_prob.item())
    (g,) = ember.autograd.grad(log_prob.sum(), loc)
    assert np.isfinite(g.item())


def test_transformed_distribution_shapes_and_support(torch):
    for build in [
        lambda lib: lib.distributions.TransformedDistribution(
            lib.distributions.Normal(lib.zeros(2, 3), 1.0),
            lib.distributions.transforms.AffineTransform(lib.zeros(3), lib.ones(3), event_dim=1),
        ),
        lambda lib: lib.distributions.TransformedDistribution(
            lib.distributions.Normal(lib.zeros(3), 1.0),
            lib.distributions.transforms.AffineTransform(lib.zeros(2, 3), lib.ones(3)),
        ),
        lambda lib: lib.distributions.TransformedDistribution(
            lib.distributions.Normal(0.0, 1.0), []
        ),
    ]:
        mine, theirs = build(ember), build(torch)
        assert tuple(mine.batch_shape) == tuple(theirs.batch_shape)
        assert tuple(mine.event_shape) == tuple(theirs.event_shape)
        assert repr(mine.support) == repr(theirs.support)
        assert tuple(mine.sample((5,)).shape) == tuple(theirs.sample((5,)).shape)
    with pytest.raises(
        ValueError, match="base_distribution needs to have shape with size at least 1"
    ):
        D.TransformedDistribution(
            D.Normal(0.0, 1.0), D.transforms.AffineTransform(0.0, 1.0, event_dim=1)
        )


VALUES = [
    np.array([-1.0, 0.0, 0.5, 1.0, 2.0, float("nan")]),
    np.array([[0.2, 0.8], [0.5, 0.6], [1.0, 0.0], [-0.1, 1.1]]),
    np.array([[[2.0, 0.0], [0.5, 1.0]], [[1.0, 0.3], [0.3, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]),
]
CONSTRAINTS = {
    "real": lambda C: C.real,
    "positive": lambda C: C.positive,
    "nonnegative": lambda C: C.nonnegative,
    "unit_interval": lambda C: C.unit_interval,
    "boolean": lambda C: C.boolean,
    "nonnegative_integer": lambda C: C.nonnegative_integer,
    "positive_integer": lambda C: C.positive_integer,
    "greater_than": lambda C: C.greater_than(0.5),
    "greater_than_eq": lambda C: C.greater_than_eq(0.5),
    "less_than": lambda C: C.less_than(0.5),
    "interval": lambda C: C.interval(0.0, 0.5),
    "half_open_interval": lambda C: C.half_open_interval(0.0, 1.0),
    "integer_interval": lambda C: C.integer_interval(0, 1),
    "simplex": lambda C: C.simplex,
    "one_hot": lambda C: C.one_hot,
    "real_vector": lambda C: C.real_vector,
    "independent": lambda C: C.independent(C.positive, 1),
    "lower_triangular": lambda C: C.lower_triangular,
    "lower_cholesky": lambda C: C.lower_cholesky,
    "symmetric": lambda C: C.symmetric,
    "positive_definite": lambda C: C.positive_definite,
    "positive_semidefinite": lambda C: C.positive_semidefinite,
    "square": lambda C: C.square,
}


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_constraint_matches_torch(torch, name):
    mine = CONSTRAINTS[name](D.constraints)
    theirs = CONSTRAINTS[name](torch.distributions.constraints)
    assert repr(mine) == repr(theirs)
    assert mine.event_dim == theirs.event_dim and mine.is_discrete == theirs.is_discrete
    for value in VALUES:
        if value.ndim < mine.event_dim:
            continue
        a = mine.check(ember.tensor(value))
        b = theirs.check(torch.tensor(value))
        assert a.tolist() == b.tolist(), (name, value)


def test_dependent_constraints():
    C = D.constraints
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    with pytest.raises(ValueError, match="Cannot determine validity of dependent constraint"):
        C.dependent.check(ember.zeros(1))
    with pytest.raises(NotImplementedError):
        _ = C.dependent.event_dim
    assert C.dependent(is_discrete=True, event_dim=1).event_dim == 1
    assert C.is_dependent(D.Uniform.support)
    assert repr(D.Uniform(0.0, 2.0).support) == "Interval(lower_bound=0.0, upper_bound=2.0)"
    assert (
        repr(D.Categorical(ember.ones(4)).support)
        == "IntegerInterval(lower_bound=0, upper_bound=3)"
    )

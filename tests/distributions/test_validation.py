"""Argument and sample validation: PyTorch's ValueError messages (with ember's names), the
validate_args switch and the global default."""

import pytest

import ember
import ember.distributions as D


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value)


def _both(torch, build):
    """The messages from build(ember) and build(torch), torch's with ember's module name."""
    mine = _message(lambda: build(ember))
    theirs = _message(lambda: build(torch)).replace("torch.", "ember.")
    return mine, theirs


CONSTRUCTION = {
    "normal_scale": lambda lib: lib.distributions.Normal(lib.tensor(0.0), lib.tensor(-1.0)),
    "normal_vector": lambda lib: lib.distributions.Normal(lib.zeros(2), lib.tensor([1.0, -1.0])),
    "normal_nan_loc": lambda lib: lib.distributions.Normal(float("nan"), 1.0),
    "uniform_order": lambda lib: lib.distributions.Uniform(1.0, 0.0),
    "exponential": lambda lib: lib.distributions.Exponential(lib.tensor([1.0, 0.0])),
    "gamma": lambda lib: lib.distributions.Gamma(lib.tensor([1.0, 2.0]), -1.0),
    "beta": lambda lib: lib.distributions.Beta(lib.tensor(-1.0), 1.0),
    "dirichlet": lambda lib: lib.distributions.Dirichlet(lib.tensor([1.0, 0.0])),
    "bernoulli": lambda lib: lib.distributions.Bernoulli(probs=lib.tensor([0.5, 1.5])),
    "both_params": lambda lib: lib.distributions.Bernoulli(probs=0.3, logits=0.1),
    "no_params": lambda lib: lib.distributions.Categorical(),
    "categorical_0d": lambda lib: lib.distributions.Categorical(lib.tensor(0.3)),
    "categorical_logits_0d": lambda lib: lib.distributions.Categorical(logits=lib.tensor(0.3)),
    "dirichlet_0d": lambda lib: lib.distributions.Dirichlet(lib.tensor(1.0)),
    "mvn_none": lambda lib: lib.distributions.MultivariateNormal(lib.zeros(3)),
    "mvn_two": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(3), lib.eye(3), scale_tril=lib.eye(3)
    ),
    "mvn_loc_0d": lambda lib: lib.distributions.MultivariateNormal(lib.zeros(()), lib.eye(3)),
    "mvn_cov_1d": lambda lib: lib.distributions.MultivariateNormal(lib.zeros(3), lib.ones(3)),
    "mvn_tril_1d": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(3), scale_tril=lib.ones(3)
    ),
    "mvn_precision_1d": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(3), precision_matrix=lib.ones(3)
    ),
    "mvn_not_pd": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(2), lib.tensor([[1.0, 2.0], [2.0, 1.0]])
    ),
    "mvn_not_tril": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(2), scale_tril=lib.tensor([[1.0, 2.0], [0.0, 1.0]])
    ),
    "independent": lambda lib: lib.distributions.Independent(
        lib.distributions.Normal(lib.zeros(3), 1.0), 2
    ),
    "transformed_list": lambda lib: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(0.0, 1.0), [lib.distributions.transforms.ExpTransform(), 3]
    ),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTION))
def test_construction_errors_match_torch(torch, name):
    mine, theirs = _both(torch, CONSTRUCTION[name])
    assert mine == theirs


SAMPLES = {
    "not_tensor": lambda lib: lib.distributions.Normal(0.0, 1.0).log_prob(1.0),
    "nan": lambda lib: lib.distributions.Normal(0.0, 1.0).log_prob(lib.tensor(float("nan"))),
    "outside_uniform": lambda lib: lib.distributions.Uniform(0.0, 1.0).log_prob(lib.tensor(1.5)),
    "uniform_cdf": lambda lib: lib.distributions.Uniform(0.0, 1.0).cdf(lib.tensor(-1.0)),
    "bernoulli": lambda lib: lib.distributions.Bernoulli(lib.tensor([0.3, 0.5])).log_prob(
        lib.tensor([0.5, 1.0])
    ),
    "categorical": lambda lib: lib.distributions.Categorical(lib.ones(3)).log_prob(lib.tensor(3)),
    "event_shape": lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(3), lib.eye(3)
    ).log_prob(lib.zeros(2)),
    "batch_shape": lambda lib: lib.distributions.Normal(lib.zeros(3), 1.0).log_prob(lib.zeros(2)),
    "simplex": lambda lib: lib.distributions.Dirichlet(lib.ones(3)).log_prob(lib.ones(3)),
    "one_hot": lambda lib: lib.distributions.OneHotCategorical(lib.ones(3)).log_prob(
        lib.tensor([1.0, 1.0, 0.0])
    ),
    "gamma_negative": lambda lib: lib.distributions.Gamma(1.0, 1.0).log_prob(lib.tensor(-1.0)),
    "lognormal": lambda lib: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(0.0, 1.0), lib.distributions.transforms.ExpTransform()
    ).log_prob(lib.tensor(-1.0)),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_errors_match_torch(torch, name):
    mine, theirs = _both(torch, SAMPLES[name])
    assert mine == theirs


def test_validate_args_false_skips_checks():
    d = D.Normal(0.0, -1.0, validate_args=False)  # no error
    assert d.log_prob(ember.tensor(0.0)).isnan().item()  # log of a negative scale
    u = D.Uniform(0.0, 1.0, validate_args=False)
    assert u.log_prob(ember.tensor(2.0)).item() == float("-inf")


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(0.0, -1.0)  # no error
        with pytest.raises(ValueError):
            D.Normal(0.0, -1.0, validate_args=True)  # the explicit setting wins
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="True or False"):
        D.Distribution.set_default_validate_args(3)


def test_expand_keeps_validation_setting_and_shares_parameters(torch):
    loc = ember.zeros(3, requires_grad=True)
    d = D.Normal(loc, 1.0, validate_args=False)
    e = d.expand((2, 3))
    assert tuple(e.batch_shape) == (2, 3) and e._validate_args is False
    e.log_prob(ember.zeros(2, 3)).sum().backward()
    assert loc.grad.tolist() == [0.0, 0.0, 0.0]  # gradients reach the original parameter
    for build in [
        lambda lib: lib.distributions.Gamma(lib.tensor([1.0, 2.0]), 1.0).expand((3,)),
    ]:
        with pytest.raises(RuntimeError) as mine:
            build(ember)
        assert "expand" in str(mine.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.distributions.Normal(lib.zeros(1), 1.0),
        lambda lib: lib.distributions.Bernoulli(logits=lib.zeros(1)),
        lambda lib: lib.distributions.Categorical(lib.ones(1, 3)),
        lambda lib: lib.distributions.OneHotCategorical(lib.ones(1, 3)),
        lambda lib: lib.distributions.Dirichlet(lib.ones(1, 3)),
        lambda lib: lib.distributions.Beta(lib.ones(1), 2.0),
        lambda lib: lib.distributions.MultivariateNormal(lib.zeros(1, 2), lib.eye(2)),
        lambda lib: lib.distributions.Independent(
            lib.distributions.Normal(lib.zeros(1, 2), 1.0), 1
        ),
        lambda lib: lib.distributions.TransformedDistribution(
            lib.distributions.Normal(lib.zeros(1), 1.0), lib.distributions.transforms.ExpTransform()
        ),
    ],
)
def test_expand_shapes_match_torch(torch, build):
    mine, theirs = build(ember).expand((4, 1)), build(torch).expand((4, 1))
    assert tuple(mine.batch_shape) == tuple(theirs.batch_shape) == (4, 1)
    assert tuple(mine.event_shape) == tuple(theirs.event_shape)
    assert type(mine).__name__ == type(theirs).__name__
    assert tuple(mine.sample((2,)).shape) == tuple(theirs.sample((2,)).shape)


def test_reprs_match_torch(torch):
    for build in [
        lambda lib: lib.distributions.Normal(0.0, 1.0),
        lambda lib: lib.distributions.Normal(lib.zeros(3), 1.0),
        lambda lib: lib.distributions.Beta(2.0, 3.0),
        lambda lib: lib.distributions.Bernoulli(logits=lib.zeros(2)),
        lambda lib: lib.distributions.MultivariateNormal(lib.zeros(3), lib.eye(3)),
        lambda lib: lib.distributions.Independent(lib.distributions.Normal(lib.zeros(3), 1.0), 1),
        lambda lib: lib.distributions.OneHotCategorical(lib.ones(3)),
    ]:
        assert repr(build(ember)) == repr(build(torch)).replace("torch.", "ember.")


def test_subclass_with_custom_init_must_define_expand():
    class Shifted(D.Normal):
        def __init__(self, loc):
            super().__init__(loc, 1.0)

    with pytest.raises(NotImplementedError, match="must also define a custom .expand"):
        Shifted(ember.zeros(1)).expand((3,))

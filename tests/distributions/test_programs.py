"""The way programs use distributions: float32 defaults, policy gradients with Categorical,
a VAE's Normal posterior with rsample and kl_divergence, a squashed Gaussian policy."""

import numpy as np
import pytest

import ember
import ember.distributions as D
from ember import nn


@pytest.mark.parametrize(
    "build",
    [
        lambda: D.Normal(ember.zeros(2), 1.0),
        lambda: D.Laplace(0.0, 1.0),
        lambda: D.Uniform(0.0, 2.0),
        lambda: D.Exponential(ember.ones(2)),
        lambda: D.Gamma(ember.ones(2), 2.0),
        lambda: D.Beta(2.0, 3.0),
        lambda: D.Dirichlet(ember.ones(3)),
        lambda: D.Bernoulli(0.3),
        lambda: D.OneHotCategorical(ember.ones(3)),
        lambda: D.MultivariateNormal(ember.zeros(2), ember.eye(2)),
    ],
)
def test_float32_in_float32_out(build):
    dist = build()
    x = dist.sample((3,))
    assert x.dtype == ember.float32
    assert dist.log_prob(x).dtype == ember.float32
    assert dist.entropy().dtype == ember.float32


def test_categorical_samples_are_int64_and_score_as_float32():
    dist = D.Categorical(logits=ember.zeros(4, 3))
    x = dist.sample((5,))
    assert x.dtype == ember.int64 and tuple(x.shape) == (5, 4)
    assert dist.log_prob(x).dtype == ember.float32


def test_reinforce_learns_the_best_arm():
    ember.manual_seed(0)
    logits = nn.Parameter(ember.zeros(3))
    optimizer = ember.optim.Adam([logits], lr=0.1)
    rewards = ember.tensor([0.0, 1.0, 0.2])
    for _ in range(150):
        policy = D.Categorical(logits=logits)
        actions = policy.sample((16,))
        loss = -(policy.log_prob(actions) * rewards[actions]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert D.Categorical(logits=logits).probs.argmax().item() == 1


def test_vae_step_reduces_loss():
    ember.manual_seed(0)
    encoder, decoder = nn.Linear(4, 4), nn.Linear(2, 4)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = ember.optim.Adam(params, lr=0.05)
    data = ember.randn(64, 4)
    prior = D.Normal(ember.zeros(2), ember.ones(2))
    losses = []
    for _ in range(60):
        stats = encoder(data)
        posterior = D.Normal(stats[:, :2], nn.functional.softplus(stats[:, 2:]) + 1e-3)
        z = posterior.rsample()
        likelihood = D.Independent(D.Normal(decoder(z), 1.0), 1)
        kl = D.kl_divergence(D.Independent(posterior, 1), D.Independent(prior.expand((64, 2)), 1))
        loss = (kl - likelihood.log_prob(data)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_squashed_gaussian_policy_gradients_reach_the_network():
    net = nn.Linear(3, 4)
    out = net(ember.randn(5, 3))
    mean, log_std = out[:, :2], out[:, 2:].clamp(-5, 2)
    policy = D.TransformedDistribution(
        D.Independent(D.Normal(mean, log_std.exp()), 1),
        [D.transforms.TanhTransform(cache_size=1)],
    )
    action = policy.rsample()
    assert tuple(action.shape) == (5, 2) and bool((action.abs() < 1).all())
    (policy.log_prob(action).sum() - action.sum()).backward()
    assert net.weight.grad is not None and bool(net.weight.grad.isfinite().all())


@pytest.mark.parametrize(
    "module, name",
    [
        ("normal", "Normal"),
        ("log_normal", "LogNormal"),
        ("laplace", "Laplace"),
        ("uniform", "Uniform"),
        ("exponential", "Exponential"),
        ("gamma", "Gamma"),
        ("beta", "Beta"),
        ("dirichlet", "Dirichlet"),
        ("bernoulli", "Bernoulli"),
        ("categorical", "Categorical"),
        ("one_hot_categorical", "OneHotCategorical"),
        ("one_hot_categorical", "OneHotCategoricalStraightThrough"),
        ("multivariate_normal", "MultivariateNormal"),
        ("independent", "Independent"),
        ("transformed_distribution", "TransformedDistribution"),
        ("distribution", "Distribution"),
        ("kl", "kl_divergence"),
        ("kl", "register_kl"),
        ("transforms", "TanhTransform"),
        ("constraints", "positive"),
        ("utils", "broadcast_all"),
        ("utils", "probs_to_logits"),
        ("utils", "logits_to_probs"),
    ],
)
def test_pytorch_module_paths_import(torch, module, name):
    import importlib

    mine = importlib.import_module(f"ember.distributions.{module}")
    assert hasattr(importlib.import_module(f"torch.distributions.{module}"), name)
    value = getattr(mine, name)
    if name in D.__all__:
        assert value is getattr(D, name)


def test_draws_land_on_the_parameters_device(fake_cuda):
    loc = ember.zeros(3, device="cuda", requires_grad=True)
    concentration = ember.ones(3, device="cuda", requires_grad=True)
    for dist in [
        D.Normal(loc, 1.0),
        D.Gamma(concentration, 2.0),
        D.Dirichlet(concentration),
        D.Categorical(ember.ones(2, 3, device="cuda")),
        D.MultivariateNormal(ember.zeros(2, device="cuda"), ember.eye(2, device="cuda")),
        D.Bernoulli(ember.full((3,), 0.3, device="cuda")),
    ]:
        x = dist.sample((2,))
        assert x.device.type == "cuda", type(dist).__name__
        assert dist.log_prob(x).device.type == "cuda", type(dist).__name__
    D.Gamma(concentration, 2.0).rsample().sum().backward()
    assert concentration.grad.device.type == "cuda"

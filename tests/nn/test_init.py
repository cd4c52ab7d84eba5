"""nn.init and every layer's default initialisation, against torch's distributions."""

import math

import numpy as np
import pytest

import ember
import ember.nn as nn


def _stats(a):
    a = np.asarray(a, dtype=np.float64).ravel()
    return a.mean(), a.std(), a.min(), a.max()


# (class name, args): big enough that the sample statistics are tight
DEFAULTS = [
    ("Linear", (800, 400)),
    ("Linear", (3, 2000)),
    ("Bilinear", (30, 20, 40)),
    ("Conv1d", (32, 64, 5)),
    ("Conv2d", (64, 96, 3)),
    ("Conv2d", (64, 64, 3), {"groups": 4}),
    ("ConvTranspose2d", (64, 32, 3)),
    ("ConvTranspose1d", (40, 60, 4), {"groups": 2}),
    ("Embedding", (1000, 64)),
    ("EmbeddingBag", (1000, 64)),
    ("BatchNorm2d", (16,)),
    ("LayerNorm", (32,)),
    ("GroupNorm", (4, 32)),
    ("RMSNorm", (16,)),
    ("PReLU", (8,)),
]


@pytest.mark.parametrize("case", DEFAULTS, ids=[f"{c[0]}{c[1]}" for c in DEFAULTS])
def test_default_init_matches_torch(torch, case):
    name, args = case[0], case[1]
    kwargs = case[2] if len(case) > 2 else {}
    e = getattr(nn, name)(*args, **kwargs)
    t = getattr(torch.nn, name)(*args, **kwargs)
    t_state = t.state_dict()
    assert list(e.state_dict()) == list(t_state)
    for key, value in e.state_dict().items():
        expected = t_state[key].numpy()
        actual = value.numpy()
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, key
        em, es, emin, emax = _stats(actual)
        tm, ts, tmin, tmax = _stats(expected)
        n = actual.size
        noise = 6 / math.sqrt(n)  # six standard errors of a sample of n
        assert abs(em - tm) <= noise * max(ts, 1e-12), f"{key}: mean {em} vs {tm}"
        assert abs(es - ts) <= noise * max(ts, 1e-12), f"{key}: std {es} vs {ts}"
        if ts > 0 and name not in ("Embedding", "EmbeddingBag"):  # uniform: same bounds
            bound = max(abs(tmin), abs(tmax))
            assert emax <= bound * (1 + 8 / n) and emin >= -bound * (1 + 8 / n), key
            assert emax > bound * (1 - 16 / n) and emin < -bound * (1 - 16 / n), key


def test_embedding_padding_row_is_zero():
    e = nn.Embedding(10, 4, padding_idx=-1)
    assert e.padding_idx == 9
    assert not e.weight.numpy(force=True)[9].any()
    assert e.weight.numpy(force=True)[:9].all()


def test_calculate_gain_matches_torch(torch):
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu", "conv_transpose1d"):
        assert nn.init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in (None, 0.2, 1):
        assert nn.init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope)
        )
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        nn.init.calculate_gain("leaky_relu", True)


def test_fan_in_and_fan_out_match_torch(torch):
    for shape in ((5, 3), (8, 4, 3, 3), (2, 6, 5)):
        assert nn.init._calculate_fan_in_and_fan_out(
            ember.zeros(shape)
        ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(ember.zeros(3))


@pytest.mark.parametrize(
    "fn, kwargs, shape, expected_std",
    [
        ("xavier_uniform_", {"gain": 2.0}, (300, 500), 2.0 * math.sqrt(2.0 / 800)),
        ("xavier_normal_", {}, (300, 500), math.sqrt(2.0 / 800)),
        ("kaiming_uniform_", {}, (400, 300), math.sqrt(2.0 / 1.0001) / math.sqrt(300)),
        (
            "kaiming_normal_",
            {"mode": "fan_out", "nonlinearity": "relu"},
            (400, 300),
            math.sqrt(2.0) / math.sqrt(400),
        ),
        ("kaiming_normal_", {"a": 0.2}, (64, 32, 3, 3), math.sqrt(2.0 / 1.04) / math.sqrt(32 * 9)),
        ("normal_", {"mean": 1.0, "std": 0.3}, (500, 400), 0.3),
        ("uniform_", {"a": -2.0, "b": 4.0}, (500, 400), 6.0 / math.sqrt(12)),
    ],
)
def test_init_distributions(torch, fn, kwargs, shape, expected_std):
    e = ember.empty(*shape)
    t = torch.empty(*shape)
    getattr(nn.init, fn)(e, **kwargs)
    getattr(torch.nn.init, fn)(t, **kwargs)
    em, es, emin, emax = _stats(e.numpy())
    tm, ts, tmin, tmax = _stats(t.numpy())
    assert es == pytest.approx(expected_std, rel=0.02)
    assert es == pytest.approx(ts, rel=0.03)
    assert abs(em - tm) < 0.02 * ts + 1e-3


def test_trunc_normal_bounds_and_moments(torch):
    e = nn.init.trunc_normal_(ember.empty(400, 500), mean=0.5, std=1.0, a=-1.0, b=1.5)
    t = torch.nn.init.trunc_normal_(torch.empty(400, 500), mean=0.5, std=1.0, a=-1.0, b=1.5)
    em, es, emin, emax = _stats(e.numpy())
    tm, ts, _, _ = _stats(t.numpy())
    assert -1.0 <= emin and emax <= 1.5
    assert em == pytest.approx(tm, abs=0.01) and es == pytest.approx(ts, rel=0.02)


def test_orthogonal_eye_dirac_constant(torch):
    for shape in ((6, 4), (4, 6), (3, 2, 2)):
        w = nn.init.orthogonal_(ember.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
        small = min(w.shape)
        gram = w @ w.T if w.shape[0] == small else w.T @ w
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    np.testing.assert_array_equal(nn.init.eye_(ember.empty(3, 4)).numpy(), np.eye(3, 4))
    w = nn.init.dirac_(ember.empty(6, 3, 3, 3), groups=2)
    x = ember.randn(1, 3, 5, 5)
    y = ember.nn.functional.conv2d(x, w[:3], padding=1)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-6)
    t = torch.nn.init.dirac_(torch.empty(6, 3, 3, 3), groups=2)
    np.testing.assert_array_equal(w.numpy(), t.numpy())
    assert nn.init.constant_(ember.empty(2), 0.3).tolist() == pytest.approx([0.3, 0.3])
    assert nn.init.ones_(ember.empty(2)).tolist() == [1.0, 1.0]
    assert nn.init.zeros_(ember.ones(2)).tolist() == [0.0, 0.0]


def test_init_is_untracked_and_seeded():
    w = nn.Parameter(ember.empty(3, 4))
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert w.grad_fn is None and w.requires_grad
    g1 = ember.Generator().manual_seed(7)
    g2 = ember.Generator().manual_seed(7)
    a = nn.init.normal_(ember.empty(5), generator=g1)
    b = nn.init.normal_(ember.empty(5), generator=g2)
    assert a.tolist() == b.tolist()
    ember.manual_seed(11)
    c = nn.Linear(4, 3).weight.numpy(force=True)
    ember.manual_seed(11)
    d = nn.Linear(4, 3).weight.numpy(force=True)
    np.testing.assert_array_equal(c, d)


def test_init_keeps_dtype():
    w = ember.empty(3, 3, dtype=ember.float64)
    nn.init.xavier_uniform_(w)
    assert w.dtype == ember.float64
    lin = nn.Linear(3, 2, dtype=ember.float64)
    assert lin.weight.dtype == ember.float64 and lin.bias.dtype == ember.float64

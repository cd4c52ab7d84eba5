"""nn.functional beyond the layers: padding, interpolation, one_hot, distances, errors,
and gradchecks of convolution and pooling in float64."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from tests.nn.helpers import TOL


def _both(torch, fn_name, arrays, dtype="float64", ints=(), **kwargs):
    """Run F.<fn_name> in both libraries; compare the value and the gradient of each input."""
    results = []
    for lib in (ember, torch):
        xs = [
            lib.tensor(a)
            if i in ints
            else lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True)
            for i, a in enumerate(arrays)
        ]
        out = getattr(lib.nn.functional, fn_name)(*xs, **kwargs)
        grads = ()
        if out.requires_grad:
            cot = np.random.default_rng(9).standard_normal(tuple(out.shape))
            diff = [x for i, x in enumerate(xs) if i not in ints]
            grads = lib.autograd.grad(out, diff, lib.tensor(cot, dtype=out.dtype))
        results.append((out, grads))
    (eo, eg), (to, tg) = results
    assert eo.shape == tuple(to.shape)
    assert str(eo.dtype).split(".")[1] == str(to.dtype).split(".")[1]
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), **TOL[dtype])
    for e, t in zip(eg, tg):
        np.testing.assert_allclose(e.numpy(), t.numpy(), **TOL[dtype])
    return eo


rng = np.random.default_rng(0)


@pytest.mark.parametrize(
    "shape, pad, mode, value",
    [
        ((2, 3, 4), (1, 2), "constant", 0.5),
        ((2, 3, 4), (-1, 2, 0, 1), "constant", None),
        ((2, 3, 4), (1, 1, 1, 1, 1, 1), "constant", None),
        ((2, 3, 5), (2, 3), "reflect", None),
        ((1, 2, 4, 5), (3, 1, 2, 3), "reflect", None),
        ((2, 4, 5), (1, 2, 3, 0), "reflect", None),
        ((1, 2, 3, 4), (4, 5, 2, 3), "replicate", None),
        ((2, 3, 4), (1, 3), "replicate", None),
        ((1, 2, 3, 4), (2, 3, 1, 2), "circular", None),
        ((1, 1, 2, 3, 4), (1, 1, 1, 1, 1, 1), "reflect", None),
    ],
)
def test_pad_matches_torch(torch, shape, pad, mode, value):
    _both(torch, "pad", [rng.standard_normal(shape)], pad=pad, mode=mode, value=value)


def test_pad_errors_match_torch(torch):
    def errors(lib):
        x = lib.zeros(2, 3, 4)
        out = []
        for action in (
            lambda: lib.nn.functional.pad(x, (1, 1), mode="reflect", value=1.0),
            lambda: lib.nn.functional.pad(x, (4, 4), mode="reflect"),
            lambda: lib.nn.functional.pad(x, (1, 1, 1)),
            lambda: lib.nn.functional.pad(x, (1,) * 8),
            lambda: lib.nn.functional.pad(lib.zeros(4), (1, 1), mode="reflect"),
        ):
            try:
                action()
                out.append(None)
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc)))
        return out

    assert errors(ember) == errors(torch)


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((1, 2, 3, 4), {"scale_factor": 3}),
        ((1, 2, 5, 4), {"size": (3, 7)}),
        ((1, 2, 5, 4), {"scale_factor": 0.5}),
        ((1, 2, 5, 4), {"scale_factor": (1.5, 2.5), "mode": "nearest-exact"}),
        ((1, 2, 5, 4), {"scale_factor": 1.3, "recompute_scale_factor": True}),
        ((2, 3, 5), {"size": 8, "mode": "linear"}),
        ((2, 3, 5), {"size": 8, "mode": "linear", "align_corners": True}),
        ((1, 2, 5, 4), {"size": (3, 2), "mode": "bilinear"}),
        ((1, 2, 5, 4), {"size": (1, 1), "mode": "bilinear", "align_corners": True}),
        ((1, 2, 5, 4), {"scale_factor": 2.5, "mode": "bilinear"}),
        ((1, 1, 2, 3, 4), {"scale_factor": 2, "mode": "trilinear"}),
        ((1, 1, 2, 3, 4), {"size": (3, 5, 2)}),
        ((1, 2, 7, 6), {"size": (3, 4), "mode": "area"}),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_interpolate_matches_torch(torch, shape, kwargs, dtype):
    _both(torch, "interpolate", [rng.standard_normal(shape)], dtype=dtype, **kwargs)


def test_interpolate_errors_match_torch(torch):
    def errors(lib):
        x = lib.zeros(2, 3, 4)
        out = []
        for kwargs in (
            {"scale_factor": 2, "mode": "bilinear"},
            {"scale_factor": 2, "align_corners": True},
            {"size": 3, "scale_factor": 2},
            {},
        ):
            try:
                lib.nn.functional.interpolate(x, **kwargs)
                out.append(None)
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc)))
        return out

    assert errors(ember) == errors(torch)


def test_one_hot(torch):
    idx = np.array([[1, 2], [0, 0]])
    e = F.one_hot(ember.tensor(idx))
    t = torch.nn.functional.one_hot(torch.tensor(idx))
    assert e.dtype == ember.int64
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert F.one_hot(ember.tensor([1]), 4).tolist() == [[0, 1, 0, 0]]
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(ember.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(ember.tensor([1.0]), 3)


@pytest.mark.parametrize(
    "fn, shapes, kwargs",
    [
        ("normalize", [(3, 4)], {}),
        ("normalize", [(3, 4, 2)], {"p": 1, "dim": -1}),
        ("normalize", [(3, 4)], {"p": float("inf"), "dim": 0}),
        ("cosine_similarity", [(3, 4), (3, 4)], {}),
        ("cosine_similarity", [(3, 4), (1, 4)], {"dim": -1}),
        ("pairwise_distance", [(3, 4), (3, 4)], {"p": 3.0}),
        ("pairwise_distance", [(3, 4), (4,)], {"keepdim": True}),
        ("pdist", [(4, 3)], {}),
        ("linear", [(2, 3, 4), (5, 4), (5,)], {}),
        ("linear", [(4,), (5, 4)], {}),
        ("bilinear", [(3, 2), (3, 4), (5, 2, 4), (5,)], {}),
        ("bilinear", [(2, 3, 2), (2, 3, 4), (5, 2, 4)], {}),
        ("glu", [(4, 6)], {"dim": 1}),
        ("softmin", [(3, 4)], {"dim": 1}),
        ("prelu", [(2, 3, 4), (3,)], {}),
        ("prelu", [(2, 3), (1,)], {}),
        ("hardshrink", [(3, 4)], {"lambd": 0.7}),
        ("local_response_norm", [(2, 6, 3)], {"size": 4, "alpha": 0.1}),
        ("group_norm", [(2, 6, 3)], {"num_groups": 3}),
        ("layer_norm", [(2, 6, 3)], {"normalized_shape": (6, 3)}),
        ("rms_norm", [(2, 6, 3)], {"normalized_shape": (3,), "eps": 1e-3}),
        ("instance_norm", [(2, 3, 5)], {}),
    ],
)
def test_functional_matches_torch(torch, fn, shapes, kwargs):
    _both(torch, fn, [rng.standard_normal(s) for s in shapes], **kwargs)


def test_batch_norm_functional_updates_running_stats(torch):
    x = rng.standard_normal((6, 3, 2))
    results = []
    for lib in (ember, torch):
        rm, rv = lib.zeros(3, dtype=lib.float64), lib.ones(3, dtype=lib.float64)
        y = lib.nn.functional.batch_norm(lib.tensor(x), rm, rv, training=True, momentum=0.3)
        results.append((y.numpy(), rm.numpy(), rv.numpy()))
    for e, t in zip(*results):
        np.testing.assert_allclose(e, t, **TOL["float64"])


def test_softmax_implicit_dim_warns(torch):
    x = ember.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(x)
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.log_softmax(x, dim=0)


def test_softmax_stable_and_dtype(torch):
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, 0.0, 1.0]])
    for fn in ("softmax", "log_softmax"):
        _both(torch, fn, [x], dim=1)
    out = ember.softmax(ember.tensor([[1, 2]]), dim=1, dtype=ember.float64)
    assert out.dtype == ember.float64
    assert ember.randn(2, 3).log_softmax(-1).shape == (2, 3)


def test_gumbel_softmax():
    logits = ember.randn(4, 5, requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-5)
    hard = F.gumbel_softmax(logits, hard=True)
    assert set(np.unique(hard.detach().numpy())) <= {0.0, 1.0}
    hard.sum().backward()
    assert logits.grad is not None


def test_conv_errors_match_torch(torch):
    def errors(lib):
        f = lib.nn.functional
        out = []
        for action in (
            lambda: f.conv2d(lib.zeros(1, 2, 5, 5), lib.zeros(4, 3, 3, 3)),
            lambda: f.conv2d(lib.zeros(1, 3, 2, 2), lib.zeros(4, 3, 3, 3)),
            lambda: f.conv2d(lib.zeros(3, 5), lib.zeros(4, 3, 3, 3)),
            lambda: f.conv2d(
                lib.zeros(1, 3, 5, 5), lib.zeros(4, 3, 3, 3), stride=2, padding="same"
            ),
            lambda: f.max_pool2d(lib.zeros(1, 1, 5, 5), 2, padding=2),
        ):
            try:
                action()
                out.append(None)
            except Exception as exc:  # noqa: BLE001
                out.append(type(exc).__name__)
        return out

    assert errors(ember) == errors(torch)
    with pytest.raises(RuntimeError, match="to have 3 channels, but got 2 channels"):
        F.conv2d(ember.zeros(1, 2, 5, 5), ember.zeros(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(ember.zeros(1, 3, 2, 2), ember.zeros(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(ember.zeros(1, 1, 5, 5), 2, padding=2)


def test_module_constructor_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        ember.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        ember.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided convolutions"):
        ember.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        ember.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        ember.nn.GroupNorm(3, 4)


def _f64(*shapes):
    g = np.random.default_rng(3)
    return [ember.tensor(g.standard_normal(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (
            lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
            [(1, 2, 5, 5), (3, 2, 3, 3), (3,)],
        ),
        (lambda x, w: F.conv2d(x, w, groups=2, dilation=2), [(1, 4, 6, 5), (2, 2, 2, 2)]),
        (lambda x, w: F.conv1d(x, w, padding="same"), [(2, 2, 5), (3, 2, 4)]),
        (
            lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1),
            [(1, 2, 3, 3), (2, 2, 3, 3)],
        ),
        (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 6, 6)]),
        (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(1, 2, 6, 6)]),
        (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 5)]),
        (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 5)]),
        (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), [(1, 1, 3, 3)]),
    ],
)
def test_conv_and_pool_gradcheck(fn, shapes):
    inputs = _f64(*shapes)
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)

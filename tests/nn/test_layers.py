"""Every layer against torch: same weights, same input -> same output and gradients."""

import numpy as np
import pytest

import ember
from tests.nn.helpers import assert_close, build_pair, run_both

# (class name, args, kwargs, input shapes)
LAYERS = [
    ("Identity", (3,), {"unused": 1}, [(2, 3)]),
    ("Linear", (5, 3), {}, [(4, 5)]),
    ("Linear", (5, 3), {"bias": False}, [(2, 3, 5)]),
    ("Linear", (4, 2), {}, [(4,)]),
    ("Bilinear", (3, 4, 2), {}, [(5, 3), (5, 4)]),
    ("Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}, [(2, 3, 9)]),
    ("Conv1d", (2, 4, 2), {"groups": 2, "dilation": 3, "padding": "same"}, [(2, 2, 7)]),
    ("Conv2d", (3, 4, 3), {}, [(2, 3, 7, 6)]),
    ("Conv2d", (3, 4, 3), {}, [(3, 7, 6)]),
    (
        "Conv2d",
        (4, 6, (3, 2)),
        {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2},
        [(2, 4, 8, 7)],
    ),
    ("Conv2d", (3, 2, 4), {"padding": "same", "padding_mode": "reflect"}, [(1, 3, 6, 6)]),
    ("Conv2d", (2, 2, 3), {"padding": 1, "padding_mode": "circular"}, [(2, 2, 5, 4)]),
    ("Conv2d", (2, 3, 3), {"padding": 2, "padding_mode": "replicate"}, [(1, 2, 4, 5)]),
    ("Conv2d", (3, 3, 3), {"groups": 3, "bias": False}, [(2, 3, 5, 5)]),
    ("Conv2d", (4, 5, 1), {}, [(2, 4, 3, 3)]),
    ("Conv3d", (2, 3, 2), {"stride": 2, "padding": 1}, [(1, 2, 4, 5, 3)]),
    ("ConvTranspose1d", (3, 2, 3), {"stride": 2, "output_padding": 1}, [(2, 3, 5)]),
    (
        "ConvTranspose2d",
        (4, 6, 3),
        {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
        [(2, 4, 4, 5)],
    ),
    ("ConvTranspose2d", (2, 3, (2, 3)), {"dilation": 2, "bias": False}, [(1, 2, 3, 3)]),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, [(2, 3, 9)]),
    ("MaxPool2d", (2,), {}, [(2, 3, 6, 6)]),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, [(2, 3, 8, 7)]),
    ("MaxPool2d", ((2, 3),), {"stride": 1, "dilation": 2}, [(1, 2, 6, 7)]),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, [(2, 3, 9)]),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, [(2, 3, 8, 7)]),
    ("AvgPool2d", (2,), {"divisor_override": 3}, [(1, 2, 5, 4)]),
    ("AdaptiveAvgPool1d", (4,), {}, [(2, 3, 9)]),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, [(2, 3, 7, 5)]),
    ("AdaptiveAvgPool2d", (1,), {}, [(2, 3, 4, 4)]),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, [(2, 3, 7, 5)]),
    ("AdaptiveMaxPool2d", (2,), {"return_indices": True}, [(2, 3, 4, 4)]),
    ("BatchNorm1d", (4,), {}, [(6, 4)]),
    ("BatchNorm1d", (4,), {"momentum": None}, [(5, 4, 3)]),
    ("BatchNorm2d", (3,), {}, [(4, 3, 5, 5)]),
    ("BatchNorm2d", (3,), {"affine": False, "track_running_stats": False}, [(4, 3, 2, 2)]),
    ("BatchNorm2d", (3,), {"bias": False}, [(2, 3, 2, 3)]),
    ("LayerNorm", ((4, 5),), {}, [(3, 4, 5)]),
    ("LayerNorm", (5,), {"bias": False}, [(2, 5)]),
    ("LayerNorm", (5,), {"elementwise_affine": False}, [(2, 5)]),
    ("GroupNorm", (2, 6), {}, [(3, 6, 4, 4)]),
    ("GroupNorm", (3, 3), {"affine": False}, [(2, 3, 5)]),
    ("InstanceNorm2d", (3,), {"affine": True}, [(2, 3, 5, 5)]),
    ("InstanceNorm1d", (3,), {"track_running_stats": True}, [(2, 3, 6)]),
    ("RMSNorm", (5,), {}, [(3, 5)]),
    ("RMSNorm", ((2, 5),), {"eps": 1e-5}, [(4, 2, 5)]),
    ("LocalResponseNorm", (3,), {}, [(2, 5, 4, 4)]),
    ("Upsample", (), {"scale_factor": 2}, [(2, 3, 4, 5)]),
    ("Upsample", (), {"size": (5, 7)}, [(1, 2, 3, 4)]),
    ("Upsample", (), {"scale_factor": 1.5, "mode": "nearest-exact"}, [(1, 2, 4, 4)]),
    ("Upsample", (), {"size": (7, 9), "mode": "bilinear"}, [(2, 3, 4, 5)]),
    ("Upsample", (), {"scale_factor": 1.7, "mode": "bilinear"}, [(1, 2, 3, 5)]),
    (
        "Upsample",
        (),
        {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True},
        [(1, 2, 4, 4)],
    ),
    ("Upsample", (), {"scale_factor": 2, "mode": "linear"}, [(2, 3, 5)]),
    ("Upsample", (), {"size": (3, 2), "mode": "area"}, [(1, 2, 7, 5)]),
    ("UpsamplingBilinear2d", (), {"scale_factor": 2}, [(1, 2, 3, 3)]),
    ("UpsamplingNearest2d", (), {"size": 5}, [(1, 2, 3, 3)]),
    ("PixelShuffle", (2,), {}, [(2, 8, 3, 3)]),
    ("PixelUnshuffle", (2,), {}, [(2, 2, 4, 6)]),
    ("Flatten", (), {}, [(2, 3, 4)]),
    ("Flatten", (0, 1), {}, [(2, 3, 4)]),
    ("Unflatten", (1, (2, 3)), {}, [(4, 6)]),
    ("ZeroPad2d", (1,), {}, [(1, 2, 3, 3)]),
    ("ConstantPad2d", ((1, 0, 2, 1), 0.5), {}, [(1, 2, 3, 3)]),
    ("ReflectionPad2d", ((1, 2, 0, 1),), {}, [(1, 2, 3, 4)]),
    ("ReplicationPad1d", (2,), {}, [(2, 3, 4)]),
    ("CircularPad1d", (1,), {}, [(2, 3, 4)]),
    ("CosineSimilarity", (), {}, [(4, 5), (4, 5)]),
    ("PairwiseDistance", (), {}, [(4, 5), (4, 5)]),
    ("PairwiseDistance", (1.0,), {"keepdim": True}, [(4, 5), (4, 5)]),
    ("ReLU", (), {}, [(3, 4)]),
    ("PReLU", (), {}, [(3, 4)]),
    ("PReLU", (3,), {"init": 0.1}, [(2, 3, 4)]),
    ("Tanh", (), {}, [(3, 4)]),
    ("Sigmoid", (), {}, [(3, 4)]),
    ("Softmax", (1,), {}, [(3, 4)]),
    ("LogSoftmax", (-1,), {}, [(2, 3, 4)]),
    ("Softmin", (0,), {}, [(3, 4)]),
    ("Softmax2d", (), {}, [(2, 3, 2, 2)]),
    ("Threshold", (0.1, 2.0), {}, [(3, 4)]),
    ("GLU", (), {}, [(3, 4)]),
    ("GLU", (0,), {}, [(4, 3)]),
    ("Softshrink", (), {}, [(3, 4)]),
    ("Hardshrink", (0.3,), {}, [(3, 4)]),
    ("Tanhshrink", (), {}, [(3, 4)]),
    ("RReLU", (), {}, [(3, 4)]),
]

# the elementwise activations whose functions live in ember.ops.activation_math
ACTIVATIONS = [
    ("LeakyReLU", (0.2,), {}),
    ("GELU", (), {}),
    ("GELU", ("tanh",), {}),
    ("SiLU", (), {}),
    ("ELU", (0.5,), {}),
    ("SELU", (), {}),
    ("CELU", (1.5,), {}),
    ("Softplus", (2.0, 5.0), {}),
    ("Hardtanh", (-0.5, 0.5), {}),
    ("Mish", (), {}),
    ("ReLU6", (), {}),
    ("Softsign", (), {}),
    ("Hardsigmoid", (), {}),
    ("Hardswish", (), {}),
    ("LogSigmoid", (), {}),
]


def _ids(cases):
    return [f"{c[0]}{c[1]}{c[2] or ''}{c[3] if len(c) > 3 else ''}" for c in cases]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, args, kwargs, shapes", LAYERS, ids=_ids(LAYERS))
def test_layer_matches_torch(torch, name, args, kwargs, shapes, dtype):
    if name == "Identity":
        kwargs = {}
    emod, tmod = build_pair(torch, name, args, kwargs, dtype)
    if name == "RReLU":  # random in training; compare the deterministic eval mode
        emod.eval()
        tmod.eval()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    run_both(torch, emod, tmod, arrays, dtype, rng)
    for key, value in tmod.state_dict().items():  # running statistics moved alike
        assert_close(emod.state_dict()[key], value, dtype, f"buffer {key} after forward")
    if any(key.startswith("running") for key in tmod.state_dict()):
        emod.eval()
        tmod.eval()
        run_both(torch, emod, tmod, [rng.standard_normal(s) for s in shapes], dtype, rng)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, args, kwargs", ACTIVATIONS, ids=_ids(ACTIVATIONS))
def test_activation_module_matches_torch(torch, name, args, kwargs, dtype):
    emod, tmod = build_pair(torch, name, args, kwargs, dtype)
    rng = np.random.default_rng(1)
    run_both(torch, emod, tmod, [rng.standard_normal((3, 5)) * 3], dtype, rng)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_matches_torch(torch, dtype):
    emod, tmod = build_pair(torch, "Embedding", (7, 3), {"padding_idx": 2}, dtype)
    assert not emod.weight.numpy(force=True)[2].any(), "padding row starts at zero"
    with ember.no_grad():
        emod.weight[2] = 1.5  # a non-zero padding row still gets no gradient
    tmod.load_state_dict({"weight": torch.tensor(emod.weight.numpy(force=True))})
    idx = np.array([[0, 2, 5], [2, 2, 6]])
    rng = np.random.default_rng(2)
    run_both(torch, emod, tmod, [idx], dtype, rng, ints=(0,))
    assert not emod.weight.grad.numpy()[2].any()


@pytest.mark.parametrize(
    "kwargs",
    [{"scale_grad_by_freq": True}, {"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": 1.0}],
)
def test_embedding_options_match_torch(torch, kwargs):
    emod, tmod = build_pair(torch, "Embedding", (6, 4), kwargs, "float64")
    idx = np.array([1, 3, 3, 5, 1, 1])
    run_both(torch, emod, tmod, [idx], "float64", np.random.default_rng(3), ints=(0,))
    assert_close(emod.weight, tmod.weight, "float64", "weight after max_norm renorm")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("two_d", [False, True])
def test_embedding_bag_matches_torch(torch, mode, two_d):
    kwargs = {"mode": mode, "padding_idx": 4 if mode != "max" else None}
    emod, tmod = build_pair(torch, "EmbeddingBag", (8, 3), kwargs, "float64")
    rng = np.random.default_rng(4)
    if two_d:
        inputs = [np.array([[1, 4, 6], [2, 2, 7]])]
    else:
        inputs = [np.array([1, 4, 6, 2, 2, 7, 0]), np.array([0, 3, 3, 5])]
    run_both(torch, emod, tmod, inputs, "float64", rng, ints=(0, 1))


def test_embedding_bag_per_sample_weights(torch):
    emod, tmod = build_pair(torch, "EmbeddingBag", (5, 2), {"mode": "sum"}, "float64")
    idx, offsets = np.array([0, 1, 3, 3]), np.array([0, 2])
    w = np.array([0.5, -1.0, 2.0, 0.25])
    e_w = ember.tensor(w, requires_grad=True)
    t_w = torch.tensor(w, requires_grad=True)
    e = emod(ember.tensor(idx), ember.tensor(offsets), per_sample_weights=e_w)
    t = tmod(torch.tensor(idx), torch.tensor(offsets), per_sample_weights=t_w)
    assert_close(e, t, "float64", "forward")
    e.sum().backward()
    t.sum().backward()
    assert_close(e_w.grad, t_w.grad, "float64", "per_sample_weights gradient")
    assert_close(emod.weight.grad, tmod.weight.grad, "float64", "weight gradient")


def test_embedding_from_pretrained(torch):
    weights = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = ember.nn.Embedding.from_pretrained(weights)
    assert not emb.weight.requires_grad
    assert emb(ember.tensor([1])).tolist() == [[3.0, 4.0]]
    trainable = ember.nn.Embedding.from_pretrained(weights, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad and trainable.padding_idx == 0
    assert trainable.weight.tolist()[0] == [1.0, 2.0], "from_pretrained keeps the padding row"
    with pytest.raises(AssertionError, match="2-dimensional"):
        ember.nn.Embedding.from_pretrained(ember.zeros(3))


def test_max_pool_indices_match_torch(torch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    for kwargs in (
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "dilation": 1},
    ):
        e_out, e_idx = ember.nn.functional.max_pool2d(
            ember.tensor(x), return_indices=True, **kwargs
        )
        t_out, t_idx = torch.nn.functional.max_pool2d(
            torch.tensor(x), return_indices=True, **kwargs
        )
        np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())
        assert e_idx.dtype == ember.int64
    e_out, e_idx = ember.nn.MaxPool1d(3, 2, return_indices=True)(ember.tensor(x[0]))
    t_out, t_idx = torch.nn.MaxPool1d(3, 2, return_indices=True)(torch.tensor(x[0]))
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())
    e_out, e_idx = ember.nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(ember.tensor(x))
    t_out, t_idx = torch.nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


def test_conv_transpose_output_size(torch):
    emod, tmod = build_pair(torch, "ConvTranspose2d", (2, 3, 3), {"stride": 2}, "float64")
    x = np.random.default_rng(6).standard_normal((1, 2, 4, 4))
    e = emod(ember.tensor(x), output_size=[10, 9])
    t = tmod(torch.tensor(x), output_size=[10, 9])
    assert e.shape == (1, 3, 10, 9)
    assert_close(e, t, "float64", "output_size forward")
    with pytest.raises(ValueError, match="output size"):
        emod(ember.tensor(x), output_size=[12, 12])


def test_dropout_train_and_eval(torch):
    x = ember.ones(2000, 10)
    drop = ember.nn.Dropout(0.3)
    y = drop(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7)
    drop.eval()
    assert drop(x) is x
    x2 = ember.ones(50, 40, 3, 3, requires_grad=True)
    y2 = ember.nn.Dropout2d(0.5)(x2)
    per_channel = y2.detach().numpy().reshape(50, 40, 9)
    assert (per_channel.min(-1) == per_channel.max(-1)).all(), "whole channels are dropped"
    y2.sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), y2.detach().numpy())
    y1 = ember.nn.Dropout1d(0.5)(ember.ones(20, 30, 4)).numpy()
    assert (y1.min(-1) == y1.max(-1)).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        ember.nn.Dropout(1.5)
    assert not ember.nn.functional.dropout(ember.ones(5), 1.0).numpy().any()


def test_dropout_uses_ember_generator():
    ember.manual_seed(3)
    a = ember.nn.functional.dropout(ember.ones(100))
    ember.manual_seed(3)
    b = ember.nn.functional.dropout(ember.ones(100))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_alpha_dropout_keeps_moments():
    x = ember.randn(200000)
    y = ember.nn.AlphaDropout(0.2)(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_inplace_activation(torch):
    x = ember.randn(3, 4, requires_grad=True)
    h = x * 2
    out = ember.nn.ReLU(inplace=True)(h)
    assert out is h
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * (x.detach().numpy() > 0))


def test_batchnorm_errors_and_num_batches(torch):
    bn = ember.nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(ember.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(ember.zeros(1, 3))
    bn(ember.randn(4, 3))
    bn(ember.randn(4, 3))
    assert bn.num_batches_tracked.item() == 2
    assert bn.num_batches_tracked.dtype == ember.int64


def test_max_pool_nan_and_ties_match_torch(torch):
    x = np.array(
        [
            [
                [
                    [1.0, np.nan, 2.0, 2.0],
                    [0.5, 3.0, 2.0, 2.0],
                    [np.nan, np.nan, 1.0, 1.0],
                    [0.0, 0.0, 1.0, 1.0],
                ]
            ]
        ]
    )
    e_out, e_idx = ember.nn.functional.max_pool2d(ember.tensor(x), 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


def test_embedding_bag_include_last_offset(torch):
    emod, tmod = build_pair(
        torch, "EmbeddingBag", (6, 2), {"mode": "sum", "include_last_offset": True}, "float64"
    )
    inputs = [np.array([1, 2, 4, 5, 3]), np.array([0, 2, 2, 5])]
    run_both(torch, emod, tmod, inputs, "float64", np.random.default_rng(0), ints=(0, 1))

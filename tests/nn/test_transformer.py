"""Transformer layers and stacks against torch: same weights, same inputs -> same everything."""

import warnings

import numpy as np
import pytest

import ember
from ember.nn import functional as F
from ember.nn.modules import transformer as T

TOL = {"float32": dict(rtol=1e-4, atol=2e-5), "float64": dict(rtol=1e-7, atol=1e-9)}


def close(actual, expected, dtype, what):
    a, e = actual.detach().numpy(), expected.detach().numpy()
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    np.testing.assert_allclose(a, e, err_msg=what, **TOL[dtype])


def pair(torch, name, args, kwargs, dtype="float32"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor's notice, from both
        emod = getattr(T, name)(*args, **kwargs).to(getattr(ember, dtype))
        tkwargs = {k: _torch_activation(torch, v) for k, v in kwargs.items()}
        tmod = getattr(torch.nn, name)(*args, **tkwargs).to(getattr(torch, dtype))
    state = {k: torch.tensor(np.array(v.numpy())) for k, v in emod.state_dict().items()}
    tmod.load_state_dict(state)
    return emod, tmod


def _torch_activation(torch, value):
    if value is F.gelu:
        return torch.nn.functional.gelu
    if callable(value) and getattr(value, "__name__", "") == "softsign":
        return torch.nn.functional.softsign
    return value


def leaf(lib, a, dtype):
    if a is None:
        return None
    if a.dtype == bool:
        return lib.tensor(a)
    return lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True)


def compare(torch, emod, tmod, arrays, names, dtype, rng, **fixed):
    """Call both modules with keyword inputs built from `arrays`; compare the output and the
    gradients of the float inputs and every parameter."""
    outs, leaves = [], []
    for lib, mod in ((ember, emod), (torch, tmod)):
        tensors = [leaf(lib, a, dtype) for a in arrays]
        leaves.append(tensors)
        outs.append(mod(**dict(zip(names, tensors)), **fixed))
    close(outs[0], outs[1], dtype, "output")
    cotangent = rng.standard_normal(tuple(outs[1].shape))
    (outs[0] * ember.tensor(cotangent, dtype=outs[0].dtype)).sum().backward()
    (outs[1] * torch.tensor(cotangent, dtype=outs[1].dtype)).sum().backward()
    for name, e, t in zip(names, *leaves):
        if t is not None and t.requires_grad and t.grad is not None:
            close(e.grad, t.grad, dtype, f"{name} gradient")
    t_params = dict(tmod.named_parameters())
    for name, p in emod.named_parameters():
        close(p.grad, t_params[name].grad, dtype, f"{name} gradient")


def _padding(n, s, batch_first_rows=True):
    pad = np.zeros((n, s), bool)
    pad[0, -1] = pad[1, -3:] = True
    return pad


ENCODER_LAYER_CASES = [
    ({}, {}),
    ({"batch_first": True, "norm_first": True}, {"mask": "causal"}),
    ({"activation": "gelu", "bias": False}, {"kpm": True}),
    ({"activation": F.gelu, "batch_first": True}, {"mask": "bool", "kpm": True}),
    ({"activation": F.softsign, "layer_norm_eps": 1e-3}, {"mask": "causal", "is_causal": True}),
]


def _masks(rng, spec, n, s):
    mask = kpm = None
    if spec.get("mask") == "causal":
        mask = np.triu(np.full((s, s), -np.inf), 1)
    elif spec.get("mask") == "bool":
        mask = rng.random((s, s)) > 0.7
        np.fill_diagonal(mask, False)
    if spec.get("kpm"):
        kpm = _padding(n, s)
    return mask, kpm


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs, spec", ENCODER_LAYER_CASES)
def test_encoder_layer_matches_torch(torch, kwargs, spec, dtype):
    rng = np.random.default_rng(0)
    emod, tmod = pair(torch, "TransformerEncoderLayer", (8, 2, 16, 0.0), kwargs, dtype)
    n, s = 3, 5
    batch_first = kwargs.get("batch_first", False)
    src = rng.standard_normal((n, s, 8) if batch_first else (s, n, 8))
    mask, kpm = _masks(rng, spec, n, s)
    fixed = {"is_causal": True} if spec.get("is_causal") else {}
    compare(
        torch,
        emod,
        tmod,
        [src, mask, kpm],
        ["src", "src_mask", "src_key_padding_mask"],
        dtype,
        rng,
        **fixed,
    )


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kwargs, spec",
    [
        ({}, {"mask": "causal"}),
        ({"batch_first": True}, {"kpm": True}),
        ({"norm_first": True, "batch_first": True}, {"mask": "causal", "kpm": True}),
    ],
)
def test_encoder_stack_matches_torch(torch, kwargs, spec, dtype):
    rng = np.random.default_rng(1)
    layer_e, layer_t = pair(torch, "TransformerEncoderLayer", (8, 2, 16, 0.0), kwargs, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emod = T.TransformerEncoder(
            layer_e, 2, norm=ember.nn.LayerNorm(8).to(getattr(ember, dtype))
        )
        tmod = torch.nn.TransformerEncoder(
            layer_t, 2, norm=torch.nn.LayerNorm(8).to(getattr(torch, dtype))
        )
    state = {k: torch.tensor(np.array(v.numpy())) for k, v in emod.state_dict().items()}
    tmod.load_state_dict(state)
    assert list(emod.state_dict()) == list(tmod.state_dict())
    n, s = 3, 5
    src = rng.standard_normal((n, s, 8) if kwargs.get("batch_first") else (s, n, 8))
    mask, kpm = _masks(rng, spec, n, s)
    compare(
        torch, emod, tmod, [src, mask, kpm], ["src", "mask", "src_key_padding_mask"], dtype, rng
    )


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_encoder_inference_zeroes_padding_like_torch_nested_tensors(torch):
    """eval + no_grad + batch_first + left-aligned padding: torch runs nested tensors and
    returns zeros at padded positions (before the final norm); ember gives the same."""
    rng = np.random.default_rng(2)
    layer_e, layer_t = pair(torch, "TransformerEncoderLayer", (8, 2, 16), {"batch_first": True})
    emod = T.TransformerEncoder(layer_e, 2)
    tmod = torch.nn.TransformerEncoder(layer_t, 2)
    tmod.load_state_dict({k: torch.tensor(v.numpy()) for k, v in emod.state_dict().items()})
    emod.eval(), tmod.eval()
    src = rng.standard_normal((3, 5, 8)).astype(np.float32)
    pad = _padding(3, 5)
    with ember.no_grad():
        out = emod(ember.tensor(src), src_key_padding_mask=ember.tensor(pad))
    with torch.no_grad():
        expected = tmod(torch.tensor(src), src_key_padding_mask=torch.tensor(pad))
    close(out, expected, "float32", "output")
    assert not out.numpy()[1, -3:].any()
    # with gradients on, torch keeps the padded rows (no nested tensors): so does ember
    out = emod(ember.tensor(src), src_key_padding_mask=ember.tensor(pad))
    expected = tmod(torch.tensor(src), src_key_padding_mask=torch.tensor(pad))
    close(out, expected, "float32", "output with grad")
    assert out.detach().numpy()[1, -3:].any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"norm_first": True, "batch_first": True}, {"bias": False}])
def test_decoder_layer_matches_torch(torch, kwargs, dtype):
    rng = np.random.default_rng(3)
    emod, tmod = pair(torch, "TransformerDecoderLayer", (8, 2, 16, 0.0), kwargs, dtype)
    n, s, m = 3, 4, 6
    batch_first = kwargs.get("batch_first", False)
    tgt = rng.standard_normal((n, s, 8) if batch_first else (s, n, 8))
    memory = rng.standard_normal((n, m, 8) if batch_first else (m, n, 8))
    tgt_mask = np.triu(np.full((s, s), -np.inf), 1)
    memory_pad = _padding(n, m)
    compare(
        torch,
        emod,
        tmod,
        [tgt, memory, tgt_mask, memory_pad],
        ["tgt", "memory", "tgt_mask", "memory_key_padding_mask"],
        dtype,
        rng,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_transformer_matches_torch(torch, dtype):
    rng = np.random.default_rng(4)
    kwargs = dict(
        d_model=8,
        nhead=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=16,
        dropout=0.0,
        batch_first=True,
    )
    emod, tmod = pair(torch, "Transformer", (), kwargs, dtype)
    src, tgt = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 4, 8))
    tgt_mask = T.Transformer.generate_square_subsequent_mask(4).numpy()
    compare(
        torch,
        emod,
        tmod,
        [src, tgt, tgt_mask, _padding(2, 5)],
        ["src", "tgt", "tgt_mask", "src_key_padding_mask"],
        dtype,
        rng,
    )


def test_parameters_state_dict_repr_match_torch(torch):
    cases = [
        ("TransformerEncoderLayer", (8, 2), {"dim_feedforward": 16, "bias": False}),
        ("TransformerDecoderLayer", (8, 2), {"dim_feedforward": 16}),
        (
            "Transformer",
            (),
            dict(
                d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=16
            ),
        ),
    ]
    for name, args, kwargs in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            emod = getattr(T, name)(*args, **kwargs)
            tmod = getattr(torch.nn, name)(*args, **kwargs)
        assert [(n, tuple(p.shape)) for n, p in emod.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in tmod.named_parameters()
        ]
        assert list(emod.state_dict()) == list(tmod.state_dict())
        assert repr(emod) == repr(tmod)


def test_transformer_init_is_xavier_for_matrices():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = T.Transformer(
            d_model=64, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=128
        )
    w = mod.encoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6 / (64 + 128))
    assert np.abs(w).max() <= bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.05)
    assert not mod.encoder.layers[0].self_attn.in_proj_bias.detach().numpy().any()


def test_generate_square_subsequent_mask_and_causal_detection(torch):
    mask = T.Transformer.generate_square_subsequent_mask(4)
    expected = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(mask.numpy(), expected.numpy())
    assert mask.dtype == ember.float32
    assert (
        T.Transformer.generate_square_subsequent_mask(3, dtype=ember.float64).dtype == ember.float64
    )
    assert T._detect_is_causal_mask(mask) is True
    assert T._detect_is_causal_mask(mask, size=5) is False
    assert T._detect_is_causal_mask(ember.zeros(4, 4)) is False
    assert T._detect_is_causal_mask(None, is_causal=True) is True


def test_activation_flags_and_errors(torch):
    flags = {"relu": 1, "gelu": 2}
    for act, flag in flags.items():
        assert T.TransformerEncoderLayer(8, 2, activation=act).activation_relu_or_gelu == flag
    assert T.TransformerEncoderLayer(8, 2, activation=ember.nn.ReLU()).activation_relu_or_gelu == 1
    assert T.TransformerEncoderLayer(8, 2, activation=F.softsign).activation_relu_or_gelu == 0
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        T.TransformerEncoderLayer(8, 2, activation="tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor's notice
        model = T.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1)
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal"):
        model(ember.zeros(3, 2, 8), ember.zeros(3, 2, 4))


def test_nested_tensor_warning_matches_torch(torch):
    layers = [(T.TransformerEncoderLayer(8, 2), torch.nn.TransformerEncoderLayer(8, 2))]
    layers.append(
        (
            T.TransformerEncoderLayer(8, 2, batch_first=True, norm_first=True),
            torch.nn.TransformerEncoderLayer(8, 2, batch_first=True, norm_first=True),
        )
    )
    for e_layer, t_layer in layers:
        with pytest.warns(UserWarning) as expected:
            torch.nn.TransformerEncoder(t_layer, 1)
        with pytest.warns(UserWarning) as got:
            T.TransformerEncoder(e_layer, 1)
        assert str(got[0].message) == str(expected[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.TransformerEncoder(T.TransformerEncoderLayer(8, 2, batch_first=True), 1)
        T.TransformerEncoder(T.TransformerEncoderLayer(8, 2), 1, enable_nested_tensor=False)


def test_dropout_is_active_in_training_only():
    layer = T.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = ember.randn(4, 2, 8)
    layer.eval()
    a, b = layer(x), layer(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    layer.train()
    assert not np.allclose(layer(x).detach().numpy(), a.detach().numpy())


def test_unbatched_encoder_layer_matches_torch(torch):
    rng = np.random.default_rng(5)
    emod, tmod = pair(torch, "TransformerEncoderLayer", (8, 2, 16, 0.0), {}, "float64")
    src = rng.standard_normal((5, 8))
    compare(torch, emod, tmod, [src], ["src"], "float64", rng)

"""scaled_dot_product_attention and MultiheadAttention against torch."""

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.functional_attention import (
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from ember.nn.modules.attention import MultiheadAttention

TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-7, atol=1e-9)}


def close(actual, expected, dtype, what):
    a, e = actual.detach().numpy(), expected.detach().numpy()
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    np.testing.assert_allclose(a, e, err_msg=what, **TOL[dtype])


def as_lib(lib, a, dtype):
    if a is None:
        return None
    if a.dtype == bool:
        return lib.tensor(a)
    return lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True)


def run_both(torch, fn_ember, fn_torch, arrays, dtype, rng):
    """Call both with the same arrays (floats become leaves requiring grad), backward a random
    cotangent on every float output, compare outputs and the leaves' gradients."""
    results = []
    for lib, fn in ((ember, fn_ember), (torch, fn_torch)):
        leaves = [as_lib(lib, a, dtype) for a in arrays]
        out = fn(*leaves)
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
        results.append((leaves, outs))
    (e_leaves, e_outs), (t_leaves, t_outs) = results
    assert len(e_outs) == len(t_outs)
    for k, (e, t) in enumerate(zip(e_outs, t_outs)):
        close(e, t, dtype, f"output {k}")
    cotangents = [rng.standard_normal(tuple(t.shape)) for t in t_outs]
    sum((e * ember.tensor(c, dtype=e.dtype)).sum() for e, c in zip(e_outs, cotangents)).backward()
    sum((t * torch.tensor(c, dtype=t.dtype)).sum() for t, c in zip(t_outs, cotangents)).backward()
    for k, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        if t is None or not t.requires_grad:
            continue
        if t.grad is None:  # unused by torch (a mask replaced by is_causal): unused here too
            assert e.grad is None or not e.grad.numpy().any(), f"input {k} has a gradient"
        else:
            close(e.grad, t.grad, dtype, f"input {k} gradient")
    return e_outs, t_outs


# --- scaled_dot_product_attention ---
def _mask(rng, shape, kind, dead_row=False):
    if kind is None:
        return None
    keep = rng.random(shape) > 0.35
    keep[..., 0] = True  # at least one key per row, unless a dead row is asked for
    if dead_row:
        keep[..., 1, :] = False
    if kind == "bool":
        return keep
    return np.where(keep, rng.standard_normal(shape) * 0.1, -np.inf)


SDPA_CASES = [
    dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 7)),
    dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 7), is_causal=True),
    dict(q=(5, 4), k=(5, 4), v=(5, 3), is_causal=True),
    dict(q=(2, 4, 5), k=(2, 6, 5), v=(2, 6, 5), mask=("bool", (4, 6))),
    dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 7), mask=("float", (2, 1, 4, 6))),
    dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 7), mask=("bool", (4, 6)), dead=True),
    dict(q=(1, 2, 4, 5), k=(1, 2, 6, 5), v=(1, 2, 6, 7), mask=("float", (4, 6)), dead=True),
    dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 7), scale=0.3),
    dict(q=(2, 4, 3, 5), k=(2, 2, 6, 5), v=(2, 2, 6, 7), enable_gqa=True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SDPA_CASES)
def test_sdpa_matches_torch(torch, case, dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(case[n]) for n in ("q", "k", "v")]
    kind, shape = case.get("mask", (None, None))
    arrays.append(_mask(rng, shape, kind, case.get("dead", False)))
    kw = {k: case[k] for k in ("is_causal", "scale", "enable_gqa") if k in case}

    def call(lib_fn):
        return lambda q, k, v, m: lib_fn(q, k, v, attn_mask=m, **kw)

    torch_fn = torch.nn.functional.scaled_dot_product_attention
    e_outs, _ = run_both(
        torch, call(scaled_dot_product_attention), call(torch_fn), arrays, dtype, rng
    )
    assert e_outs[0].dtype == getattr(ember, dtype)
    if case.get("dead"):  # a row with no allowed key: zeros, as torch
        assert not np.isnan(e_outs[0].detach().numpy()).any()


def test_sdpa_errors_and_dropout(torch):
    q = ember.randn(2, 4, 5)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set"):
        scaled_dot_product_attention(
            q, q, q, attn_mask=ember.ones(4, 4, dtype=ember.bool), is_causal=True
        )
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float"):
        scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(4, 4, dtype=ember.int64))
    ember.manual_seed(0)
    v = ember.ones(2, 4, 5)
    out = scaled_dot_product_attention(q, q, v, dropout_p=0.5)
    values = np.unique(np.round(out.numpy(), 5))
    assert values.min() >= 0 and len(values) > 2  # weights dropped and rescaled by 2
    assert abs(out.numpy().mean() - 1.0) < 0.35
    assert scaled_dot_product_attention(q, q, v, dropout_p=0.0).numpy() == pytest.approx(1.0)


def test_sdpa_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(1)
    q, k, v = (
        ember.tensor(rng.standard_normal(s), requires_grad=True)
        for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3))
    )
    mask = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda *a: scaled_dot_product_attention(*a), [q, k, v, mask])
    assert gradgradcheck(lambda *a: scaled_dot_product_attention(*a), [q, k, v, mask])
    causal = lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    assert gradgradcheck(causal, [q, k, v])


# --- MultiheadAttention ---
def pair(torch, kwargs, dtype):
    emod = MultiheadAttention(**kwargs).to(getattr(ember, dtype))
    tmod = torch.nn.MultiheadAttention(**kwargs).to(getattr(torch, dtype))
    state = {k: torch.tensor(np.array(v.numpy())) for k, v in emod.state_dict().items()}
    tmod.load_state_dict(state)
    return emod, tmod


MHA_CASES = [
    # (constructor kwargs, which inputs (self / kv / cross), forward kwargs, mask specs)
    (dict(embed_dim=8, num_heads=2), "self", {}, {}),
    (dict(embed_dim=8, num_heads=2), "self", {"need_weights": False}, {}),
    (dict(embed_dim=8, num_heads=4, batch_first=True), "cross", {}, {"kpm": "bool"}),
    (dict(embed_dim=8, num_heads=2), "kv", {"average_attn_weights": False}, {"attn": "bool2"}),
    (
        dict(embed_dim=8, num_heads=2, bias=False),
        "self",
        {"need_weights": False},
        {"attn": "float3", "kpm": "float"},
    ),
    (dict(embed_dim=8, num_heads=2, kdim=3, vdim=5), "cross", {}, {"kpm": "bool"}),
    (
        dict(embed_dim=8, num_heads=2, add_bias_kv=True, add_zero_attn=True),
        "self",
        {},
        {"attn": "bool2", "kpm": "bool"},
    ),
    (
        dict(embed_dim=6, num_heads=3, batch_first=True),
        "self",
        {"need_weights": False, "is_causal": True},
        {"attn": "causal"},
    ),
    (
        dict(embed_dim=6, num_heads=3),
        "self",
        {"is_causal": True},
        {"attn": "causal", "kpm": "bool"},
    ),
    (dict(embed_dim=8, num_heads=2), "unbatched", {}, {"kpm": "bool"}),
    (dict(embed_dim=8, num_heads=2), "unbatched", {"need_weights": False}, {"attn": "float3"}),
]


def _mha_arrays(rng, kwargs, which, masks):
    e, heads = kwargs["embed_dim"], kwargs["num_heads"]
    kdim, vdim = kwargs.get("kdim", e), kwargs.get("vdim", e)
    n, length, source = 3, 4, 4 if which in ("self", "unbatched") else 5
    batch_first = kwargs.get("batch_first", False)

    def seq(s, d):
        if which == "unbatched":
            return rng.standard_normal((s, d))
        return rng.standard_normal((n, s, d) if batch_first else (s, n, d))

    query = seq(length, e)
    key = query if which in ("self", "unbatched") else seq(source, kdim)
    value = key if which in ("self", "kv", "unbatched") else seq(source, vdim)
    kpm = attn = None
    extra = 1 if kwargs.get("add_bias_kv") else 0
    if masks.get("kpm"):
        pad = np.zeros((n, source), bool)
        pad[0, -1] = pad[2, -2:] = True
        if which == "unbatched":
            pad = pad[0]
        kpm = pad if masks["kpm"] == "bool" else np.where(pad, -np.inf, 0.0)
    spec = masks.get("attn")
    if spec == "bool2":
        attn = rng.random((length, source)) > 0.7
        attn[:, 0] = False
    elif spec == "float3":
        batch = 1 if which == "unbatched" else n
        attn = rng.standard_normal((batch * heads, length, source))
    elif spec == "causal":
        attn = np.triu(np.full((length, source), -np.inf), 1)
    del extra
    return query, key, value, kpm, attn


@pytest.mark.filterwarnings("ignore:Support for mismatched")  # as torch, for the mixed masks
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs, which, fwd, masks", MHA_CASES)
def test_multihead_attention_matches_torch(torch, kwargs, which, fwd, masks, dtype):
    rng = np.random.default_rng(2)
    emod, tmod = pair(torch, kwargs, dtype)
    query, key, value, kpm, attn = _mha_arrays(rng, kwargs, which, masks)
    # self-attention passes one tensor three times, as PyTorch's packed path expects
    distinct = [query] + ([key] if key is not query else []) + ([value] if value is not key else [])

    def call(mod):
        def fn(*tensors):
            q = tensors[0]
            k = tensors[1] if key is not query else q
            v = tensors[len(distinct) - 1] if value is not key else k
            m_kpm, m_attn = tensors[len(distinct)], tensors[len(distinct) + 1]
            return mod(q, k, v, key_padding_mask=m_kpm, attn_mask=m_attn, **fwd)

        return fn

    arrays = distinct + [kpm, attn]
    e_outs, t_outs = run_both(torch, call(emod), call(tmod), arrays, dtype, rng)
    assert len(e_outs) == (1 if fwd.get("need_weights") is False else 2)
    t_params = dict(tmod.named_parameters())
    for name, p in emod.named_parameters():
        close(p.grad, t_params[name].grad, dtype, f"{name} gradient")


def test_eval_mode_matches_torch_fast_path(torch):
    """In eval mode without grad torch takes its native fast path; the numbers agree."""
    rng = np.random.default_rng(3)
    emod, tmod = pair(
        torch, dict(embed_dim=8, num_heads=2, batch_first=True, dropout=0.3), "float32"
    )
    emod.eval(), tmod.eval()
    x = rng.standard_normal((3, 5, 8))
    pad = np.zeros((3, 5), bool)
    pad[1, 3:] = True
    with ember.no_grad():
        out, w = emod(
            *(ember.tensor(x, dtype=ember.float32),) * 3, key_padding_mask=ember.tensor(pad)
        )
    with torch.no_grad():
        xt = torch.tensor(x, dtype=torch.float32)
        expected, tw = tmod(xt, xt, xt, key_padding_mask=torch.tensor(pad))
    close(out, expected, "float32", "output")
    close(w, tw, "float32", "weights")


def test_fully_masked_row_gives_nan_weights_like_torch(torch):
    rng = np.random.default_rng(4)
    emod, tmod = pair(torch, dict(embed_dim=4, num_heads=1), "float64")
    x = rng.standard_normal((3, 2, 4))
    attn = np.zeros((3, 3), bool)
    attn[1] = True
    e_out, e_w = emod(*(ember.tensor(x),) * 3, attn_mask=ember.tensor(attn))
    t_out, t_w = tmod(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(attn))
    np.testing.assert_array_equal(np.isnan(e_w.detach().numpy()), np.isnan(t_w.detach().numpy()))
    assert np.isnan(e_out.detach().numpy()[1]).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(embed_dim=8, num_heads=2),
        dict(embed_dim=8, num_heads=2, kdim=3, vdim=5, bias=False),
        dict(embed_dim=6, num_heads=3, add_bias_kv=True),
    ],
)
def test_parameters_state_dict_repr_and_init_match_torch(torch, kwargs):
    emod, tmod = MultiheadAttention(**kwargs), torch.nn.MultiheadAttention(**kwargs)
    assert [(n, tuple(p.shape)) for n, p in emod.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tmod.named_parameters()
    ]
    assert list(emod.state_dict()) == list(tmod.state_dict())
    assert repr(emod) == repr(tmod)
    assert type(emod.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    e = kwargs["embed_dim"]
    if emod.in_proj_weight is not None:
        bound = math.sqrt(6 / (e + 3 * e))  # xavier_uniform_ on (3E, E)
        w = emod.in_proj_weight.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    if emod.in_proj_bias is not None:
        assert not emod.in_proj_bias.detach().numpy().any()
        assert not emod.out_proj.bias.detach().numpy().any()
    out_w = emod.out_proj.weight.detach().numpy()
    assert np.abs(out_w).max() <= 1 / math.sqrt(e)  # Linear's default
    if emod.bias_k is not None:
        assert emod.bias_k.shape == (1, 1, e) and emod.bias_k.detach().numpy().std() > 0


def test_init_statistics():
    mod = MultiheadAttention(256, 8)
    w = mod.in_proj_weight.detach().numpy()
    bound = math.sqrt(6 / (256 + 768))
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.03)
    assert abs(w.mean()) < 0.02 * bound
    assert w.dtype == np.float32


def test_mha_gradcheck_and_gradgradcheck():
    mod = MultiheadAttention(4, 2).double()
    names = [n for n, _ in mod.named_parameters()]
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    pad = ember.tensor(np.array([[False, False, True], [False, False, False]]))

    def fn(x, *params):
        w, b, ow, ob = params
        out, _ = multi_head_attention_forward(
            x,
            x,
            x,
            4,
            2,
            w,
            b,
            None,
            None,
            False,
            0.0,
            ow,
            ob,
            key_padding_mask=pad,
            need_weights=False,
        )
        return out

    params = [p.detach().clone().requires_grad_(True) for p in mod.parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert gradcheck(fn, [x, *params])
    assert gradgradcheck(fn, [x, *params])


def test_errors_match_torch(torch):
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        MultiheadAttention(0, 1)
    cases = [
        lambda lib: dict(query=lib.zeros(3, 2, 8), key=lib.zeros(3, 8), value=lib.zeros(3, 8)),
        lambda lib: dict(
            query=lib.zeros(3, 2, 8),
            key=lib.zeros(3, 2, 8),
            value=lib.zeros(3, 2, 8),
            attn_mask=lib.zeros(2, 3),
        ),
        lambda lib: dict(
            query=lib.zeros(3, 2, 8),
            key=lib.zeros(3, 2, 8),
            value=lib.zeros(3, 2, 8),
            is_causal=True,
        ),
        lambda lib: dict(
            query=lib.zeros(3, 2, 8),
            key=lib.zeros(3, 2, 8),
            value=lib.zeros(3, 2, 8),
            key_padding_mask=lib.zeros(2, 3, dtype=lib.int64),
        ),
        lambda lib: dict(
            query=lib.zeros(3, 2, 8),
            key=lib.zeros(3, 2, 8),
            value=lib.zeros(3, 2, 8),
            key_padding_mask=lib.zeros(2, 4, dtype=lib.bool),
        ),
    ]
    for make in cases:
        with pytest.raises(Exception) as expected:
            torch.nn.MultiheadAttention(8, 2)(**make(torch))
        with pytest.raises(type(expected.value)) as got:
            MultiheadAttention(8, 2)(**make(ember))
        assert str(got.value).replace("ember.Size", "torch.Size") == str(expected.value)


def test_mismatched_mask_types_warn_like_torch(torch):
    x = ember.zeros(3, 2, 8)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask"):
        MultiheadAttention(8, 2)(
            x,
            x,
            x,
            key_padding_mask=ember.zeros(2, 3, dtype=ember.bool),
            attn_mask=ember.zeros(3, 3),
        )

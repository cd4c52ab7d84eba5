"""Attention functions of torch.nn.functional: scaled_dot_product_attention and
multi_head_attention_forward (what nn.MultiheadAttention calls), with PyTorch's masks.

Composites of ember ops: batched products, softmax and dropout, so every gradient (and
gradient of a gradient) comes from those ops.
"""

from __future__ import annotations

import math
import warnings

from ember._dtype import bool as BOOL
from ember._dtype import float32 as FLOAT32
from ember._tensor import Tensor
from ember.nn.functional.linear import linear
from ember.ops._table import S, register
from ember.ops.activation import softmax
from ember.ops.creation import ones, zeros
from ember.ops.join import cat
from ember.ops.nn_extra import dropout, pad

_NEG_INF = float("-inf")


def _size(shape):
    """A shape as PyTorch prints one in messages ('torch.Size([2, 3])'), in ember's name."""
    return f"ember.Size({list(shape)})"


def _is_float(t):
    return t.dtype.is_floating_point


def _masked_rows_to_zero(scores):
    """softmax over the last dim, where a row with no allowed position gives zeros (not NaN),
    as PyTorch's scaled_dot_product_attention does; no gradient flows through such rows."""
    dead = (scores == _NEG_INF).all(-1, keepdim=True)
    if not bool(dead.any()):
        return softmax(scores, -1)
    return softmax(scores.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p=0.0,
    is_causal=False,
    scale=None,
    enable_gqa=False,
):
    """Same as torch.nn.functional.scaled_dot_product_attention: softmax(q k^T * scale + mask) v.

    A bool attn_mask marks the positions that take part (True); a float one is added to the
    scores. With is_causal (and no attn_mask), query i attends to keys 0..i (top-left
    aligned). Rows with no allowed key give zeros, as PyTorch. dropout_p applies whatever the
    mode (it is a function, not a module).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"scaled_dot_product_attention(): argument '{name}' must be Tensor, not "
                f"{type(t).__name__}"
            )
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError(
            "scaled_dot_product_attention(): query, key and value must have at least 2 dims, "
            f"got {list(query.shape)}, {list(key.shape)} and {list(value.shape)}"
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if attn_mask is not None and attn_mask.dtype not in (query.dtype, BOOL, FLOAT32):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead."
        )
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    if enable_gqa and key.dim() >= 3:
        key, value = _repeat_kv_heads(query, key, value)
    length, source = query.shape[-2], key.shape[-2]
    # with no features every score is an empty sum, 0, whatever the scale (PyTorch: uniform)
    factor = 1.0 / math.sqrt(query.shape[-1] or 1) if scale is None else scale
    if factor >= 0:  # PyTorch's math path: q and k each scaled by sqrt(scale), and it saves
        root = math.sqrt(factor)  # those copies, so changing q or k in place stays legal
        scores = (query * root).matmul((key * root).transpose(-2, -1))
    else:
        scores = (query * factor).matmul(key.transpose(-2, -1))
    masked = False
    if is_causal:
        causal = ones(length, source, dtype=BOOL, device=query.device).tril()
        scores = scores.masked_fill(causal.logical_not(), _NEG_INF)
        masked = True
    if attn_mask is not None:
        if _is_bool(attn_mask):
            scores = scores.masked_fill(attn_mask.logical_not(), _NEG_INF)
        else:
            scores = scores + attn_mask
        masked = True
    weights = _masked_rows_to_zero(scores) if masked else softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights.matmul(value)


def _is_bool(t):
    return t.dtype == BOOL


def _repeat_kv_heads(query, key, value):
    """enable_gqa: each key/value head serves query.size(-3) / key.size(-3) query heads."""
    heads, kv_heads = query.shape[-3], key.shape[-3]
    if kv_heads != value.shape[-3] or heads % kv_heads:
        raise RuntimeError(
            "scaled_dot_product_attention(): number of heads in query "
            f"({heads}) must be a multiple of those in key ({kv_heads}) and value "
            f"({value.shape[-3]}), which must be equal"
        )
    groups = heads // kv_heads

    def repeat(t):
        lead = tuple(t.shape[:-3])
        expanded = t.unsqueeze(-3).expand(*lead, kv_heads, groups, *t.shape[-2:])
        return expanded.reshape(*lead, heads, *t.shape[-2:])

    return repeat(key), repeat(value)


# --- multi-head attention ---
def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """PyTorch's mask normalisation: a bool mask (True = masked out) becomes a float mask of
    target_type with -inf where True; a float mask passes as is."""
    if mask is None:
        return None
    if not _is_bool(mask) and not _is_float(mask):
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type "
            "for both instead.",
            stacklevel=3,
        )
    if _is_bool(mask):
        return zeros(tuple(mask.shape), dtype=target_type, device=mask.device).masked_fill(
            mask, _NEG_INF
        )
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched; PyTorch's AssertionErrors for inconsistent ranks."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                f"found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.dim()}-D tensor instead"
            )
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                    f"3-D but found {attn_mask.dim()}-D tensor instead"
                )
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(
                    f"Expected `attn_mask` shape to be {expected} but got {_size(attn_mask.shape)}"
                )
        return False
    raise AssertionError(
        "query should be unbatched 2D or batched 3D tensor but received "
        f"{query.dim()}-D query tensor"
    )


def _in_projection(query, key, value, w, b, separate):
    """q, k, v projections: one product when query, key and value are one tensor (PyTorch's
    packed path), else one per input."""
    embed_dim = query.shape[-1]
    if separate is not None:
        w_q, w_k, w_v = separate
    else:
        w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    if separate is None and key is value:
        if query is key:
            q, k, v = linear(query, w, b).split(embed_dim, -1)
            return q, k, v
        kv_b = None if b is None else b[embed_dim:]
        k, v = linear(key, w[embed_dim:], kv_b).split(embed_dim, -1)
        return linear(query, w_q, b_q), k, v
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn,
    dropout_p,
    out_proj_weight,
    out_proj_bias,
    training=True,
    key_padding_mask=None,
    need_weights=True,
    attn_mask=None,
    use_separate_proj_weight=False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights=True,
    is_causal=False,
):
    """Same as torch.nn.functional.multi_head_attention_forward: sequence-first (L, N, E)
    inputs (or unbatched (L, E)); returns (attn_output, attn_weights or None)."""
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(
        key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask", query.dtype
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
            "method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint alone: scaled_dot_product_attention builds the mask
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(
                f"key's sequence and batch dims {_size(key.shape[:2])} do not match value's "
                f"{_size(value.shape[:2])}"
            )
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(
                    f"use_separate_proj_weight is True but {name}_proj_weight is None"
                )
        separate = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(
                f"key shape {_size(key.shape)} does not match value shape {_size(value.shape)}"
            )
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        separate = None
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {_size(attn_mask.shape)}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {_size(attn_mask.shape)}, but should be "
                f"{(bsz * num_heads, tgt_len, src_len)}."
            )
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key.")
        k = cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        set_name, unset = ("bias_k", "bias_v") if bias_k is not None else ("bias_v", "bias_k")
        raise AssertionError(f"{set_name} is set but {unset} is None")

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zero = zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k, v = cat([k, zero], 1), cat([v, zero], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            expected, got = (bsz, src_len), tuple(key_padding_mask.shape)
            which = 0 if got[0] != bsz else 1
            raise AssertionError(
                f"Expected key_padded_mask.shape[{which}] to be {expected[which]}, but got "
                f"{got[which]}"
            )
        key_padding_mask = (
            key_padding_mask.reshape(bsz, 1, 1, src_len)
            .expand(bsz, num_heads, 1, src_len)
            .reshape(bsz * num_heads, 1, src_len)
        )
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)).bmm(k.transpose(1, 2))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)  # a fully masked row is NaN here, as PyTorch
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, True)
        out = weights.bmm(v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    return (out if is_batched else out.squeeze(1)), None


def _heads(t, static, bsz, num_heads, head_dim, name):
    """(S, N, E) -> (N * heads, S, head_dim), or the given static keys/values."""
    if static is None:
        return t.reshape(t.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if static.shape[0] != bsz * num_heads:
        raise AssertionError(
            f"expecting {name}.size(0) of {bsz * num_heads}, but got {static.shape[0]}"
        )
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}")
    return static


# --- op-table samples (see nn/functional/loss.py)
register(
    "scaled_dot_product_attention",
    lambda lib, q, k, v, *mask, **kw: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, *mask, **kw
    ),
    (
        S((2, 3, 4), (2, 5, 4), (2, 5, 4)),
        S((1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 2), is_causal=True),
        S((2, 3, 4), (2, 5, 4), (2, 5, 2), (3, 5), scale=0.7),
    ),
)(scaled_dot_product_attention)

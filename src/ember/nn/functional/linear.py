"""linear and bilinear maps."""

from __future__ import annotations

import math

from ember._tensor import Tensor
from ember.ops._table import S, register


def linear(input, weight, bias=None):
    """Same as torch.nn.functional.linear: input @ weight.T + bias.

    Leading dims are flattened into rows so the weight's gradient is one matrix product.
    """
    if input.dim() == 0 or weight.dim() not in (1, 2):
        raise RuntimeError(
            f"linear(): expected input with at least 1 dim and a 1-D or 2-D weight, got input "
            f"{list(input.shape)} and weight {list(weight.shape)}"
        )
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"linear(): argument 'bias' must be Tensor, not {type(bias).__name__}")
        if bias._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"linear(): input and bias must have the same dtype, but got {input.dtype} and "
                f"{bias.dtype}"
            )
    if weight.dim() == 1:
        out = input.matmul(weight)
    elif input.dim() == 2:
        out = input.mm(weight.t())
    else:
        lead = input.shape[:-1]
        rows = input.reshape(math.prod(lead), input.shape[-1])  # -1: ambiguous when empty
        out = rows.mm(weight.t()).reshape(lead + (weight.shape[0],))
    return out if bias is None else out + bias


def bilinear(input1, input2, weight, bias=None):
    """Same as torch.nn.functional.bilinear: x1^T A_k x2 + b_k for each output k."""
    out_features, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(
            f"bilinear(): input1 size {list(input1.shape)} and input2 size {list(input2.shape)} "
            f"do not match weight size {list(weight.shape)}"
        )
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            "bilinear(): input batch dimensions do not match: got "
            f"{list(input1.shape[:-1])} and {list(input2.shape[:-1])}"
        )
    lead = input1.shape[:-1]
    rows = math.prod(lead)  # explicit: -1 cannot be inferred when a size is 0
    x1 = input1.reshape(rows, in1)
    x2 = input2.reshape(rows, in2)
    # (B, in1) @ (in1, out*in2) -> (B, out, in2), then contract in2 with x2
    mixed = x1.mm(weight.permute(1, 0, 2).reshape(in1, out_features * in2))
    out = (mixed.reshape(rows, out_features, in2) * x2.unsqueeze(1)).sum(-1)
    out = out.reshape(lead + (out_features,))
    return out if bias is None else out + bias


# --- op-table samples (see loss.py)
register(
    "linear",
    lambda lib, x, w, *b: lib.nn.functional.linear(x, w, *b),
    (S((3, 4), (2, 4), (2,)), S((2, 3, 4), (5, 4)), S((4,), (2, 4), (2,)), S((3, 4), (4,))),
)(linear)
register(
    "bilinear",
    lambda lib, a, b, w, *bias: lib.nn.functional.bilinear(a, b, w, *bias),
    (S((3, 2), (3, 4), (5, 2, 4), (5,)), S((2, 3), (2, 2), (1, 3, 2))),
)(bilinear)

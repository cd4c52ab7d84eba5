"""Activations of torch.nn.functional that ember.ops does not already provide."""

from __future__ import annotations

import warnings

from ember import ops
from ember.ops._table import UNARY, S, register
from ember.ops.activation import log_softmax as _log_softmax
from ember.ops.activation import softmax as _softmax
from ember.ops.inplace import apply_inplace


def _inplace(input, inplace, fn, name):
    if inplace:
        return apply_inplace(input, fn, (), f"{name}_")
    return fn(input)


def relu(input, inplace=False):
    """Same as torch.nn.functional.relu."""
    return _inplace(input, inplace, ops.relu, "relu")


def relu_(input):
    """Same as torch.nn.functional.relu_."""
    return relu(input, inplace=True)


def sigmoid(input):
    """Same as torch.nn.functional.sigmoid."""
    return ops.sigmoid(input)


def tanh(input):
    """Same as torch.nn.functional.tanh."""
    return ops.tanh(input)


def _threshold(input, bound, value, inplace):
    return _inplace(input, inplace, lambda x: ops.where(x > bound, x, value), "threshold")


def threshold(input, threshold, value, inplace=False):
    """Same as torch.nn.functional.threshold: x where x > threshold, else value."""
    return _threshold(input, threshold, value, inplace)


def threshold_(input, threshold, value):
    """Same as torch.nn.functional.threshold_."""
    return _threshold(input, threshold, value, True)


def hardshrink(input, lambd=0.5):
    """Same as torch.nn.functional.hardshrink."""
    return ops.where((input > lambd) | (input < -lambd), input, 0.0)


def softshrink(input, lambd=0.5):
    """Same as torch.nn.functional.softshrink."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return ops.where(input > lambd, input - lambd, ops.where(input < -lambd, input + lambd, 0.0))


def tanhshrink(input):
    """Same as torch.nn.functional.tanhshrink: x - tanh(x)."""
    return input - ops.tanh(input)


def glu(input, dim=-1):
    """Same as torch.nn.functional.glu: a * sigmoid(b) for the two halves a, b along dim."""
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.dim()} is size {size}"
        )
    index = [slice(None)] * input.dim()
    index[dim] = slice(0, size // 2)
    a = input[tuple(index)]
    index[dim] = slice(size // 2, size)
    b = input[tuple(index)]
    return a * ops.sigmoid(b)


def prelu(input, weight):
    """Same as torch.nn.functional.prelu: max(0, x) + weight * min(0, x), weight per channel."""
    if weight.dim() > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}"
        )
    w = weight
    if input.dim() >= 2 and weight.numel() != 1:
        channels = input.shape[1]
        if weight.numel() != channels:
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {weight.numel()} and channel size = {channels}."
            )
        w = weight.reshape((channels,) + (1,) * (input.dim() - 2))
    elif weight.numel() == 1:
        w = weight.reshape(())
    return ops.where(input > 0, input, w * input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Same as torch.nn.functional.rrelu: a random negative slope in training, the mean else."""
    if not training:
        mean = (lower + upper) / 2
        return _inplace(input, inplace, lambda x: ops.where(x >= 0, x, x * mean), "rrelu")
    slopes = ops.rand(input.shape, dtype=input.dtype, device=input.device) * (upper - lower)
    slopes = (slopes + lower).detach()
    return _inplace(input, inplace, lambda x: ops.where(x >= 0, x, x * slopes), "rrelu")


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """Same as torch.nn.functional.rrelu_."""
    return rrelu(input, lower, upper, training, inplace=True)


def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Same as torch.nn.functional.softmax."""
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    return _softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Same as torch.nn.functional.log_softmax."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _log_softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """Same as torch.nn.functional.softmin: softmax(-x)."""
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _softmax(-input, dim)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Same as torch.nn.functional.gumbel_softmax (noise from ember's generator)."""
    u = ops.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    gumbels = -(-u.clamp(min=eps).log()).log()  # -log of an Exponential(1) draw
    y = _softmax((logits + gumbels.detach()) / tau, dim)
    if not hard:
        return y
    index = y.argmax(dim, keepdim=True)
    positions = ops.arange(y.shape[dim], device=y.device)
    shape = [1] * y.dim()
    shape[dim] = y.shape[dim]
    hard_y = (positions.reshape(shape) == index).to(y.dtype)
    return hard_y - y.detach() + y


# --- op-table samples (see loss.py)
register("glu", lambda lib, x, **kw: lib.nn.functional.glu(x, **kw), (S((3, 4)), S((4, 3), dim=0)))(
    glu
)
register(
    "prelu",
    lambda lib, x, w: lib.nn.functional.prelu(x, w),
    (S((2, 3, 4), (3,)), S((3, 4), (1,))),
    avoid=(0.0,),
)(prelu)
register(
    "hardshrink",
    lambda lib, x: lib.nn.functional.hardshrink(x, 0.5),
    UNARY,
    avoid=(0.5, -0.5),
)(hardshrink)
register(
    "softshrink", lambda lib, x: lib.nn.functional.softshrink(x, 0.5), UNARY, avoid=(0.5, -0.5)
)(softshrink)
register("tanhshrink", lambda lib, x: lib.nn.functional.tanhshrink(x), UNARY)(tanhshrink)
register(
    "threshold", lambda lib, x: lib.nn.functional.threshold(x, 0.3, -1.5), UNARY, avoid=(0.3,)
)(threshold)
register("softmin", lambda lib, x, **kw: lib.nn.functional.softmin(x, **kw), (S((3, 4), dim=1),))(
    softmin
)

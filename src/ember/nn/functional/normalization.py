"""Normalisation functions of torch.nn.functional, composed from ember ops."""

from __future__ import annotations

import math

import numpy

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.ops._table import S, register
from ember.ops.linalg_extra import vector_norm


def _moments(x, dims):
    """Mean and biased variance over dims (kept), computed around the mean for accuracy."""
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dims, keepdim=True)
    return mean, centered, var


def _channel_view(t, ndim):
    return t.reshape((-1,) + (1,) * (ndim - 2))


def _affine(y, weight, bias, view):
    if weight is not None:
        y = y * view(weight)
    if bias is not None:
        y = y + view(bias)
    return y


def check_batch_norm_args(input, running_mean, running_var, weight, bias):
    """batch_norm's shape checks (BatchNorm runs them before it counts a batch)."""
    ndim = input.dim()
    if ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {ndim}D input)")
    channels = input.shape[1]
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if t is not None and t.numel() != channels:
            raise RuntimeError(
                f"batch_norm: {name} should contain {channels} elements not {t.numel()}"
            )


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Same as torch.nn.functional.batch_norm (running stats are updated in place)."""
    check_batch_norm_args(input, running_mean, running_var, weight, bias)
    ndim = input.dim()
    channels = input.shape[1]
    view = lambda t: _channel_view(t, ndim)  # noqa: E731
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        y = (input - view(running_mean)) * view((running_var + eps).rsqrt())
        return _affine(y, weight, bias, view)
    dims = (0,) + tuple(range(2, ndim))
    count = input.numel() // channels if channels else 0
    if count == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size "
            f"ember.Size({list(input.shape)})"
        )
    mean, centered, var = _moments(input, dims)
    y = centered * (var + eps).rsqrt()
    if count and (running_mean is not None or running_var is not None):  # none: unchanged
        with no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean.detach().reshape(-1) * momentum)
            if running_var is not None:
                unbiased = var.detach().reshape(-1) * (count / (count - 1))
                running_var.mul_(1 - momentum).add_(unbiased * momentum)
    return _affine(y, weight, bias, view)


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Same as torch.nn.functional.instance_norm."""
    ndim = input.dim()
    view = lambda t: _channel_view(t, ndim)  # noqa: E731
    if not use_input_stats:
        y = (input - view(running_mean)) * view((running_var + eps).rsqrt())
        return _affine(y, weight, bias, view)
    dims = tuple(range(2, ndim))
    count = math.prod(input.shape[2:])
    if count == 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size "
            f"ember.Size({list(input.shape)})"
        )
    mean, centered, var = _moments(input, dims)
    y = centered * (var + eps).rsqrt()
    if count and (running_mean is not None or running_var is not None):  # none: unchanged
        with no_grad():  # the batch's average of the per-instance statistics
            if running_mean is not None:
                batch_mean = mean.detach().reshape(input.shape[:2]).mean(0)
                running_mean.mul_(1 - momentum).add_(batch_mean * momentum)
            if running_var is not None:
                unbiased = var.detach().reshape(input.shape[:2]) * (count / (count - 1))
                running_var.mul_(1 - momentum).add_(unbiased.mean(0) * momentum)
    return _affine(y, weight, bias, view)


def _normalized_dims(input, normalized_shape, op):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if n == 0 or tuple(input.shape[input.dim() - n :]) != shape:
        raise RuntimeError(
            f"{op}: Given normalized_shape={list(shape)}, expected input with shape [*, "
            f"{', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    return tuple(range(input.dim() - n, input.dim()))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Same as torch.nn.functional.layer_norm."""
    dims = _normalized_dims(input, normalized_shape, "layer_norm")
    _, centered, var = _moments(input, dims)
    y = centered * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Same as torch.nn.functional.rms_norm (eps=None means the dtype's machine epsilon)."""
    dims = _normalized_dims(input, normalized_shape, "rms_norm")
    x = input
    if input.dtype in (_dtype.float16, _dtype.bfloat16):
        # as PyTorch: half-precision inputs are normalized in float32 (and eps=None is
        # float32's epsilon), rounded once at the end
        x = input.float()
    if eps is None:
        eps = float(_finfo_eps(x))
    y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
    y = y if weight is None else y * weight
    return y if y.dtype == input.dtype else y.to(input.dtype)  # PyTorch keeps input's dtype


def _finfo_eps(input):
    return numpy.finfo(input._data.dtype).eps


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Same as torch.nn.functional.group_norm."""
    if input.dim() < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.dim()}"
        )
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"
        )
    grouped = input.reshape(n, num_groups, math.prod(input.shape[1:]) // num_groups)
    _, centered, var = _moments(grouped, (2,))
    y = (centered * (var + eps).rsqrt()).reshape(input.shape)
    return _affine(y, weight, bias, lambda t: _channel_view(t, input.dim()))


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Same as torch.nn.functional.local_response_norm: across channels, window `size`."""
    if input.dim() < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality input (got {input.dim()} dimensions)"
        )
    if input.numel() == 0:  # nothing to normalise (the pooling below needs a non-empty window)
        return input.clone()
    n, c = input.shape[:2]
    squares = (input * input).reshape(n, 1, c, math.prod(input.shape[2:]))
    from ember.ops.nn_extra import pad
    from ember.ops.pool import avg_pool2d

    squares = pad(squares, (0, 0, size // 2, (size - 1) // 2))
    summed = avg_pool2d(squares, (size, 1), stride=1).reshape(input.shape)
    return input / (summed * alpha + k) ** beta


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """Same as torch.nn.functional.normalize: input / max(||input||_p, eps) along dim."""
    from ember.nn.functional.loss import _norm

    norm = _norm(input, p, dim, True)
    result = input / norm.clamp(min=eps).expand_as(input)
    if out is not None:
        out.copy_(result)
        return out
    return result


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Same as torch.nn.functional.cosine_similarity: x1.x2 / max(||x1|| ||x2||, eps)."""
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor):
        raise TypeError("cosine_similarity(): x1 and x2 must be Tensors")
    # PyTorch normalises each input first (each norm clamped at eps), then takes the dot;
    # vector_norm's gradient at a zero vector is 0, where sqrt(sum(x^2))'s is 0/0
    n1 = vector_norm(x1, 2, dim, True).clamp(min=eps)
    n2 = vector_norm(x2, 2, dim, True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pdist(input, p=2):
    """Same as torch.nn.functional.pdist: distances between the rows, upper triangle."""
    from ember.nn.functional.loss import _norm

    n = input.shape[0]
    i, j = numpy.triu_indices(n, 1)
    diff = input[Tensor._make(i.astype("int64"))] - input[Tensor._make(j.astype("int64"))]
    return _norm(diff, p, 1, False)


# --- op-table samples (see loss.py)
def _stats(lib, x, value):
    """A fresh running statistic for a sample call: channels of x, on its device."""
    return lib.full((x.shape[1],), value, dtype=x.dtype, device=x.device)


register(
    "layer_norm",
    lambda lib, x, *affine, shape: lib.nn.functional.layer_norm(x, shape, *affine),
    (S((3, 4), (4,), (4,), shape=(4,)), S((2, 3, 4), shape=(3, 4)), S((2, 5), (5,), shape=(5,))),
)(layer_norm)
register(
    "group_norm",
    lambda lib, x, *affine, groups: lib.nn.functional.group_norm(x, groups, *affine),
    (S((2, 4, 3), (4,), (4,), groups=2), S((3, 6), groups=2)),
)(group_norm)
register(
    "batch_norm",
    lambda lib, x, *affine, training: lib.nn.functional.batch_norm(
        x, _stats(lib, x, 0.1), _stats(lib, x, 1.5), *affine, training=training
    ),
    (
        S((4, 3), (3,), (3,), training=True),
        S((2, 3, 4), training=True),
        S((4, 3), (3,), (3,), training=False),
    ),  # fmt: skip
)(batch_norm)
register(
    "instance_norm",
    lambda lib, x, *affine: lib.nn.functional.instance_norm(
        x, weight=affine[0] if affine else None, bias=affine[1] if affine else None
    ),
    (S((2, 3, 4), (3,), (3,)), S((1, 2, 3, 3))),
)(instance_norm)
register(
    "rms_norm",
    lambda lib, x, *weight, shape: lib.nn.functional.rms_norm(x, shape, *weight, eps=1e-6),
    (S((3, 4), (4,), shape=(4,)), S((2, 3, 2), shape=(3, 2))),
)(rms_norm)
register(
    "local_response_norm",
    lambda lib, x, **kw: lib.nn.functional.local_response_norm(x, **kw),
    (S((2, 5, 3), size=3), S((1, 4, 2, 2), size=2, alpha=0.1, beta=0.5, k=2.0)),
)(local_response_norm)
register(
    "normalize",
    lambda lib, x, **kw: lib.nn.functional.normalize(x, **kw),
    (S((3, 4)), S((3, 4), p=1.0, dim=0), S((2, 3, 2), p=3.0, dim=-1)),
)(normalize)
register(
    "cosine_similarity",
    lambda lib, a, b, **kw: lib.nn.functional.cosine_similarity(a, b, **kw),
    (S((3, 4), (3, 4)), S((2, 3), (1, 3), dim=-1)),
)(cosine_similarity)
register(
    "pdist",
    lambda lib, x, **kw: lib.nn.functional.pdist(x, **kw),
    (S((4, 3)), S((3, 2), p=1.0)),
)(pdist)

__all__ = [
    "batch_norm",
    "cosine_similarity",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "local_response_norm",
    "normalize",
    "pdist",
    "rms_norm",
]

"""Pooling relatives built from ember's pools: max_unpool, lp_pool, the *_with_indices names,
and channel_shuffle."""

from __future__ import annotations

import functools

from ember.ops import pool
from ember.ops.creation import zeros


def _tuple(value, n, name):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value}")
    return value


def _max_unpool(dims, input, indices, kernel_size, stride=None, padding=0, output_size=None):
    kernel = _tuple(kernel_size, dims, "kernel_size")
    stride = _tuple(stride if stride is not None else kernel_size, dims, "stride")
    padding = _tuple(padding, dims, "padding")
    spatial = tuple(input.shape[-dims:])
    default = tuple(
        (s - 1) * st - 2 * p + k for s, st, p, k in zip(spatial, stride, padding, kernel)
    )
    if output_size is None:
        size = default
    else:
        size = tuple(output_size)[-dims:]
        for n, (want, base, st) in enumerate(zip(size, default, stride)):
            if not base - st < want < base + st:
                raise ValueError(
                    f'invalid output_size "{list(output_size)}" (dim {n} must be between '
                    f"{base - st} and {base + st})"
                )
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"max_unpool{dims}d: Expected shape of indices to be same as that of the input "
            f"tensor ({list(input.shape)}) but got indices tensor with shape: "
            f"{list(indices.shape)}"
        )
    lead = input.shape[:-dims]
    plane = 1
    for s in size:
        plane *= s
    flat_in = input.reshape(*lead, -1)
    flat_idx = indices.reshape(*lead, -1)
    if flat_idx.numel() and (bool((flat_idx < 0).any()) or bool((flat_idx >= plane).any())):
        raise RuntimeError(
            f"max_unpool{dims}d: found an index outside the output of size {list(size)}"
        )
    out = zeros(*lead, plane, dtype=input.dtype, device=input.device)
    return out.scatter(-1, flat_idx, flat_in).reshape(*lead, *size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Same as torch.nn.functional.max_unpool1d: place each value at its max_pool1d index."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Same as torch.nn.functional.max_unpool2d: place each value at its max_pool2d index."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Same as torch.nn.functional.max_unpool3d: place each value at its max_pool3d index."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


def _lp_pool(dims, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    avg = (pool.avg_pool1d, pool.avg_pool2d, pool.avg_pool3d)[dims - 1]
    kernel = _tuple(kernel_size, dims, "kernel_size")
    count = 1
    for k in kernel:
        count *= k
    if stride is None:
        stride = kernel
    out = avg(input.pow(norm_type), kernel, stride, 0, ceil_mode)
    # as PyTorch: sign(out) * relu(|out|), scaled back to a sum, then the p-th root
    return (out.sign() * out.abs().relu()).mul(count).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Same as torch.nn.functional.lp_pool1d: (sum of x**p over each window) ** (1/p)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Same as torch.nn.functional.lp_pool2d."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Same as torch.nn.functional.lp_pool3d."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def _with_indices(fn, name):
    wrapped = functools.partial(fn, return_indices=True)
    wrapped = functools.update_wrapper(wrapped, fn)
    wrapped.__name__ = wrapped.__qualname__ = name
    wrapped.__doc__ = f"Same as torch.nn.functional.{name}: (output, indices)."
    return wrapped


max_pool1d_with_indices = _with_indices(pool.max_pool1d, "max_pool1d_with_indices")
max_pool2d_with_indices = _with_indices(pool.max_pool2d, "max_pool2d_with_indices")
max_pool3d_with_indices = _with_indices(pool.max_pool3d, "max_pool3d_with_indices")
adaptive_max_pool1d_with_indices = _with_indices(
    pool.adaptive_max_pool1d, "adaptive_max_pool1d_with_indices"
)
adaptive_max_pool2d_with_indices = _with_indices(
    pool.adaptive_max_pool2d, "adaptive_max_pool2d_with_indices"
)


def channel_shuffle(input, groups):
    """Same as torch.nn.functional.channel_shuffle: interleave the channels of `groups` groups."""
    if input.dim() < 3:
        raise RuntimeError(
            "channel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"sizes {list(input.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c = input.shape[:2]
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    rest = input.shape[2:]
    return input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


native_channel_shuffle = channel_shuffle

__all__ = [
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "channel_shuffle",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "native_channel_shuffle",
]

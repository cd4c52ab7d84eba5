"""interpolate and upsample: resampling one spatial dim at a time.

Nearest with an integer ratio is an expand and a reshape (its gradient a sum); other nearest
resizes gather by index; linear modes multiply by a small interpolation matrix per dim (two
non-zeros per row), so the gradient is a matmul too.
"""

from __future__ import annotations

import math
import warnings

import numpy

from ember import _backend
from ember._tensor import Tensor
from ember.ops._table import S, register
from ember.ops.pool import adaptive_avg_pool

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(input, nd, size, scale_factor, recompute_scale_factor):
    spatial = input.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * nd
        if len(sizes) != nd:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(spatial)} and output size of "
                f"{list(sizes)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                "and output size in (o1, o2, ...,oK) format."
            )
        return tuple(int(s) for s in sizes), (None,) * nd
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = (
        tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nd
    )
    if len(scales) != nd:
        raise ValueError(
            f"Input and scale_factor must have the same number of spatial dimensions, but got "
            f"input with spatial dimensions of {list(spatial)} and scale_factor of shape "
            f"{list(scales)}."
        )
    sizes = tuple(int(math.floor(float(n) * float(s))) for n, s in zip(spatial, scales))
    if recompute_scale_factor:
        return sizes, (None,) * nd
    return sizes, tuple(float(s) for s in scales)


def _source_scale(n_in, n_out, scale, align_corners):
    """PyTorch's ratio from output to input coordinates."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    if scale is not None and scale > 0:
        return 1.0 / scale
    return n_in / n_out


def _nearest_index(n_in, n_out, scale, exact):
    ratio = numpy.float32(_source_scale(n_in, n_out, scale, False))
    dst = numpy.arange(n_out, dtype=numpy.float32)
    src = numpy.floor((dst + 0.5) * ratio) if exact else numpy.floor(dst * ratio)
    return numpy.minimum(src.astype(numpy.int64), n_in - 1)


def _linear_matrix(n_in, n_out, scale, align_corners, dtype):
    """(n_out, n_in): each row blends the two nearest inputs, as PyTorch's linear modes."""
    ratio = _source_scale(n_in, n_out, scale, align_corners)
    dst = numpy.arange(n_out, dtype=numpy.float64)
    if align_corners:
        src = dst * ratio
    else:
        src = numpy.maximum((dst + 0.5) * ratio - 0.5, 0.0)
    low = numpy.minimum(numpy.floor(src).astype(numpy.int64), n_in - 1)
    high = numpy.minimum(low + 1, n_in - 1)
    frac = src - low
    matrix = numpy.zeros((n_out, n_in), dtype=dtype)
    rows = numpy.arange(n_out)
    matrix[rows, low] += 1.0 - frac
    matrix[rows, high] += frac
    return matrix


def _along(x, dim, fn):
    """Apply fn to x with `dim` moved last, then move it back."""
    last = x.dim() - 1
    if dim == last:
        return fn(x)
    return fn(x.transpose(dim, last)).transpose(dim, last)


def _nearest(input, sizes, scales, exact):
    out = input
    for i, (n_in, n_out) in enumerate(zip(input.shape[2:], sizes)):
        if n_in == n_out and scales[i] in (None, 1.0):
            continue
        index = _nearest_index(n_in, n_out, scales[i], exact)
        dim = 2 + i
        ratio = n_out // n_in if n_in else 0
        if (
            ratio
            and n_out == n_in * ratio
            and numpy.array_equal(index, numpy.arange(n_out) // ratio)
        ):
            # an integer upscale: repeat each element (an expand; its gradient is a sum)
            shape = out.shape
            expanded = out.reshape(shape[: dim + 1] + (1,) + shape[dim + 1 :])
            expanded = expanded.expand(shape[: dim + 1] + (ratio,) + shape[dim + 1 :])
            out = expanded.reshape(shape[:dim] + (n_out,) + shape[dim + 1 :])
        else:
            idx = Tensor._make(_backend.to_device(index, input.device))
            out = out[(slice(None),) * dim + (idx,)]
    if _backend.shares_storage(out._data, input._data) or not out.is_contiguous():
        out = out.clone()  # a result of its own, as PyTorch's (not the input, not an expand)
    return out


def _linear(input, sizes, scales, align_corners):
    out = input
    dtype = input._data.dtype
    for i, (n_in, n_out) in enumerate(zip(input.shape[2:], sizes)):
        if n_in == n_out and not align_corners and scales[i] in (None, 1.0):
            continue
        matrix = _linear_matrix(n_in, n_out, scales[i], align_corners, dtype)
        m = Tensor._make(_backend.to_device(matrix.T.copy(), input.device))
        out = _along(out, 2 + i, lambda t, m=m: t.matmul(m))
    return out


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Same as torch.nn.functional.interpolate (nearest, nearest-exact, linear, bilinear,
    trilinear, area; no bicubic, no antialias)."""
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by ember")
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    nd = input.dim() - 2
    if nd < 1:
        raise ValueError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got "
            f"{input.dim()}D) for the modes: nearest | linear | bilinear | bicubic "
            f"| trilinear | area | nearest-exact (got {mode})"
        )
    sizes, scales = _output_sizes(input, nd, size, scale_factor, recompute_scale_factor)
    if mode in ("nearest", "nearest-exact"):
        return _nearest(input, sizes, scales, mode == "nearest-exact")
    if mode == "area":
        return adaptive_avg_pool(input, sizes, nd, "adaptive_avg_pool")
    if mode in _LINEAR:
        if _LINEAR[mode] != nd:
            raise NotImplementedError(
                f"Got {input.dim()}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input"
            )
        return _linear(input, sizes, scales, bool(align_corners))
    if mode == "bicubic":
        raise NotImplementedError("interpolate(mode='bicubic') is not supported by ember")
    raise NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for the "
        f"modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got "
        f"{mode})"
    )


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Same as torch.nn.functional.upsample (deprecated there; use interpolate)."""
    warnings.warn(
        "`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Same as torch.nn.functional.upsample_nearest."""
    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Same as torch.nn.functional.upsample_bilinear (align_corners=True)."""
    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --- op-table samples (see loss.py)
register(
    "interpolate",
    lambda lib, x, **kw: lib.nn.functional.interpolate(x, **kw),
    (
        S((1, 2, 3, 4), size=(5, 6)),
        S((2, 1, 3), scale_factor=2.0),
        S((2, 3, 4), size=7, mode="linear"),
        S((1, 2, 3, 3), size=(5, 4), mode="bilinear", align_corners=True),
        S((1, 1, 4, 3), scale_factor=1.5, mode="bilinear"),
        S((1, 2, 2, 2, 3), size=(3, 3, 2), mode="trilinear"),
        S((1, 2, 6, 4), size=(3, 2), mode="area"),
        S((1, 1, 5), size=3, mode="nearest-exact"),
    ),
)(interpolate)

"""affine_grid and grid_sample (spatial transformers), written with differentiable ember ops.

grid_sample gathers the input at the neighbours of each grid point and blends them with
weights that are functions of the grid, so gradients reach both the input and the grid
through the ops themselves.
"""

from __future__ import annotations

import warnings

from ember._tensor import Tensor
from ember.ops.creation import arange, linspace, ones
from ember.ops.join import stack
from ember.ops.pointwise import where

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def _base_coordinates(steps, align_corners, like):
    if align_corners:
        return linspace(-1, 1, steps, dtype=like.dtype, device=like.device)
    return (arange(steps, dtype=like.dtype, device=like.device) * 2 + 1) / steps - 1


def affine_grid(theta, size, align_corners=None):
    """Same as torch.nn.functional.affine_grid: the sampling grid (N, H, W, 2) or
    (N, D, H, W, 3) of the affine maps `theta` (N, 2, 3) or (N, 3, 4)."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    if not isinstance(theta, Tensor) or not theta.is_floating_point():
        kind = theta.dtype if isinstance(theta, Tensor) else type(theta).__name__
        raise ValueError(f"Expected theta to have floating point type, but got {kind}")
    size = list(size)
    spatial = len(size) - 2
    if spatial not in (2, 3):
        raise NotImplementedError(
            f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    rows, cols = spatial, spatial + 1
    if theta.dim() != 3 or tuple(theta.shape) != (size[0], rows, cols):
        raise ValueError(
            f"Expected a batch of {spatial}D affine matrices of shape Nx{rows}x{cols} for size "
            f"{size}. Got {list(theta.shape)}."
        )
    if min(size[2:]) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    axes = [_base_coordinates(n, align_corners, theta) for n in reversed(size[2:])]  # x, y, (z)
    mesh = _meshgrid(axes)  # (..spatial.., spatial), x first in the last dim
    base = stack([*mesh, ones(mesh[0].shape, dtype=theta.dtype, device=theta.device)], -1)
    flat = base.reshape(1, -1, cols)
    grid = flat.matmul(theta.transpose(1, 2))
    return grid.reshape(size[0], *size[2:], rows)


def _meshgrid(axes):
    """Coordinates of every point of a (D,) H, W grid, one tensor per axis (x, y, z)."""
    shape = [a.shape[0] for a in reversed(axes)]  # (D,) H, W
    grids = []
    for i, axis in enumerate(axes):
        view = [1] * len(axes)
        view[len(axes) - 1 - i] = axis.shape[0]
        grids.append(axis.reshape(view).expand(shape))
    return grids


def _unnormalize(coordinate, size, align_corners):
    if align_corners:
        return (coordinate + 1) / 2 * (size - 1)
    return ((coordinate + 1) * size - 1) / 2


def _reflect(coordinate, twice_low, twice_high):
    if twice_low == twice_high:
        return coordinate * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = (coordinate - low).abs()
    extra = distance.fmod(span)
    flips = (distance / span).floor()
    even = flips.fmod(2) == 0
    return where(even, extra + low, span - extra + low)


def _source_index(coordinate, size, padding_mode, align_corners):
    index = _unnormalize(coordinate, size, align_corners)
    if padding_mode == "border":
        return index.clamp(0, size - 1)
    if padding_mode == "reflection":
        if align_corners:
            index = _reflect(index, 0, 2 * (size - 1))
        else:
            index = _reflect(index, -1, 2 * size - 1)
        return index.clamp(0, size - 1)
    return index


def _gather(flat, xs, ys, width, height):
    """flat (N, C, H*W) at integer points (xs, ys) each (N, P); zero where out of bounds."""
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    index = (ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)).long()
    n, c, _ = flat.shape
    values = flat.gather(2, index.unsqueeze(1).expand(n, c, index.shape[1]))
    return values * inside.unsqueeze(1).to(flat.dtype)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Same as torch.nn.functional.grid_sample for 4-D input (N, C, H, W) and grid
    (N, H_out, W_out, 2) in [-1, 1], modes 'bilinear' and 'nearest', padding 'zeros',
    'border' or 'reflection'. Bicubic and 5-D input raise."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    if input.dim() == 5 or mode == "bicubic":
        raise NotImplementedError(
            "ember's grid_sample supports 4-D input with 'bilinear' or 'nearest' mode; "
            f"got {input.dim()}-D input with mode '{mode}'"
        )
    if input.dim() != 4 or grid.dim() != 4 or grid.shape[-1] != 2:
        raise RuntimeError(
            "grid_sampler(): expected 4D input and grid with same number of dimensions, but "
            f"got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(
            "grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if input.dtype != grid.dtype:
        raise RuntimeError(
            "grid_sampler(): expected input and grid to have same dtype, but input has "
            f"{input.dtype} and grid has {grid.dtype}"
        )
    n, c, height, width = input.shape
    out_h, out_w = grid.shape[1], grid.shape[2]
    flat_grid = grid.reshape(n, out_h * out_w, 2)
    ix = _source_index(flat_grid[..., 0], width, padding_mode, align_corners)
    iy = _source_index(flat_grid[..., 1], height, padding_mode, align_corners)
    flat = input.reshape(n, c, height * width)
    if mode == "nearest":
        out = _gather(flat, ix.round(), iy.round(), width, height)
    else:
        x0, y0 = ix.floor(), iy.floor()
        x1, y1 = x0 + 1, y0 + 1
        wx1, wy1 = ix - x0, iy - y0
        wx0, wy0 = 1 - wx1, 1 - wy1
        out = (
            _gather(flat, x0, y0, width, height) * (wx0 * wy0).unsqueeze(1)
            + _gather(flat, x1, y0, width, height) * (wx1 * wy0).unsqueeze(1)
            + _gather(flat, x0, y1, width, height) * (wx0 * wy1).unsqueeze(1)
            + _gather(flat, x1, y1, width, height) * (wx1 * wy1).unsqueeze(1)
        )
    return out.reshape(n, c, out_h, out_w)


__all__ = ["affine_grid", "grid_sample"]

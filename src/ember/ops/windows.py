"""Tensor.unfold: the view of sliding windows along one dim."""

from __future__ import annotations

from ember._backend import array_module
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.creation import zeros
from ember.ops.shape import reshape


@register(
    "unfold_windows",
    lambda lib, x, **kw: x.unfold(**kw),
    (
        S((7,), dimension=0, size=3, step=2),
        S((3, 5), dimension=1, size=2, step=1),
        S((4, 3), dimension=-2, size=4, step=3),
        S((2, 6, 2), dimension=1, size=2, step=2),
        S((), dimension=0, size=1, step=1),
    ),
)
class UnfoldWindows(Primitive):
    """Tensor.unfold's view: windows of `size` entries every `step` along dim, as a new last
    dim (a view of the same storage, as PyTorch's). Backward adds each window's gradient
    back at its positions."""

    view_of = 0
    node_name = "UnfoldBackward0"

    @staticmethod
    def forward(ctx, x, d, size, step):
        ctx.geometry = (x.shape, d, size, step)
        if x.ndim == 0:
            return x.reshape(1)
        windows = array_module(x).lib.stride_tricks.sliding_window_view(x, size, axis=d)
        return windows[(slice(None),) * d + (slice(None, None, step),)]

    @staticmethod
    def backward(ctx, grad):
        shape, d, size, step = ctx.geometry
        if not shape:
            return grad.reshape(()), None, None, None
        count = grad.shape[d]
        xp = array_module(grad._data)
        starts = xp.arange(count, dtype="int64") * step
        positions = (starts[:, None] + xp.arange(size, dtype="int64")).reshape(-1)
        windows = grad.movedim(-1, d + 1)  # (..., count, size, ...)
        merged = reshape(windows, shape[:d] + (count * size,) + shape[d + 1 :])
        result = zeros(shape, dtype=grad.dtype, device=grad.device)
        return result.index_add(d, Tensor._make(positions), merged), None, None, None


def unfold(self, dimension, size, step):
    """Same as torch.Tensor.unfold: a view with every window of `size` entries, `step`
    apart, along `dimension`; that dim becomes the number of windows and a last dim of
    length `size` is added."""
    ndim = self._data.ndim
    d = normalize_dim(dimension, max(ndim, 1), "unfold")
    length = self._data.shape[d] if ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {d} is {length} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return UnfoldWindows.apply(self, d, size, step)


__all__ = []
TENSOR_METHODS = {"unfold": unfold}

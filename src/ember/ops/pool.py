"""Pooling: max and average over windows, and their adaptive forms.

Max pooling is a primitive whose forward keeps a running max over the kernel offsets (one
strided slice per offset, no window copy) and records which offset won. Its backward and that
backward's own backward are two small primitives that move values between windows and pixels
by the recorded offsets: no scatter-add. Average pooling is a window-sum primitive divided by
a constant count. Adaptive pools with uneven windows are matmuls with pooling matrices.
"""

from __future__ import annotations

import itertools
import math

from ember._backend import array_module
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._select import select
from ember.ops._table import S, register
from ember.ops.conv import crop, ntuple, offset_slices, pad_array


def pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, nd, op):
    """Kernel, stride, dilation, (lo, hi) pads and output sizes of a pooling op, checked."""
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor for input, but got: "
            f"{list(input.shape)}"
        )
    kernel = ntuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else ntuple(stride, nd)
    padding = ntuple(padding, nd, "padding")
    dilation = ntuple(dilation, nd, "dilation")
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride):
        raise RuntimeError(f"{op}: kernel_size and stride must be greater than zero")
    for p, k, d in zip(padding, kernel, dilation):
        if p < 0 or p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={p}, "
                f"kernel_size={k} and dilation={d}"
            )
    spatial = input._data.shape[-nd:]
    outs, pads = [], []
    for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input
            o -= 1
        if o <= 0:
            raise RuntimeError(
                f"{op}: Given input size: {list(input.shape[-nd - 1 :])}. Calculated output "
                f"size is too small"
            )
        outs.append(o)
        pads.append((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)))
    return kernel, stride, dilation, tuple(pads), tuple(outs)


def _batched(input, nd):
    """The input as (N, C, *spatial) and a function undoing that."""
    shape = input._data.shape
    if input._data.ndim == nd + 1:
        x = input.reshape((1,) + shape)
        return x, lambda t: t.reshape(t.shape[1:])
    return input, lambda t: t


def _offsets(kernel):
    return list(itertools.product(*(range(k) for k in kernel)))


# --- max pooling ---
@register(
    "max_pool2d",
    lambda lib, x, **kw: lib.nn.functional.max_pool2d(x, **kw),
    (
        S((2, 3, 6, 5), kernel_size=2),
        S((1, 2, 7, 7), kernel_size=3, stride=2, padding=1),
        S((1, 1, 7, 6), kernel_size=(3, 2), stride=(2, 3), ceil_mode=True),
        S((1, 2, 8, 8), kernel_size=2, stride=1, dilation=3, padding=1),
        S((2, 5, 5), kernel_size=3, stride=1),
    ),
)
class MaxPool(Primitive):
    """The max over each window, and the winning kernel offset (the first on ties, the last
    NaN when there is one, as PyTorch). The offsets are only found when asked for (a
    gradient or return_indices): inference is one running maximum per kernel offset."""

    node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation, pads, outs, want_winner):
        xp = array_module(x)
        lowest = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        padded = pad_array(x, pads, lowest)
        windows = [padded[offset_slices(o, stride, dilation, outs)] for o in _offsets(kernel)]
        best = windows[0].copy()
        for value in windows[1:]:
            xp.maximum(best, value, out=best)  # NaN propagates, as PyTorch
        need = want_winner or ctx.needs_input_grad[0]
        winner = xp.zeros_like(
            best, dtype=_offset_dtype(len(windows)), shape=best.shape if need else (0,)
        )
        if need:
            for k in reversed(range(len(windows))):  # the smallest offset is written last
                winner = select(windows[k] == best, winner.dtype.type(k), winner)
            if x.dtype.kind == "f" and bool(xp.isnan(best).any()):
                for k, value in enumerate(windows):
                    winner = select(value != value, winner.dtype.type(k), winner)
        if ctx.needs_input_grad[0]:
            ctx.winner = winner
            ctx.geometry = (x.shape, kernel, stride, dilation, pads, outs)
        return best, winner

    @staticmethod
    def backward(ctx, grad, _grad_winner):
        return (MaxPoolScatter.apply(grad, ctx.winner, *ctx.geometry),) + (None,) * 6


def _offset_dtype(count):
    return "uint8" if count <= 256 else "int64"


@register(
    "max_pool_scatter",
    lambda lib, x: lib.nn.functional.max_pool2d(x, 3, 2, 1),
    (S((1, 2, 5, 5)),),
)
class MaxPoolScatter(Primitive):
    """Max pooling's backward: each window's gradient goes to its winning pixel."""

    node_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, winner, shape, kernel, stride, dilation, pads, outs):
        xp = array_module(grad)
        if ctx.needs_input_grad[0]:  # the no-grad ctx is shared: keep nothing on it
            ctx.winner = winner
        ctx.geometry = (kernel, stride, dilation, pads, outs)
        padded_shape = shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads))
        image = xp.zeros_like(grad, shape=padded_shape)
        disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        for k, offset in enumerate(_offsets(kernel)):
            part = select(winner == k, grad, 0)
            target = offset_slices(offset, stride, dilation, outs)
            if disjoint:  # windows do not overlap: plain writes
                image[target] = part
            else:
                image[target] += part
        return crop(image, pads)

    @staticmethod
    def backward(ctx, grad):
        return (MaxPoolGather.apply(grad, ctx.winner, *ctx.geometry),) + (None,) * 7


@register(
    "max_pool_gather",
    lambda lib, x: _double_backward_probe(lib, x),
    (S((1, 2, 5, 5)),),
)
class MaxPoolGather(Primitive):
    """The adjoint of MaxPoolScatter: each window reads its winning pixel."""

    node_name = "MaxPool2DWithIndicesBackwardBackwardBackward0"

    @staticmethod
    def forward(ctx, image, winner, kernel, stride, dilation, pads, outs):
        xp = array_module(image)
        if ctx.needs_input_grad[0]:  # the no-grad ctx is shared: keep nothing on it
            ctx.winner = winner
        ctx.geometry = (image.shape, kernel, stride, dilation, pads, outs)
        padded = pad_array(image, pads)
        out = 0
        for k, offset in enumerate(_offsets(kernel)):
            out = select(winner == k, padded[offset_slices(offset, stride, dilation, outs)], out)
        return xp.asarray(out, dtype=image.dtype).reshape(winner.shape)

    @staticmethod
    def backward(ctx, grad):
        return (MaxPoolScatter.apply(grad, ctx.winner, *ctx.geometry),) + (None,) * 6


def _double_backward_probe(lib, x):
    """d(sum(max_pool(x)**2))/dx, built with a graph: its derivatives run the gather too."""
    out = lib.nn.functional.max_pool2d(x, 3, 2, 1)
    (g,) = lib.autograd.grad((out * out).sum(), x, create_graph=True)
    return g


def _flat_indices(winner, kernel, stride, dilation, pads, outs, spatial):
    """PyTorch's indices: the winner's position in the flattened (unpadded) input plane."""
    xp = array_module(winner)
    flat = 0
    remaining = winner
    place = math.prod(kernel)
    plane = 1
    positions = []
    for i, (k, s, d, (lo, _), o) in enumerate(zip(kernel, stride, dilation, pads, outs)):
        place //= k
        local = remaining // place
        remaining = remaining - local * place
        shape = [1] * len(outs)
        shape[i] = o
        start = (xp.arange(o, dtype="int64") * s - lo).reshape(shape)
        positions.append(start + local * d)
    for pos, n in zip(reversed(positions), reversed(spatial)):
        flat = flat + pos * plane
        plane *= n
    return flat


def max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    """max_pool1d/2d/3d: the values, and with return_indices PyTorch's flat indices too."""
    geometry = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, nd, op)
    x, restore = _batched(input, nd)
    out, winner = MaxPool.apply(x, *geometry, return_indices)
    out = restore(out)
    if not return_indices:
        return out
    kernel, stride, dilation, pads, outs = geometry
    flat = _flat_indices(
        winner._data.astype("int64"), kernel, stride, dilation, pads, outs, x.shape[2:]
    )
    return out, restore(Tensor._make(flat))


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Same as torch.nn.functional.max_pool1d."""
    return max_pool(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d"
    )


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Same as torch.nn.functional.max_pool2d."""
    return max_pool(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d"
    )


def max_pool3d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """Same as torch.nn.functional.max_pool3d."""
    return max_pool(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3, "max_pool3d"
    )


# --- average pooling ---
@register(
    "avg_pool2d",
    lambda lib, x, **kw: lib.nn.functional.avg_pool2d(x, **kw),
    (
        S((2, 3, 6, 5), kernel_size=2),
        S((1, 2, 7, 7), kernel_size=3, stride=2, padding=1),
        S((1, 2, 7, 7), kernel_size=3, stride=2, padding=1, count_include_pad=False),
        S((1, 1, 7, 6), kernel_size=(3, 2), stride=(2, 3), ceil_mode=True, padding=1),
        S((1, 1, 5, 5), kernel_size=2, ceil_mode=True, count_include_pad=False),
        S((1, 1, 4, 4), kernel_size=3, stride=1, divisor_override=2),
        S((2, 5, 5), kernel_size=3, stride=1),
    ),
)
class WindowSum(Primitive):
    """The sum over each window of the zero-padded input."""

    node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, kernel, stride, pads, outs):
        ctx.geometry = (x.shape, kernel, stride, pads, outs)
        padded = pad_array(x, pads)
        dilation = (1,) * len(kernel)
        offsets = _offsets(kernel)
        total = padded[offset_slices(offsets[0], stride, dilation, outs)].copy()
        for offset in offsets[1:]:
            total += padded[offset_slices(offset, stride, dilation, outs)]
        return total

    @staticmethod
    def backward(ctx, grad):
        return (WindowSpread.apply(grad, *ctx.geometry),) + (None,) * 4


@register(
    "window_spread",
    lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, 2, 1) * 1.0,
    (S((1, 2, 5, 5)),),
)
class WindowSpread(Primitive):
    """The adjoint of WindowSum: each window's value is added to all of its pixels."""

    node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, shape, kernel, stride, pads, outs):
        xp = array_module(grad)
        ctx.geometry = (kernel, stride, pads, outs)
        padded_shape = shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads))
        image = xp.zeros_like(grad, shape=padded_shape)
        dilation = (1,) * len(kernel)
        for offset in _offsets(kernel):
            image[offset_slices(offset, stride, dilation, outs)] += grad
        return crop(image, pads)

    @staticmethod
    def backward(ctx, grad):
        return (WindowSum.apply(grad, *ctx.geometry),) + (None,) * 5


def _divisor(xp, spatial, kernel, stride, padding, outs, count_include_pad, dtype):
    """How many elements each output averages over, as PyTorch counts them."""
    total = None
    for i, (n, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, outs)):
        start = xp.arange(o, dtype="int64") * s - p
        end = xp.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = xp.minimum(end, n) - xp.maximum(start, 0)
        shape = [1] * len(outs)
        shape[i] = o
        size = size.reshape(shape)
        total = size if total is None else total * size
    return total.astype(dtype)


def avg_pool(
    input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd, op
):
    """avg_pool1d/2d/3d."""
    kernel, stride, _, pads, outs = pool_geometry(
        input, kernel_size, stride, padding, 1, ceil_mode, nd, op
    )
    x, restore = _batched(input, nd)
    total = WindowSum.apply(x, kernel, stride, pads, outs)
    if divisor_override:
        return restore(total / divisor_override)
    xp = array_module(x._data)
    padding = tuple(lo for lo, _ in pads)
    divisor = _divisor(
        xp, x.shape[2:], kernel, stride, padding, outs, count_include_pad, x._data.dtype
    )
    return restore(total / Tensor._make(divisor))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Same as torch.nn.functional.avg_pool1d."""
    return avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d"
    )


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Same as torch.nn.functional.avg_pool2d."""
    return avg_pool(
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        2,
        "avg_pool2d",
    )


def avg_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Same as torch.nn.functional.avg_pool3d."""
    return avg_pool(
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        3,
        "avg_pool3d",
    )


# --- adaptive pooling ---
def _adaptive_sizes(input, output_size, nd, op):
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {list(input.shape)}"
        )
    spatial = input._data.shape[-nd:]
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise RuntimeError(f"{op}: output_size must be {nd} ints, got {output_size}")
    return spatial, tuple(n if o is None else int(o) for n, o in zip(spatial, sizes))


def _bounds(n, o):
    """Adaptive windows along one dim: [floor(i*n/o), ceil((i+1)*n/o))."""
    return [((i * n) // o, -((-(i + 1) * n) // o)) for i in range(o)]


def _pooling_matrix(xp, n, o, dtype):
    """(o, n) matrix averaging each adaptive window."""
    m = xp.zeros((o, n), dtype=dtype)
    for i, (start, end) in enumerate(_bounds(n, o)):
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool(input, output_size, nd, op):
    """Adaptive average pooling: a mean for 1x1 outputs, else one matmul per spatial dim."""
    spatial, outs = _adaptive_sizes(input, output_size, nd, op)
    if any(o < 0 for o in outs):
        raise RuntimeError(f"{op}(): output_size must be non-negative, but got {list(outs)}")
    if all(o == 1 for o in outs):  # a mean: NaN over an empty window, as PyTorch
        return input.mean(tuple(range(-nd, 0)), keepdim=True)
    if any(n == 0 for n in spatial):
        raise RuntimeError(
            f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input "
            f"has sizes {list(input.shape)} with an empty spatial dimension"
        )
    xp = array_module(input._data)
    out = input
    for i, (n, o) in enumerate(zip(spatial, outs)):
        if n == o:
            continue
        dim = input._data.ndim - nd + i
        m = Tensor._make(_pooling_matrix(xp, n, o, input._data.dtype))
        moved = out.transpose(dim, -1) if dim != input._data.ndim - 1 else out
        moved = moved.matmul(m.t())
        out = moved.transpose(dim, -1) if dim != input._data.ndim - 1 else moved
    return out


def adaptive_avg_pool1d(input, output_size):
    """Same as torch.nn.functional.adaptive_avg_pool1d."""
    return adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """Same as torch.nn.functional.adaptive_avg_pool2d."""
    return adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """Same as torch.nn.functional.adaptive_avg_pool3d."""
    return adaptive_avg_pool(input, output_size, 3, "adaptive_avg_pool3d")


def _window_index(xp, n, o):
    """(o, kmax) input positions of each adaptive window, the last repeated to fill."""
    bounds = _bounds(n, o)
    kmax = max(end - start for start, end in bounds)
    starts = xp.asarray([s for s, _ in bounds], dtype="int64")[:, None]
    ends = xp.asarray([e for _, e in bounds], dtype="int64")[:, None]
    return xp.minimum(starts + xp.arange(kmax, dtype="int64")[None, :], ends - 1)


def adaptive_max_pool(input, output_size, return_indices, nd, op):
    """Adaptive max pooling: gather each window, pick the first max, select it by index."""
    spatial, outs = _adaptive_sizes(input, output_size, nd, op)
    x, restore = _batched(input, nd)
    xp = array_module(x._data)
    n, c = x._data.shape[:2]
    # flat index of every window element: (o1, k1, o2, k2, ...) broadcast
    flat = 0
    plane = 1
    for i in reversed(range(nd)):
        idx = _window_index(xp, spatial[i], outs[i])
        shape = [1] * (2 * nd)
        shape[2 * i], shape[2 * i + 1] = idx.shape
        flat = flat + idx.reshape(shape) * plane
        plane *= spatial[i]
    flat = flat.transpose(tuple(range(0, 2 * nd, 2)) + tuple(range(1, 2 * nd, 2)))
    flat = xp.ascontiguousarray(xp.broadcast_to(flat, flat.shape)).reshape(outs + (-1,))
    planes = x._data.reshape(n * c, plane)
    windows = planes[:, flat]  # (n*c, *outs, kmax...)
    best = xp.argmax(windows, axis=-1)  # first max; NaN wins, as PyTorch
    indices = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), best[..., None], axis=-1)[
        ..., 0
    ]
    rows = xp.arange(n * c, dtype="int64").reshape((-1,) + (1,) * nd)
    out = x.reshape(n * c, plane)[Tensor._make(rows), Tensor._make(indices)]
    out = restore(out.reshape((n, c) + outs))
    if not return_indices:
        return out
    return out, restore(Tensor._make(indices.reshape((n, c) + outs)))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Same as torch.nn.functional.adaptive_max_pool1d."""
    return adaptive_max_pool(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Same as torch.nn.functional.adaptive_max_pool2d."""
    return adaptive_max_pool(input, output_size, return_indices, 2, "adaptive_max_pool2d")


register(
    "max_pool1d",
    lambda lib, x, **kw: lib.nn.functional.max_pool1d(x, **kw),
    (S((2, 3, 7), kernel_size=3, stride=2, padding=1), S((3, 6), kernel_size=2, ceil_mode=True)),
)(max_pool1d)
register(
    "max_pool3d",
    lambda lib, x, **kw: lib.nn.functional.max_pool3d(x, **kw),
    (S((1, 2, 4, 5, 4), kernel_size=2, stride=(2, 1, 2)),),
)(max_pool3d)
register(
    "avg_pool1d",
    lambda lib, x, **kw: lib.nn.functional.avg_pool1d(x, **kw),
    (
        S((2, 3, 7), kernel_size=3, stride=2, padding=1),
        S((3, 7), kernel_size=2, ceil_mode=True, count_include_pad=False),
    ),
)(avg_pool1d)
register(
    "avg_pool3d",
    lambda lib, x, **kw: lib.nn.functional.avg_pool3d(x, **kw),
    (S((1, 2, 4, 5, 4), kernel_size=2, padding=1),),
)(avg_pool3d)
register(
    "adaptive_avg_pool1d",
    lambda lib, x, **kw: lib.nn.functional.adaptive_avg_pool1d(x, **kw),
    (S((2, 3, 7), output_size=3), S((3, 5), output_size=1), S((1, 2, 4), output_size=6)),
)(adaptive_avg_pool1d)
register(
    "adaptive_avg_pool2d",
    lambda lib, x, **kw: lib.nn.functional.adaptive_avg_pool2d(x, **kw),
    (
        S((2, 3, 7, 5), output_size=(3, 2)),
        S((1, 2, 4, 4), output_size=1),
        S((2, 5, 6), output_size=(None, 4)),
    ),
)(adaptive_avg_pool2d)
register(
    "adaptive_max_pool2d",
    lambda lib, x, **kw: lib.nn.functional.adaptive_max_pool2d(x, **kw),
    (
        S((2, 3, 7, 5), output_size=(3, 2)),
        S((1, 2, 6, 6), output_size=3),
        S((2, 5, 6), output_size=(4, None)),
    ),
)(adaptive_max_pool2d)
register(
    "adaptive_max_pool1d",
    lambda lib, x, **kw: lib.nn.functional.adaptive_max_pool1d(x, **kw),
    (S((2, 3, 7), output_size=3),),
)(adaptive_max_pool1d)

__all__ = ["adaptive_avg_pool1d", "avg_pool1d", "max_pool1d", "max_pool2d", "max_pool3d"]

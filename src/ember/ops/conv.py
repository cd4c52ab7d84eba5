"""Convolutions: im2col (unfold) and col2im (fold) primitives, and conv as one matmul on them.

`Unfold` copies every receptive field of a (N, C, *spatial) input into a (C*K, N*L) column
matrix through a strided window view (no Python loop over pixels); `Fold` is its adjoint,
adding columns back into an image with one strided add per kernel offset. Each is the other's
backward, so convolutions built from them (one matrix product with the weight) get first and
second derivatives from ember's own ops. Columns are channel-major, (C*K, N*L), so the forward
and both weight and input gradients are single 2-D GEMMs rather than batched ones.
"""

from __future__ import annotations

import itertools
import math

from ember._backend import array_module
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import S, register


# --- geometry ---
def ntuple(value, n, name="argument"):
    """An int (or a 1-sequence) repeated n times, or an n-sequence, as a tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} "
                f"values to match the convolution dimensions, but got {name}="
                f"{list(value)}"
            )
        return tuple(int(v) for v in value)
    return (int(value),) * n


def out_sizes(spatial, kernel, stride, dilation, pads):
    """Output size per dim: floor((in + lo + hi - d*(k-1) - 1) / s) + 1."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride, dilation, pads)
    )


def pad_array(x, pads, value=0):
    """x (N, C, *spatial) with (lo, hi) added around each spatial dim, filled with `value`."""
    if not any(lo or hi for lo, hi in pads):
        return x
    xp = array_module(x)
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    out = xp.full_like(x, value, shape=shape)  # *_like keeps the array class
    out[
        (slice(None), slice(None))
        + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))
    ] = x
    return out


def window_view(x, kernel, stride, dilation, outs):
    """A (N, C, *kernel, *outs) strided view of x: element [.., k.., o..] = x[.., o*s + k*d]."""
    xp = array_module(x)
    nd = len(kernel)
    st = x.strides
    strides = (
        st[:2]
        + tuple(st[2 + i] * dilation[i] for i in range(nd))
        + tuple(st[2 + i] * stride[i] for i in range(nd))
    )
    return xp.lib.stride_tricks.as_strided(x, x.shape[:2] + tuple(kernel) + tuple(outs), strides)


def offset_slices(offset, stride, dilation, outs):
    """For one kernel offset: the slices of the padded image that its window entries cover."""
    return (slice(None), slice(None)) + tuple(
        slice(o * d, o * d + s * (n - 1) + 1, s)
        for o, s, d, n in zip(offset, stride, dilation, outs)
    )


def crop(x, pads):
    """Remove (lo, hi) padding from each spatial dim (a view)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    return x[
        (slice(None), slice(None))
        + tuple(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[2:], pads))
    ]


# --- primitives ---
@register(
    "unfold",
    lambda lib, x, **kw: lib.nn.functional.unfold(x, **kw),
    (
        S((2, 2, 4, 5), kernel_size=(2, 3)),
        S((1, 2, 5, 5), kernel_size=3, padding=1, stride=2),
        S((1, 1, 6, 6), kernel_size=2, dilation=2, padding=(1, 0)),
        S((2, 5, 4), kernel_size=2),
    ),
)
class Unfold(Primitive):
    """im2col: (N, C, *spatial) -> (C*prod(kernel), N*L) columns, one per receptive field."""

    node_name = "Im2ColBackward0"

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation, pads):
        ctx.spatial = x.shape[2:]
        ctx.geometry = (kernel, stride, dilation, pads)
        nd = len(kernel)
        outs = out_sizes(x.shape[2:], kernel, stride, dilation, pads)
        view = window_view(pad_array(x, pads), kernel, stride, dilation, outs)
        # (N, C, *k, *outs) -> (C, *k, N, *outs): the copy keeps the output rows contiguous
        order = (1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd))
        n, c = x.shape[:2]
        cols = array_module(x).empty_like(x, shape=(c,) + tuple(kernel) + (n,) + outs)
        cols[...] = view.transpose(order)
        return cols.reshape(c * math.prod(kernel), n * math.prod(outs))

    @staticmethod
    def backward(ctx, grad):
        return Fold.apply(grad, ctx.spatial, *ctx.geometry), None, None, None, None


@register(
    "fold",
    lambda lib, x, **kw: lib.nn.functional.fold(x, **kw),
    (
        S((2, 12, 6), output_size=(3, 4), kernel_size=(2, 2)),
        S((1, 8, 9), output_size=(5, 5), kernel_size=2, padding=1, stride=2),
    ),
)
class Fold(Primitive):
    """col2im: the adjoint of Unfold; overlapping entries add up."""

    node_name = "Col2ImBackward0"

    @staticmethod
    def forward(ctx, cols, spatial, kernel, stride, dilation, pads):
        ctx.geometry = (kernel, stride, dilation, pads)
        xp = array_module(cols)
        outs = out_sizes(spatial, kernel, stride, dilation, pads)
        c = cols.shape[0] // math.prod(kernel)
        n = cols.shape[1] // math.prod(outs)
        cols = cols.reshape((c,) + tuple(kernel) + (n,) + outs)
        padded_shape = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
        image = xp.zeros_like(cols, shape=(n, c) + padded_shape)
        overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        for offset in itertools.product(*(range(k) for k in kernel)):
            target = offset_slices(offset, stride, dilation, outs)
            part = cols[(slice(None),) + offset].swapaxes(0, 1)  # (N, C, *outs)
            if overlap:
                image[target] += part
            else:  # windows are disjoint: plain writes
                image[target] = part
        return crop(image, pads)

    @staticmethod
    def backward(ctx, grad):
        return Unfold.apply(grad, *ctx.geometry), None, None, None, None, None


# --- convolution ---
def _conv_input(input, weight, bias, nd, op, out_channels):
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, but got "
            f"input of size: {list(input.shape)}"
        )
    if weight._data.ndim != nd + 2:
        raise RuntimeError(
            f"{op}: expected weight to be {nd + 2}-dimensional, but got weight of size "
            f"{list(weight.shape)}"
        )
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(
            f"{op}: Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same"
        )
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{op}(): argument 'bias' must be Tensor, not {type(bias).__name__}")
        if bias._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"{op}: Input type ({input.dtype}) and bias type ({bias.dtype}) should be the same"
            )
        if bias.shape != (out_channels,):
            raise RuntimeError(
                f"{op}: Given weight of size {list(weight.shape)}, expected bias to be "
                f"1-dimensional with {out_channels} elements, but got bias of size "
                f"{list(bias.shape)} instead"
            )
    batched = input._data.ndim == nd + 2
    return (input if batched else input.unsqueeze(0)), batched


def _padding_pairs(padding, kernel, dilation, stride, nd):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pairs = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pairs.append((total // 2, total - total // 2))  # the odd extra goes on the right
        return tuple(pairs)
    return tuple((p, p) for p in ntuple(padding, nd, "padding"))


def _check_sizes(spatial, kernel, dilation, pads):
    padded = [n + lo + hi for n, (lo, hi) in zip(spatial, pads)]
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(p < e for p, e in zip(padded, effective)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, effective))}). Kernel size can't be greater "
            "than actual input size"
        )


def _add_bias(out, bias, nd):
    if bias is None:
        return out
    return out + bias.reshape((-1,) + (1,) * nd)


def convolution(input, weight, bias, stride, padding, dilation, groups, nd, op):
    """The N-d convolution behind conv1d/2d/3d: im2col, then one (grouped) matmul."""
    x, batched = _conv_input(input, weight, bias, nd, op, weight.shape[0])
    kernel = weight._data.shape[2:]
    stride = ntuple(stride, nd, "stride")
    dilation = ntuple(dilation, nd, "dilation")
    pads = _padding_pairs(padding, kernel, dilation, stride, nd)
    n, c = x._data.shape[:2]
    out_c, c_per_group = weight._data.shape[:2]
    if groups < 1 or c_per_group * groups != c or out_c % groups:
        raise RuntimeError(
            f"{op}: Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {c_per_group * groups} channels, but got {c} "
            "channels instead"
        )
    spatial = x._data.shape[2:]
    _check_sizes(spatial, kernel, dilation, pads)
    outs = out_sizes(spatial, kernel, stride, dilation, pads)
    k = math.prod(kernel)
    length = n * math.prod(outs)
    pointwise = k == 1 and all(s == 1 for s in stride) and not any(a or b for a, b in pads)
    if pointwise:  # a 1x1 convolution needs no windows, only the channel-major layout
        cols = x.transpose(0, 1).reshape(c, length)
    else:
        cols = Unfold.apply(x, kernel, stride, dilation, pads)  # (C*K, N*L)
    if groups == 1:
        out = weight.reshape(out_c, c * k).mm(cols)
    else:
        w = weight.reshape(groups, out_c // groups, c_per_group * k)
        out = w.matmul(cols.reshape(groups, c_per_group * k, length))
    if bias is not None:
        out = out + bias.reshape(out.shape[:-1] + (1,))
    # (O, N, *outs) -> (N, O, *outs), made contiguous so .view() works downstream
    out = out.reshape((out_c, n) + outs).transpose(0, 1).contiguous()
    return out if batched else out.squeeze(0)


def transposed_convolution(
    input, weight, bias, stride, padding, output_padding, groups, dilation, nd, op
):
    """The N-d transposed convolution: one (grouped) matmul, then col2im."""
    x, batched = _conv_input(input, weight, bias, nd, op, weight.shape[1] * groups)
    kernel = weight._data.shape[2:]
    stride = ntuple(stride, nd, "stride")
    dilation = ntuple(dilation, nd, "dilation")
    padding = ntuple(padding, nd, "padding")
    output_padding = ntuple(output_padding, nd, "output_padding")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= d:
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, but got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    n, c = x._data.shape[:2]
    in_c, out_per_group = weight._data.shape[:2]
    if groups < 1 or in_c != c or in_c % groups:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {in_c} channels, but got {c} channels instead"
        )
    spatial = x._data.shape[2:]
    outs = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + o + 1
        for i, s, p, d, k, o in zip(spatial, stride, padding, dilation, kernel, output_padding)
    )
    if any(o <= 0 for o in outs):
        raise RuntimeError(f"{op}: the computed output size {list(outs)} is too small")
    k = math.prod(kernel)
    length = n * math.prod(spatial)
    cin_g = in_c // groups
    # the input as (G, Cin/G, N*L), then one (grouped) product gives the columns to fold
    x2 = x.reshape((n, groups, cin_g, math.prod(spatial))).permute(1, 2, 0, 3)
    x2 = x2.reshape(groups, cin_g, length)
    w = weight.reshape(groups, cin_g, out_per_group * k).transpose(-1, -2)
    if groups == 1:
        cols = w.squeeze(0).mm(x2.squeeze(0))
    else:
        cols = w.matmul(x2).reshape(groups * out_per_group * k, length)
    out = Fold.apply(cols, outs, kernel, stride, dilation, tuple((p, p) for p in padding))
    out = _add_bias(out, bias, nd)
    return out if batched else out.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Same as torch.conv1d."""
    return convolution(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Same as torch.conv2d."""
    return convolution(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Same as torch.conv3d."""
    return convolution(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Same as torch.conv_transpose1d."""
    return transposed_convolution(
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        1,
        "conv_transpose1d",
    )


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Same as torch.conv_transpose2d."""
    return transposed_convolution(
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        2,
        "conv_transpose2d",
    )


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Same as torch.conv_transpose3d."""
    return transposed_convolution(
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        3,
        "conv_transpose3d",
    )


def _unbatched(input, expected, op):
    if input._data.ndim == expected - 1:
        return input.unsqueeze(0), False
    if input._data.ndim != expected:
        raise RuntimeError(
            f"Input Error: Only {expected - 1}D or {expected}D input Tensors are supported "
            f"(got {input._data.ndim}D)"
        )
    return input, True


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Same as torch.nn.functional.unfold."""
    if not isinstance(input, Tensor):
        raise TypeError(f"unfold(): argument 'input' must be Tensor, not {type(input).__name__}")
    nd = 2
    x, batched = _unbatched(input, 4, "unfold")
    kernel = ntuple(kernel_size, nd, "kernel_size")
    dilation = ntuple(dilation, nd, "dilation")
    stride = ntuple(stride, nd, "stride")
    pads = tuple((p, p) for p in ntuple(padding, nd, "padding"))
    _check_sizes(x._data.shape[2:], kernel, dilation, pads)
    cols = Unfold.apply(x, kernel, stride, dilation, pads)  # (C*K, N*L)
    n = x._data.shape[0]
    length = math.prod(out_sizes(x._data.shape[2:], kernel, stride, dilation, pads))
    out = cols.reshape(cols.shape[0], n, length).transpose(0, 1).contiguous()
    return out if batched else out.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Same as torch.nn.functional.fold."""
    x, batched = _unbatched(input, 3, "fold")
    nd = len(output_size) if isinstance(output_size, (tuple, list)) else 2
    spatial = ntuple(output_size, nd, "output_size")
    kernel = ntuple(kernel_size, nd, "kernel_size")
    dilation = ntuple(dilation, nd, "dilation")
    stride = ntuple(stride, nd, "stride")
    pads = tuple((p, p) for p in ntuple(padding, nd, "padding"))
    k = math.prod(kernel)
    length = math.prod(out_sizes(spatial, kernel, stride, dilation, pads))
    if x._data.shape[1] % k or x._data.shape[2] != length:
        raise RuntimeError(
            f"fold: expected an input of shape (N, C * {k}, {length}) for output_size="
            f"{list(spatial)} and kernel_size={list(kernel)}, but got {list(input.shape)}"
        )
    cols = x.transpose(0, 1).reshape(x._data.shape[1], -1)  # (C*K, N*L), channel-major
    out = Fold.apply(cols, spatial, kernel, stride, dilation, pads)
    return out if batched else out.squeeze(0)


def _conv_call(fn):
    return lambda lib, x, w, b=None, **kw: getattr(lib, fn)(x, w, b, **kw)


register(
    "conv1d",
    _conv_call("conv1d"),
    (
        S((2, 3, 7), (4, 3, 3), (4,)),
        S((1, 4, 9), (2, 2, 3), stride=2, padding=2, dilation=2, groups=2),
        S((3, 6), (2, 3, 2), padding="same"),
    ),
)(conv1d)
register(
    "conv2d",
    _conv_call("conv2d"),
    (
        S((2, 3, 5, 5), (4, 3, 3, 3), (4,)),
        S((1, 2, 6, 5), (3, 2, 2, 3), stride=(2, 1), padding=1),
        S((1, 4, 5, 5), (4, 2, 3, 3), dilation=2, padding=(2, 1), groups=2),
        S((1, 2, 4, 4), (2, 2, 2, 2), padding="same"),
        S((2, 3, 3, 3), (2, 3, 1, 1), (2,)),
        S((2, 4, 4), (3, 2, 2, 2), padding="valid"),
    ),
)(conv2d)
register(
    "conv3d",
    _conv_call("conv3d"),
    (S((1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,), padding=1, stride=2),),
)(conv3d)
register(
    "conv_transpose1d",
    _conv_call("conv_transpose1d"),
    (
        S((2, 3, 4), (3, 2, 3), (2,)),
        S((1, 4, 5), (4, 1, 3), stride=3, padding=1, output_padding=2, groups=2),
    ),
)(conv_transpose1d)
register(
    "conv_transpose2d",
    _conv_call("conv_transpose2d"),
    (
        S((2, 3, 3, 3), (3, 2, 3, 3), (2,)),
        S((1, 2, 3, 4), (2, 3, 2, 3), stride=2, padding=1, output_padding=1),
        S((1, 4, 3, 3), (4, 1, 3, 2), stride=(1, 2), dilation=2, groups=2),
        S((2, 3, 3), (2, 2, 2, 2), stride=2),
    ),
)(conv_transpose2d)
register(
    "conv_transpose3d",
    _conv_call("conv_transpose3d"),
    (S((1, 2, 2, 3, 2), (2, 1, 2, 2, 2), stride=2, padding=1),),
)(conv_transpose3d)


__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]

"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d."""

from __future__ import annotations

import math

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules._factory import new_parameter, ntuple
from ember.nn.modules.module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What every convolution shares: arguments, parameters, initialisation, repr."""

    _nd = 2
    _transposed = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
        output_padding=0,
    ):
        super().__init__()
        nd = self._nd
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                )
            if padding == "same" and any(s != 1 for s in ntuple(stride, nd)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {set(_PADDING_MODES)}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = ntuple(kernel_size, nd)
        self.stride = ntuple(stride, nd)
        self.padding = padding if isinstance(padding, str) else ntuple(padding, nd)
        self.dilation = ntuple(dilation, nd)
        self.transposed = self._transposed
        self.output_padding = ntuple(output_padding, nd)
        self.groups = groups
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._padding_for_pad()
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = new_parameter(*shape, device=device, dtype=dtype)
        if bias:
            self.bias = new_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _padding_for_pad(self):
        """F.pad's argument (last dim first) equivalent to this layer's padding."""
        out = []
        if isinstance(self.padding, str):
            if self.padding == "valid":
                return [0, 0] * self._nd
            for d, k in zip(reversed(self.dilation), reversed(self.kernel_size)):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return out
        for p in reversed(self.padding):
            out += [p, p]
        return out

    def reset_parameters(self):
        """PyTorch's default: W ~ kaiming_uniform(a=sqrt(5)), b ~ U(-1/sqrt(fan_in), +)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input, weight, bias):
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """Same as torch.nn.Conv1d."""

    _nd = 1


class Conv2d(_Conv):
    """A 2-D convolution over a batch of images, as torch.nn.Conv2d.

    Each output channel is a learned `kernel_size` filter slid over every input channel (of
    its group), plus a bias: a cross-correlation, as in every deep-learning library.

    Args:
        in_channels (int): channels of the input image (C_in).
        out_channels (int): channels the convolution produces (C_out).
        kernel_size (int | tuple[int, int]): the filter's height and width.
        stride (int | tuple[int, int]): step between filter positions.
        padding (int | tuple[int, int] | str): zeros (or `padding_mode` values) added on
            both sides of each spatial dimension; `"valid"` for none, `"same"` to keep the
            input's size (stride 1 only).
        dilation (int | tuple[int, int]): spacing between the filter's taps.
        groups (int): split the channels into this many independent convolutions; both
            channel counts must divide by it (`groups=in_channels` is a depthwise convolution).
        bias (bool): if False, the layer learns no bias.
        padding_mode (str): `"zeros"`, `"reflect"`, `"replicate"` or `"circular"`.
        device (str | ember.device | None): where the parameters live; the CPU if None.
        dtype (ember.dtype | None): the parameters' dtype; the default dtype if None.

    Shape:
        - Input: `(N, C_in, H_in, W_in)` or unbatched `(C_in, H_in, W_in)`.
        - Output: `(N, C_out, H_out, W_out)` or `(C_out, H_out, W_out)`, where
          `H_out = floor((H_in + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1)
          / stride[0] + 1)`, and the same for W with index 1.

    Attributes:
        weight (Parameter): `(out_channels, in_channels // groups, *kernel_size)`, initialised
            from U(-k, k) with `k = 1 / sqrt(in_channels // groups * kH * kW)`.
        bias (Parameter | None): `(out_channels,)`, from the same range, or None.

    Examples:
        >>> import ember
        >>> conv = ember.nn.Conv2d(3, 16, kernel_size=3, padding=1)
        >>> tuple(conv(ember.randn(8, 3, 32, 32)).shape)
        (8, 16, 32, 32)
        >>> tuple(ember.nn.Conv2d(3, 16, 5, stride=2)(ember.randn(8, 3, 32, 32)).shape)
        (8, 16, 14, 14)
    """

    _nd = 2


class Conv3d(_Conv):
    """Same as torch.nn.Conv3d."""

    _nd = 3


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
            output_padding,
        )

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        nd = self._nd
        output_size = list(output_size)[-nd:]
        if len(output_size) != nd:
            raise ValueError(
                f"ConvTranspose{nd}D: for {input.dim()}D input, output_size must have {nd} or "
                f"{nd + 2} elements (got {len(output_size)})"
            )
        result = []
        for d in range(nd):
            size = input.shape[input.dim() - nd + d]
            smallest = (
                (size - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"{smallest} to {largest} (for an input of {list(input.shape[2:])})"
                )
            result.append(output_size[d] - smallest)
        return tuple(result)

    def forward(self, input, output_size=None):
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        output_padding = self._output_padding(input, output_size)
        return conv(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


class ConvTranspose1d(_ConvTranspose):
    """Same as torch.nn.ConvTranspose1d."""

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """Same as torch.nn.ConvTranspose2d."""

    _nd = 2


class ConvTranspose3d(_ConvTranspose):
    """Same as torch.nn.ConvTranspose3d."""

    _nd = 3

"""Identity, Linear and Bilinear."""

from __future__ import annotations

import math

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules._factory import new_parameter
from ember.nn.modules.module import Module


class Identity(Module):
    """Same as torch.nn.Identity: returns its input (any constructor arguments are ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """A fully connected layer: `y = x @ weight.T + bias`, as torch.nn.Linear.

    Args:
        in_features (int): size of each input sample (the input's last dimension).
        out_features (int): size of each output sample.
        bias (bool): if False, the layer learns no additive bias.
        device (str | ember.device | None): where the parameters live (`"cpu"`, `"cuda"`);
            the CPU if None.
        dtype (ember.dtype | None): the parameters' floating dtype; the default dtype
            (float32 unless changed by `ember.set_default_dtype`) if None.

    Shape:
        - Input: `(*, in_features)`, any number of leading dimensions (none included).
        - Output: `(*, out_features)`, the same leading dimensions.

    Attributes:
        weight (Parameter): the learnable `(out_features, in_features)` matrix, initialised from
            U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's kaiming_uniform with
            a=sqrt(5)).
        bias (Parameter | None): the learnable `(out_features,)` vector, drawn from the same
            range, or None.

    Examples:
        >>> import ember
        >>> layer = ember.nn.Linear(20, 30)
        >>> x = ember.randn(128, 20)
        >>> tuple(layer(x).shape)
        (128, 30)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = new_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = new_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: W ~ kaiming_uniform(a=sqrt(5)), b ~ U(-1/sqrt(fan_in), +)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class NonDynamicallyQuantizableLinear(Linear):
    """Same as torch.nn.modules.linear.NonDynamicallyQuantizableLinear: a Linear (PyTorch's
    marker for quantization tools; MultiheadAttention's out_proj is one)."""


class Bilinear(Module):
    """Same as torch.nn.Bilinear: y_k = x1^T W_k x2 + b_k."""

    def __init__(
        self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None
    ):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = new_parameter(
            out_features, in1_features, in2_features, device=device, dtype=dtype
        )
        if bias:
            self.bias = new_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: weight and bias ~ U(-1/sqrt(in1), 1/sqrt(in1))."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )

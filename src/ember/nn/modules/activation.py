"""Activation layers: thin modules over ember.nn.functional, with PyTorch's reprs."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.init import constant_
from ember.nn.modules._factory import new_parameter
from ember.nn.modules.module import Module


def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """Same as torch.nn.ReLU."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Threshold(Module):
    """Same as torch.nn.Threshold."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        suffix = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{suffix}"


class LeakyReLU(Module):
    """Same as torch.nn.LeakyReLU."""

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        suffix = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{suffix}"


class PReLU(Module):
    """Same as torch.nn.PReLU: a learnt negative slope (one, or one per channel)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = new_parameter(num_parameters, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """Every slope to `init`."""
        constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Same as torch.nn.RReLU."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        suffix = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{suffix}"


class GELU(Module):
    """Same as torch.nn.GELU."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class _Simple(Module):
    """An activation with only an inplace flag."""

    _name = ""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return getattr(F, self._name)(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class SiLU(_Simple):
    """Same as torch.nn.SiLU."""

    _name = "silu"


class Mish(_Simple):
    """Same as torch.nn.Mish."""

    _name = "mish"


class SELU(_Simple):
    """Same as torch.nn.SELU."""

    _name = "selu"


class Hardsigmoid(_Simple):
    """Same as torch.nn.Hardsigmoid."""

    _name = "hardsigmoid"


class Hardswish(_Simple):
    """Same as torch.nn.Hardswish."""

    _name = "hardswish"


class ELU(Module):
    """Same as torch.nn.ELU."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        suffix = ", inplace=True" if self.inplace else ""
        return f"alpha={self.alpha}{suffix}"


class CELU(ELU):
    """Same as torch.nn.CELU."""

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class Hardtanh(Module):
    """Same as torch.nn.Hardtanh."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError("max_val must be larger than min_val")

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        suffix = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{suffix}"


class ReLU6(Hardtanh):
    """Same as torch.nn.ReLU6."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class _NoArgs(Module):
    _name = ""

    def forward(self, input):
        return getattr(F, self._name)(input)


class Sigmoid(_NoArgs):
    """Same as torch.nn.Sigmoid."""

    _name = "sigmoid"


class Tanh(_NoArgs):
    """Same as torch.nn.Tanh."""

    _name = "tanh"


class Softsign(_NoArgs):
    """Same as torch.nn.Softsign."""

    _name = "softsign"


class LogSigmoid(_NoArgs):
    """Same as torch.nn.LogSigmoid."""

    _name = "logsigmoid"


class Tanhshrink(_NoArgs):
    """Same as torch.nn.Tanhshrink."""

    _name = "tanhshrink"


class Softplus(Module):
    """Same as torch.nn.Softplus."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class _Shrink(Module):
    _name = ""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return getattr(F, self._name)(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(_Shrink):
    """Same as torch.nn.Softshrink."""

    _name = "softshrink"


class Hardshrink(_Shrink):
    """Same as torch.nn.Hardshrink."""

    _name = "hardshrink"


class GLU(Module):
    """Same as torch.nn.GLU."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class _SoftmaxBase(Module):
    _name = ""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("dim", None)

    def forward(self, input):
        return getattr(F, self._name)(input, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """Same as torch.nn.Softmax."""

    _name = "softmax"


class LogSoftmax(_SoftmaxBase):
    """Same as torch.nn.LogSoftmax."""

    _name = "log_softmax"


class Softmin(_SoftmaxBase):
    """Same as torch.nn.Softmin."""

    _name = "softmin"


class Softmax2d(Module):
    """Same as torch.nn.Softmax2d: softmax over the channel dim of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead"
            )
        return F.softmax(input, -3)


# PyTorch defines MultiheadAttention in this module, and programs import it from here.
from ember.nn.modules.attention import MultiheadAttention  # noqa: E402, F401

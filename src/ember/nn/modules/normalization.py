"""Normalisation layers: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm, LRN."""

from __future__ import annotations

import numbers

from ember.autograd.grad_mode import no_grad
from ember.nn import functional as F
from ember.nn import init
from ember.nn.functional.normalization import check_batch_norm_args
from ember.nn.modules._factory import new_parameter
from ember.nn.modules.module import Module
from ember.ops.creation import ones, tensor, zeros


def _add_affine(module, shape, affine, bias, device, dtype):
    """Register the learnable weight and bias of a norm layer (None where there are none)."""
    weight = new_parameter(*shape, device=device, dtype=dtype) if affine else None
    module.register_parameter("weight", weight)
    with_bias = affine and bias
    module.register_parameter(
        "bias", new_parameter(*shape, device=device, dtype=dtype) if with_bias else None
    )


def _reset_affine(module):
    """Weight to ones, bias to zeros (where they exist)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """Running statistics and affine parameters shared by BatchNorm and InstanceNorm."""

    _version = 2

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _add_affine(self, (num_features,), affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """Same as torch.nn.BatchNorm2d.reset_running_stats."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Running stats to (0, 1); weight to ones and bias to zeros."""
        self.reset_running_stats()
        _reset_affine(self)

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict,
        prefix,
        local_metadata,
        strict,
        missing_keys,
        unexpected_keys,
        error_msgs,
        assign=False,
    ):
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            # checkpoints from before num_batches_tracked existed
            state_dict[key] = (
                self.num_batches_tracked if self.num_batches_tracked is not None else tensor(0)
            )
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
            assign,
        )


class _BatchNorm(_NormBase):
    _dims = ()

    def _check_input_dim(self, input):
        if input.dim() not in self._dims:
            expected = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"expected {expected} input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if self.training and input.shape[1] and input.numel() // input.shape[1] == 1:
            raise ValueError(  # before num_batches_tracked moves
                "Expected more than 1 value per channel when training, got input size "
                f"ember.Size({list(input.shape)})"
            )
        check_batch_norm_args(
            input, self.running_mean, self.running_var, self.weight, self.bias
        )  # before num_batches_tracked moves
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Same as torch.nn.BatchNorm1d: (N, C) or (N, C, L) input."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over each channel of a batch of images, as torch.nn.BatchNorm2d.

    `y = (x - mean) / sqrt(var + eps) * weight + bias`, with mean and var taken per channel
    over the batch and both spatial dimensions. In training mode the batch's own statistics
    are used (var biased) and the running estimates move towards them:
    `running = (1 - momentum) * running + momentum * batch_stat` (running_var with the
    unbiased batch variance). In eval mode (`module.eval()`) the running estimates are used.

    Args:
        num_features (int): the number of channels C.
        eps (float): added to the variance for numerical stability.
        momentum (float | None): weight of each new batch in the running estimates; None for
            a cumulative average over all batches seen.
        affine (bool): if True, learn a per-channel `weight` (ones) and `bias` (zeros).
        track_running_stats (bool): if True, keep `running_mean`, `running_var` and
            `num_batches_tracked` as buffers (saved in the state_dict); if False, batch
            statistics are used in eval mode too.
        device (str | ember.device | None): where parameters and buffers live; the CPU if None.
        dtype (ember.dtype | None): their dtype; the default dtype if None.

    Shape:
        - Input: `(N, C, H, W)`.
        - Output: `(N, C, H, W)`, the same shape.

    Examples:
        >>> import ember
        >>> bn = ember.nn.BatchNorm2d(16)
        >>> y = bn(ember.randn(8, 16, 10, 10) * 3 + 5)
        >>> abs(y.mean().item()) < 1e-5, round(y.std().item(), 2)
        (True, 1.0)
        >>> bn.num_batches_tracked.item()
        1
    """

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Same as torch.nn.BatchNorm3d."""

    _dims = (5,)


class _InstanceNorm(_NormBase):
    _nd = 2

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=False,
        track_running_stats=False,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, input):
        nd = self._nd
        if input.dim() not in (nd + 1, nd + 2):
            raise ValueError(f"expected {nd + 1}D or {nd + 2}D input (got {input.dim()}D input)")
        batched = input.dim() == nd + 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(
                f"expected input's size at dim={1 if batched else 0} to match num_features "
                f"({self.num_features}), but got: {x.shape[1]}."
            )
        out = F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out if batched else out.squeeze(0)


class InstanceNorm1d(_InstanceNorm):
    """Same as torch.nn.InstanceNorm1d."""

    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Same as torch.nn.InstanceNorm2d."""

    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    """Same as torch.nn.InstanceNorm3d."""

    _nd = 3


def _shape(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(normalized_shape)


class LayerNorm(Module):
    """Same as torch.nn.LayerNorm."""

    def __init__(
        self,
        normalized_shape,
        eps=1e-5,
        elementwise_affine=True,
        bias=True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _add_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """Weight to ones, bias to zeros."""
        _reset_affine(self)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Same as torch.nn.GroupNorm."""

    def __init__(
        self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True
    ):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _add_affine(self, (num_channels,), affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """Weight to ones, bias to zeros."""
        _reset_affine(self)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Same as torch.nn.RMSNorm."""

    def __init__(
        self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = new_parameter(*self.normalized_shape, device=device, dtype=dtype)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Weight to ones."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class LocalResponseNorm(Module):
    """Same as torch.nn.LocalResponseNorm."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

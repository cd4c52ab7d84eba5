"""Loss modules: each holds its options and calls ember.nn.functional."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.functional.loss import legacy_reduction
from ember.nn.modules.module import Module


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = legacy_reduction(size_average, reduce)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Same as torch.nn.L1Loss."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """The mean squared error between input and target, as torch.nn.MSELoss.

    Each element contributes `(input - target) ** 2`; `reduction` says how they are combined.

    Args:
        size_average: deprecated (use `reduction`); when given, with `reduce`, sets it as
            PyTorch does.
        reduce: deprecated (use `reduction`).
        reduction (str): `"mean"` (the default) averages over all elements, `"sum"` adds
            them up, `"none"` returns them unreduced.

    Shape:
        - input: any shape.
        - target: the same shape (or one that broadcasts to it, with PyTorch's warning).
        - output: a scalar, or the input's shape with `reduction="none"`.

    Examples:
        >>> import ember
        >>> loss_fn = ember.nn.MSELoss()
        >>> prediction = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> loss = loss_fn(prediction, ember.tensor([1.0, 2.0, 5.0]))
        >>> round(loss.item(), 4)                       # (0 + 0 + 2 ** 2) / 3
        1.3333
        >>> loss.backward()
        >>> prediction.grad.tolist()                     # 2 * (input - target) / 3
        [0.0, 0.0, -1.3333333730697632]
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Same as torch.nn.SmoothL1Loss."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Same as torch.nn.HuberLoss."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_WeightedLoss):
    """Same as torch.nn.NLLLoss."""

    def __init__(
        self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class NLLLoss2d(NLLLoss):
    """Same as torch.nn.NLLLoss2d (deprecated there): NLLLoss."""


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy between unnormalized scores (logits) and targets, as
    torch.nn.CrossEntropyLoss: log_softmax over the class dimension, then the negative
    log-likelihood.

    For a sample with logits x and class index y, the loss is
    `-weight[y] * log(softmax(x)[y])`. Targets may instead be class probabilities of the
    input's shape (soft labels), each sample's loss then being
    `-sum_c weight[c] * p[c] * log(softmax(x)[c])`.

    Args:
        weight (Tensor | None): a rescaling weight per class, shape `(C,)`; with
            `reduction="mean"` and class-index targets the mean is weighted by it.
        size_average: deprecated (use `reduction`).
        ignore_index (int): a class-index target to skip (it adds nothing to the loss or
            to the mean's denominator).
        reduce: deprecated (use `reduction`).
        reduction (str): `"mean"` (the default), `"sum"` or `"none"`.
        label_smoothing (float): in [0, 1]: the target becomes a mix of the given class and
            a uniform distribution over the C classes, with this weight on the uniform part.

    Shape:
        - input: `(N, C)`, unbatched `(C,)`, or `(N, C, d_1, ..., d_K)` for a loss per
          position (e.g. per pixel).
        - target: class indices (an integer tensor) of shape `(N,)`, `()` or
          `(N, d_1, ..., d_K)`, each in [0, C); or class probabilities of the input's shape.
        - output: a scalar, or the target's shape without C with `reduction="none"`.

    Examples:
        >>> import ember
        >>> loss_fn = ember.nn.CrossEntropyLoss()
        >>> logits = ember.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], requires_grad=True)
        >>> loss = loss_fn(logits, ember.tensor([0, 2]))
        >>> round(loss.item(), 4)
        0.1755
        >>> loss.backward()
        >>> tuple(logits.grad.shape)
        (2, 3)
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index=-100,
        reduce=None,
        reduction="mean",
        label_smoothing=0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class BCELoss(_WeightedLoss):
    """Same as torch.nn.BCELoss."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Same as torch.nn.BCEWithLogitsLoss."""

    def __init__(
        self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )


class KLDivLoss(_Loss):
    """Same as torch.nn.KLDivLoss."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    """Same as torch.nn.PoissonNLLLoss."""

    def __init__(
        self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"
    ):
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """Same as torch.nn.GaussianNLLLoss."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


class _MarginLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class CosineEmbeddingLoss(_MarginLoss):
    """Same as torch.nn.CosineEmbeddingLoss."""

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class MarginRankingLoss(_MarginLoss):
    """Same as torch.nn.MarginRankingLoss."""

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class HingeEmbeddingLoss(_MarginLoss):
    """Same as torch.nn.HingeEmbeddingLoss."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Same as torch.nn.SoftMarginLoss."""

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Same as torch.nn.MultiLabelSoftMarginLoss."""

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(
            input, target, weight=self.weight, reduction=self.reduction
        )


class MultiMarginLoss(_WeightedLoss):
    """Same as torch.nn.MultiMarginLoss."""

    def __init__(
        self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"
    ):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return F.multi_margin_loss(
            input,
            target,
            p=self.p,
            margin=self.margin,
            weight=self.weight,
            reduction=self.reduction,
        )


class TripletMarginLoss(_Loss):
    """Same as torch.nn.TripletMarginLoss."""

    def __init__(
        self,
        margin=1.0,
        p=2.0,
        eps=1e-6,
        swap=False,
        size_average=None,
        reduce=None,
        reduction="mean",
    ):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


class TripletMarginWithDistanceLoss(_Loss):
    """Same as torch.nn.TripletMarginWithDistanceLoss."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(None, None, reduction)
        self.distance_function = distance_function
        self.margin = margin
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )

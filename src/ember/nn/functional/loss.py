"""Loss functions of torch.nn.functional, built on ember ops (stable at logits of +-1e4)."""

from __future__ import annotations

import warnings

import numpy

from ember import ops
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._table import S, register
from ember.ops.activation import log_softmax
from ember.ops.activation_math import logsigmoid
from ember.ops.indexing import type_word
from ember.ops.linalg_extra import vector_norm
from ember.ops.nn_extra import binary_cross_entropy_elementwise
from ember.ops.shape import broadcast_shape_of


def legacy_reduction(size_average, reduce, emit_warning=True):
    """PyTorch's mapping of the deprecated size_average/reduce flags to a reduction string."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        result = "mean"
    elif reduce:
        result = "sum"
    else:
        result = "none"
    if emit_warning:
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{result}' "
            "instead.",
            stacklevel=3,
        )
    return result


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    return reduction


def reduce_loss(loss, reduction):
    """Apply 'none', 'mean' or 'sum'."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _size(shape):
    return f"ember.Size({list(shape)})"


def _check_target_shape(input, target, op):
    """PyTorch broadcasts a target of another shape, with a warning; one that does not
    broadcast is an error naming the loss."""
    if input.shape != target.shape:
        broadcast_shape_of((input, target), op)
        warnings.warn(
            f"Using a target size ({_size(target.shape)}) that is different to the input size "
            f"({_size(input.shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _weighted(loss, weight):
    return loss if weight is None else loss * weight


def _check_weight(input, weight):
    if weight is not None and weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")


def _weighted_reduce(loss, weight, reduction):
    """mse/l1 with a weight: 'mean' divides by the weights' sum, as PyTorch."""
    if weight is None:
        return reduce_loss(loss, reduction)
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return reduce_loss(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Same as torch.nn.functional.mse_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_target_shape(input, target, "mse_loss")
    _check_weight(input, weight)
    diff = input - target
    return _weighted_reduce(diff * diff, weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Same as torch.nn.functional.l1_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_target_shape(input, target, "l1_loss")
    _check_weight(input, weight)
    return _weighted_reduce((input - target).abs(), weight, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Same as torch.nn.functional.smooth_l1_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _check_target_shape(input, target, "smooth_l1_loss")
    diff = (input - target).abs()
    if beta == 0:
        return reduce_loss(diff, reduction)
    loss = ops.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return reduce_loss(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Same as torch.nn.functional.huber_loss."""
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _check_target_shape(input, target, "huber_loss")
    _check_weight(input, weight)
    diff = (input - target).abs()
    loss = ops.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    return reduce_loss(_weighted(loss, weight), reduction)


# --- classification ---
def _class_targets(input, target):
    """Check shapes for nll_loss; return (input as (N, C, *d), target array (N, *d), unbatched)."""
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    if input.dim() == 1:
        if target.dim() != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        return input.reshape(1, -1), _long_targets(target).reshape(1), True
    if target.dim() == 0 or input.shape[0] != target.shape[0]:
        batch = 1 if target.dim() == 0 else target.shape[0]
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({batch})."
        )
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        if input.dim() == 2:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    return input, _long_targets(target), False


def _long_targets(target):
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(
            "nll_loss: expected target dtype to be Long or Byte, but got "
            f"{type_word(target)}; convert it with target.long()"
        )
    return target._data


def _picked_and_weights(input, target, weight, ignore_index):
    """-input at each target class, and each element's weight (0 where ignored)."""
    xp = _xp(input)
    classes = input.shape[1]
    valid = target != ignore_index
    safe = xp.where(valid, target, 0).astype("int64")
    if safe.size:
        low, high = int(safe.min()), int(safe.max())
        if low < 0 or high >= classes:
            raise IndexError(f"Target {low if low < 0 else high} is out of bounds.")
    index = []
    for d, n in enumerate(target.shape):
        shape = [1] * target.ndim
        shape[d] = n
        index.append(xp.arange(n, dtype="int64").reshape(shape))
    index.insert(1, safe)
    index = tuple(Tensor._make(xp.broadcast_to(i, target.shape)) for i in index)
    picked = input[index]
    dtype = input._data.dtype
    w = valid.astype(dtype) if weight is None else weight._data[safe] * valid
    return picked, Tensor._make(w.astype(dtype, copy=False))


def _xp(t):
    from ember._backend import array_module

    return array_module(t._data)


def nll_loss(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.nll_loss (class dim 1; any number of extra dims)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, t, unbatched = _class_targets(input, target)
    if weight is not None and weight.numel() != x.shape[1]:
        raise RuntimeError(
            f"weight tensor should be defined either for all {x.shape[1]} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )
    picked, w = _picked_and_weights(x, t, weight, ignore_index)
    loss = -picked * w
    if reduction == "none":
        return loss.reshape(()) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """Same as torch.nn.functional.cross_entropy: log_softmax over dim 1, then nll_loss.

    Class-index or class-probability targets; weight, ignore_index, label_smoothing.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.dim() == 1 else 1
    logp = log_softmax(input, class_dim)
    classes = input.shape[class_dim]
    weight_view = None
    if weight is not None:
        shape = [1] * input.dim()
        shape[class_dim] = classes
        weight_view = weight.reshape(shape)
    if target.shape == input.shape:  # class probabilities, as PyTorch decides
        if not is_floating(target._data.dtype):
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{target.dtype.name.capitalize()}"
            )
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        terms = logp * target
        if weight_view is not None:
            terms = terms * weight_view
        loss = -terms.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() / classes if classes else 0)
        return reduce_loss(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    smooth = -(logp if weight_view is None else logp * weight_view).sum(class_dim)
    ignored = Tensor._make(target._data == ignore_index)
    smooth = ops.where(ignored, 0.0, smooth)
    if reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / float((~ignored._data).sum())
        else:
            safe = _xp(target).where(ignored._data, 0, target._data)
            kept = weight._data[safe] * ~ignored._data
            smooth = smooth.sum() / Tensor._make(kept.sum())
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.binary_cross_entropy (logs clamped at -100)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({_size(target.shape)}) that is different to the input size "
            f"({_size(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    loss = binary_cross_entropy_elementwise(input, target)
    return reduce_loss(_weighted(loss, weight), reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """Same as torch.nn.functional.binary_cross_entropy_with_logits (stable for any logit)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({_size(target.shape)}) must be the same as input size "
            f"({_size(input.shape)})"
        )
    # -log(sigmoid(x)) through a stable primitive, whose gradient is right at x = 0 too
    neg_log_sigmoid = -logsigmoid(input)
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * neg_log_sigmoid
    else:
        loss = (1 - target) * input + neg_log_sigmoid
    return reduce_loss(_weighted(loss, weight), reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Same as torch.nn.functional.kl_div: target * (log(target) - input), pointwise."""
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = ops.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() else 1)
    _check_reduction(reduction)
    return reduce_loss(loss, reduction)


def poisson_nll_loss(
    input,
    target,
    log_input=True,
    full=False,
    size_average=None,
    eps=1e-8,
    reduce=None,
    reduction="mean",
):
    """Same as torch.nn.functional.poisson_nll_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        safe = ops.where(target > 1, target, 1.0)  # keeps log finite where the term is unused
        stirling = safe * safe.log() - safe + (safe * (2 * numpy.pi)).log() * 0.5
        loss = loss + ops.where(target > 1, stirling, 0.0)
    return reduce_loss(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Same as torch.nn.functional.gaussian_nll_loss."""
    _check_reduction(reduction)
    if not isinstance(var, Tensor):
        var = ops.full_like(input, float(var))
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if bool((var._data < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = ops.where(var < eps, eps, var) if var.requires_grad else var.clamp(min=eps)
    diff = input - target
    loss = 0.5 * (var.log() + diff * diff / var)
    if full:
        loss = loss + 0.5 * numpy.log(2 * numpy.pi)
    return reduce_loss(loss, reduction)


# --- embeddings and margins ---
def cosine_embedding_loss(
    input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.cosine_embedding_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    dim = input1.dim() - 1
    eps = 1e-12
    dot = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + eps
    mag2 = (input2 * input2).sum(dim) + eps
    cos = dot / (mag1 * mag2).sqrt()
    positive = ops.where(target == 1, 1 - cos, 0.0)
    negative = ops.where(target == -1, (cos - margin).clamp(min=0.0), 0.0)
    return reduce_loss(positive + negative, reduction)


def margin_ranking_loss(
    input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.margin_ranking_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not (input1.dim() == input2.dim() == target.dim()):
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {_size(input1.shape)}, input2: {_size(input2.shape)}, "
            f"target: {_size(target.shape)} "
        )
    loss = (-target * (input1 - input2) + margin).clamp(min=0.0)
    return reduce_loss(loss, reduction)


def hinge_embedding_loss(
    input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.hinge_embedding_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    margin_part = ops.where(target == -1, (margin - input).clamp(min=0.0), 0.0)
    self_part = ops.where(target == 1, input, 0.0)
    return reduce_loss(margin_part + self_part, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Same as torch.nn.functional.soft_margin_loss: log(1 + exp(-y x))."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return reduce_loss(-logsigmoid(target * input), reduction)


def multilabel_soft_margin_loss(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.multilabel_soft_margin_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    loss = _weighted(loss, weight)
    loss = loss.sum(input.dim() - 1) / input.shape[-1]
    return reduce_loss(loss, reduction)


def multi_margin_loss(
    input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """Same as torch.nn.functional.multi_margin_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x = input if input.dim() == 2 else input.reshape(1, -1)
    t = target._data.reshape(-1)
    xp = _xp(input)
    rows = xp.arange(x.shape[0], dtype="int64")
    correct = x[Tensor._make(rows), Tensor._make(t)].reshape(-1, 1)
    margins = (x - correct + margin).clamp(min=0.0)
    if p == 2:
        margins = margins * margins
    if weight is not None:
        margins = margins * Tensor._make(weight._data[t]).reshape(-1, 1)
    not_target = Tensor._make(xp.arange(x.shape[1])[None, :] != t[:, None])
    loss = ops.where(not_target, margins, 0.0).sum(1) / x.shape[1]
    if input.dim() != 2:
        loss = loss.reshape(())
    return reduce_loss(loss, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """Same as torch.nn.functional.pairwise_distance: ||x1 - x2 + eps||_p over the last dim."""
    diff = x1 - x2 + eps
    dim = max(x1.dim(), x2.dim()) - 1
    if dim < 0:
        return diff.abs() if p != 0 else (diff != 0).to(diff.dtype)
    return _norm(diff, p, dim, keepdim)


def _norm(x, p, dim, keepdim):
    """The p-norm along dim; at a zero vector its gradient is 0 (not 0/0), as PyTorch's."""
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim=keepdim)
    return vector_norm(x, p, dim, keepdim)


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin=1.0,
    p=2,
    eps=1e-6,
    swap=False,
    size_average=None,
    reduce=None,
    reduction="mean",
):
    """Same as torch.nn.functional.triplet_margin_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    dims = (anchor.dim(), positive.dim(), negative.dim())
    if len(set(dims)) != 1 or dims[0] not in (1, 2):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and negative "
            f"{dims[2]}D inputs"
        )
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_neg = ops.minimum(d_neg, d_swap)
    loss = (d_pos - d_neg + margin).clamp(min=0.0)
    return reduce_loss(loss, reduction)


def triplet_margin_with_distance_loss(
    anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False, reduction="mean"
):
    """Same as torch.nn.functional.triplet_margin_with_distance_loss."""
    _check_reduction(reduction)
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = ops.minimum(d_neg, distance(positive, negative))
    loss = (d_pos - d_neg + margin).clamp(min=0.0)
    return reduce_loss(loss, reduction)


# --- op-table samples: each loss checked like an op (finite differences to second order,
# PyTorch's values and vector-Jacobian products, its device kept) and drawn by the fuzzer
def _labels(lib, like, values):
    """Class indices or +-1 labels for a sample call, on the device of the input."""
    return lib.tensor(values, device=like.device)


def _constant(lib, like, values):
    return lib.tensor(values, dtype=like.dtype, device=like.device)


_PAIR = (S((3, 4), (3, 4)), S((5,), (5,), reduction="sum"), S((2, 3), (2, 3), reduction="none"))
register("mse_loss", lambda lib, a, b, **kw: lib.nn.functional.mse_loss(a, b, **kw), _PAIR)(
    mse_loss
)
register("l1_loss", lambda lib, a, b, **kw: lib.nn.functional.l1_loss(a, b, **kw), _PAIR)(l1_loss)
register(
    "smooth_l1_loss",
    lambda lib, a, b, **kw: lib.nn.functional.smooth_l1_loss(a, b, **kw),
    (S((3, 4), (3, 4), beta=0.5), S((6,), (6,), beta=0.0, reduction="none")),
)(smooth_l1_loss)
register(
    "huber_loss",
    lambda lib, a, b, **kw: lib.nn.functional.huber_loss(a, b, **kw),
    (S((3, 4), (3, 4), delta=0.7), S((5,), (5,), reduction="none")),
)(huber_loss)
register(
    "cross_entropy",
    lambda lib, x, *soft, target=None, weight=None, **kw: lib.nn.functional.cross_entropy(
        x,
        soft[0].softmax(1) if soft else _labels(lib, x, target),
        weight=None if weight is None else _constant(lib, x, weight),
        **kw,
    ),
    (
        S((3, 5), target=[0, 4, 2]),
        S((3, 5), target=[0, 4, 2], label_smoothing=0.2, reduction="sum"),
        S((2, 4, 3), target=[[0, 1, 3], [2, 2, 0]]),
        S((4, 3), target=[0, -100, 2, 1], weight=[1.0, 2.0, 0.5]),
        S((3, 4), (3, 4)),
        S((5,), target=3),
    ),
)(cross_entropy)
register(
    "nll_loss",
    lambda lib, x, target, **kw: lib.nn.functional.nll_loss(x, _labels(lib, x, target), **kw),
    (S((3, 5), target=[0, 4, 2]), S((2, 3, 2), target=[[0, 2], [1, 1]], reduction="none")),
)(nll_loss)
register(
    "binary_cross_entropy_with_logits",
    lambda lib, x, y, pos_weight=None, **kw: lib.nn.functional.binary_cross_entropy_with_logits(
        x,
        y.sigmoid(),
        pos_weight=None if pos_weight is None else _constant(lib, x, pos_weight),
        **kw,
    ),
    (S((3, 4), (3, 4)), S((2, 3), (2, 3), pos_weight=[0.5, 1.0, 2.0], reduction="sum")),
)(binary_cross_entropy_with_logits)
register(
    "kl_div",
    lambda lib, a, b, log_target=False, **kw: lib.nn.functional.kl_div(
        a.log_softmax(-1),
        b.log_softmax(-1) if log_target else b.softmax(-1),
        log_target=log_target,
        **kw,
    ),
    (S((3, 4), (3, 4), reduction="batchmean"), S((2, 5), (2, 5), log_target=True, reduction="sum")),
)(kl_div)
register(
    "poisson_nll_loss",
    lambda lib, a, b, **kw: lib.nn.functional.poisson_nll_loss(a, b * b, **kw),
    (S((3, 4), (3, 4)), S((5,), (5,), full=True)),
)(poisson_nll_loss)
register(
    "gaussian_nll_loss",
    lambda lib, a, b, v, **kw: lib.nn.functional.gaussian_nll_loss(a, b, v.exp(), **kw),
    (S((3, 4), (3, 4), (3, 4)), S((4, 2), (4, 2), (4, 1), full=True, reduction="sum")),
)(gaussian_nll_loss)
register(
    "cosine_embedding_loss",
    lambda lib, a, b, target, **kw: lib.nn.functional.cosine_embedding_loss(
        a, b, _labels(lib, a, target), **kw
    ),
    (S((3, 4), (3, 4), target=[1, -1, 1], margin=0.2),),
)(cosine_embedding_loss)
register(
    "margin_ranking_loss",
    lambda lib, a, b, target, **kw: lib.nn.functional.margin_ranking_loss(
        a, b, _constant(lib, a, target), **kw
    ),
    (S((5,), (5,), target=[1.0, -1.0, 1.0, -1.0, 1.0], margin=0.1),),
)(margin_ranking_loss)
register(
    "hinge_embedding_loss",
    lambda lib, x, target, **kw: lib.nn.functional.hinge_embedding_loss(
        x, _constant(lib, x, target), **kw
    ),
    (S((5,), target=[1.0, -1.0, 1.0, -1.0, -1.0]),),
    avoid=(1.0,),  # the hinge's kink at margin 1
)(hinge_embedding_loss)
register(
    "soft_margin_loss",
    lambda lib, x, target: lib.nn.functional.soft_margin_loss(x, _constant(lib, x, target)),
    (S((2, 3), target=[[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]]),),
)(soft_margin_loss)
register(
    "multilabel_soft_margin_loss",
    lambda lib, x, target: lib.nn.functional.multilabel_soft_margin_loss(
        x, _constant(lib, x, target)
    ),
    (S((2, 3), target=[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),),
)(multilabel_soft_margin_loss)
register(
    "multi_margin_loss",
    lambda lib, x, target, **kw: lib.nn.functional.multi_margin_loss(
        x, _labels(lib, x, target), **kw
    ),
    (S((3, 5), target=[0, 4, 2]), S((2, 4), target=[1, 3], p=2, margin=0.5)),
)(multi_margin_loss)
register(
    "pairwise_distance",
    lambda lib, a, b, **kw: lib.nn.functional.pairwise_distance(a, b, **kw),
    (S((3, 4), (3, 4)), S((5,), (5,), p=1.0, keepdim=True), S((2, 3), (1, 3), p=3.0)),
)(pairwise_distance)
register(
    "triplet_margin_loss",
    lambda lib, a, p, n, **kw: lib.nn.functional.triplet_margin_loss(a, p, n, **kw),
    (S((3, 4), (3, 4), (3, 4)), S((2, 3), (2, 3), (2, 3), swap=True, margin=0.5)),
)(triplet_margin_loss)

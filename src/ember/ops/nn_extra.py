"""Neural-network ops that are not elementwise: padding, embedding lookups, dropout masks,
one_hot, pixel shuffles and interpolation.
"""

from __future__ import annotations

from ember import _backend
from ember._backend import array_module
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._primitive import Primitive
from ember.ops._table import S, register
from ember.ops.creation import rand
from ember.ops.pointwise_extra import quiet


# --- padding ---
@register(
    "constant_pad",
    lambda lib, x, **kw: lib.nn.functional.pad(x, **kw),
    (
        S((2, 3, 4), pad=(1, 2)),
        S((2, 3, 4), pad=(1, -1, 2, 0), value=0.5),
        S((3, 4), pad=(0, 0, 1, 1)),
        S((2, 3, 4), pad=(1, 1, 0, 2, 1, 0)),
    ),
)
class ConstantPad(Primitive):
    """x inside a border of `value` (negative widths crop); its adjoint is the inverse pad."""

    node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pairs, value):
        ctx.pairs = pairs
        xp = array_module(x)
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pairs))
        out = xp.full_like(x, value, shape=shape)
        src, dst = [], []
        for n, (lo, hi) in zip(x.shape, pairs):
            start = max(-lo, 0)
            stop = n - max(-hi, 0)
            src.append(slice(start, max(stop, start)))
            dst.append(slice(max(lo, 0), max(lo, 0) + max(stop - start, 0)))
        out[tuple(dst)] = x[tuple(src)]
        return out

    @staticmethod
    def backward(ctx, grad):
        negated = tuple((-lo, -hi) for lo, hi in ctx.pairs)
        return ConstantPad.apply(grad, negated, 0), None, None


def _pad_positions(xp, n, lo, hi, mode):
    """The input index each output position reads for reflect/replicate/circular padding."""
    j = xp.arange(-lo, n + hi, dtype="int64")
    if mode == "reflect":
        j = xp.abs(j)
        return xp.where(j >= n, 2 * (n - 1) - j, j)
    if mode == "replicate":
        return xp.clip(j, 0, n - 1)
    return j % n  # circular


_NON_CONSTANT = ("reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Same as torch.nn.functional.pad (constant, reflect, replicate, circular)."""
    pad = [int(p) for p in pad]
    ndim = input._data.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {ndim}"
        )
    n_padded = len(pad) // 2
    pairs = [(0, 0)] * (ndim - n_padded) + [
        (pad[2 * i], pad[2 * i + 1]) for i in reversed(range(n_padded))
    ]
    if mode == "constant":
        for n, (lo, hi) in zip(input.shape, pairs):
            if n + lo + hi < 0:
                raise RuntimeError(
                    f"The input size {n}, plus negative padding {lo} and {hi} resulted in a "
                    "negative output size, which is invalid. Check dimension of your input."
                )
        return ConstantPad.apply(input, tuple(pairs), 0 if value is None else value)
    if mode not in _NON_CONSTANT:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if n_padded not in (1, 2, 3) or ndim not in (n_padded + 1, n_padded + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    xp = array_module(input._data)
    out = input
    for dim in range(ndim - n_padded, ndim):
        lo, hi = pairs[dim]
        if not (lo or hi):
            continue
        n = input._data.shape[dim]
        too_big = lo >= n or hi >= n if mode == "reflect" else lo > n or hi > n
        if mode != "replicate" and too_big or min(lo, hi) < 0:
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                f"{list(input.shape)}"
            )
        index = Tensor._make(_pad_positions(xp, n, lo, hi, mode))
        out = out[(Ellipsis, index) + (slice(None),) * (ndim - 1 - dim)]
    return out


for _mode in _NON_CONSTANT:
    register(
        f"pad_{_mode}",
        lambda lib, x, mode=_mode, **kw: lib.nn.functional.pad(x, mode=mode, **kw),
        (S((2, 3, 5), pad=(2, 1)), S((1, 2, 4, 3), pad=(1, 2, 2, 0))),
    )(pad)


# --- one_hot ---
def one_hot(tensor, num_classes=-1):
    """Same as torch.nn.functional.one_hot: an int64 tensor with a trailing class dim."""
    if tensor._data.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    data = tensor._data
    xp = array_module(data)
    if num_classes == -1:
        num_classes = int(data.max()) + 1 if data.size else 0
    if data.size and int(data.min()) < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if data.size and int(data.max()) >= num_classes:
        raise RuntimeError(
            f"one_hot: Class values must be smaller than num_classes ({num_classes})."
        )
    out = data[..., None] == xp.arange(num_classes, dtype=data.dtype)
    return Tensor._make(out.astype("int64"))


# --- embedding ---
def _index_array(indices, op):
    if not isinstance(indices, Tensor) or indices._data.dtype.kind not in "iu":
        kind = indices.type() if isinstance(indices, Tensor) else type(indices).__name__
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {kind} instead (while checking arguments for {op})"
        )
    return indices._data


def _row_factors(xp, flat, padding_idx, scale_grad_by_freq, dtype):
    """Per-lookup gradient factors: 0 at padding_idx, 1/count with scale_grad_by_freq."""
    if padding_idx is None and not scale_grad_by_freq:
        return None
    factors = xp.ones(flat.shape, dtype=dtype)
    if scale_grad_by_freq:
        _, inverse, counts = xp.unique(flat, return_inverse=True, return_counts=True)
        factors = factors / counts[inverse.reshape(-1)].astype(dtype)
    if padding_idx is not None:
        factors = xp.where(flat == padding_idx, 0, factors).astype(dtype)
    return factors


@register(
    "embedding",
    lambda lib, w: lib.nn.functional.embedding(lib.tensor([[0, 2], [3, 2]]), w),
    (S((5, 3)),),
)
class Embedding(Primitive):
    """weight rows gathered by index; the gradient skips padding_idx and can be freq-scaled."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        if ctx.needs_input_grad[0]:  # the no-grad ctx is shared: keep nothing on it
            ctx.spec = (indices, weight.shape[0], padding_idx, scale_grad_by_freq)
        return array_module(weight).take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        return EmbeddingGrad.apply(grad, *ctx.spec), None, None, None


@register(
    "embedding_grad",
    lambda lib, w: lib.nn.functional.embedding(lib.tensor([1, 1, 4]), w) * w[:3],
    (S((5, 2)),),
)
class EmbeddingGrad(Primitive):
    """Embedding's backward: each lookup's gradient added into its row (repeats add up)."""

    node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, grad, indices, num_weights, padding_idx, scale_grad_by_freq):
        xp = array_module(grad)
        if ctx.needs_input_grad[0]:
            ctx.spec = (indices, padding_idx, scale_grad_by_freq)
        flat = indices.reshape(-1)
        rows = grad.reshape(flat.shape[0], -1)
        factors = _row_factors(xp, flat, padding_idx, scale_grad_by_freq, grad.dtype)
        if factors is not None:
            rows = rows * factors[:, None]
        out = xp.zeros_like(grad, shape=(num_weights, rows.shape[1]))
        _backend.add_at(out, flat, rows)
        return out

    @staticmethod
    def backward(ctx, grad):
        indices, padding_idx, scale = ctx.spec
        out = Embedding.apply(grad, indices, None, False)
        xp = array_module(indices)
        factors = _row_factors(xp, indices.reshape(-1), padding_idx, scale, grad._data.dtype)
        if factors is not None:
            out = out * Tensor._make(factors.reshape(indices.shape + (1,)))
        return out, None, None, None, None


def _renorm_rows(weight, indices, max_norm, norm_type):
    """Rescale (in place, untracked) the looked-up rows whose norm exceeds max_norm."""
    xp = array_module(weight._data)
    rows = xp.unique(indices.reshape(-1))
    w = weight._data
    norms = (xp.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w[rows] = w[rows] * scale[:, None]
    weight._vc[0] += 1


def _padding_index(padding_idx, num_weights):
    if padding_idx is None:
        return None
    if padding_idx >= num_weights or padding_idx < -num_weights:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx % num_weights


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Same as torch.nn.functional.embedding (sparse gradients are dense in ember)."""
    indices = _index_array(input, "embedding")
    num = weight._data.shape[0]
    if indices.size and (int(indices.max()) >= num or int(indices.min()) < 0):
        raise IndexError("index out of range in self")
    padding_idx = _padding_index(padding_idx, num)
    if max_norm is not None:
        _renorm_rows(weight, indices, max_norm, norm_type)
    return Embedding.apply(
        weight, indices.astype("int64", copy=False), padding_idx, bool(scale_grad_by_freq)
    )


def _bag_layout(input, offsets, include_last_offset, op):
    """(flat indices, bag id of each, number of bags) for 2-D input or 1-D input + offsets."""
    xp = array_module(input._data)
    if input._data.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated "
                "is a mini-batch of fixed length sequences."
            )
        bags, length = input._data.shape
        bag_of = xp.repeat(xp.arange(bags, dtype="int64"), length)
        return input._data.reshape(-1), bag_of, bags
    if input._data.ndim != 1:
        raise ValueError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input._data.ndim}"
        )
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    starts = offsets._data.astype("int64")
    if include_last_offset:
        starts = starts[:-1]
    bags = starts.shape[0]
    if bags and int(starts[0]) != 0:
        raise RuntimeError(
            f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
            f"has to start from position 0. However, got {int(starts[0])}"
        )
    total = input._data.shape[0]
    bag_of = xp.searchsorted(starts, xp.arange(total, dtype="int64"), side="right") - 1
    return input._data, bag_of, bags


def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm=None,
    norm_type=2,
    scale_grad_by_freq=False,
    mode="mean",
    sparse=False,
    per_sample_weights=None,
    include_last_offset=False,
    padding_idx=None,
):
    """Same as torch.nn.functional.embedding_bag (modes sum, mean, max)."""
    _index_array(input, "embedding_bag")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    flat, bag_of, bags = _bag_layout(input, offsets, include_last_offset, "embedding_bag")
    xp = array_module(flat)
    num = weight._data.shape[0]
    padding_idx = _padding_index(padding_idx, num)
    rows = embedding(
        Tensor._make(flat), weight, padding_idx, max_norm, norm_type, scale_grad_by_freq
    )
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    keep = xp.ones(flat.shape, dtype=bool) if padding_idx is None else flat != padding_idx
    if mode == "max":
        return _bag_max(rows, bag_of, keep, bags, xp)
    member = (bag_of[None, :] == xp.arange(bags, dtype="int64")[:, None]) & keep[None, :]
    matrix = member.astype(weight._data.dtype)
    if mode == "mean":
        counts = matrix.sum(axis=1, keepdims=True)
        matrix = matrix / xp.maximum(counts, 1)
    return Tensor._make(matrix).mm(rows)


def _bag_max(rows, bag_of, keep, bags, xp):
    """Max over each bag: rows padded into (bags, longest, dim); empty bags give 0."""
    positions = xp.arange(bag_of.shape[0], dtype="int64")
    counts = xp.zeros(bags, dtype="int64")
    _backend.add_at(counts, bag_of[keep], 1)
    longest = max(int(counts.max()) if bags else 0, 1)
    kept = positions[keep]
    kept_bags = bag_of[keep]
    first = xp.searchsorted(kept_bags, xp.arange(bags, dtype="int64"))
    slot = xp.arange(kept.shape[0], dtype="int64") - first[kept_bags]
    table = xp.zeros((bags, longest), dtype="int64")
    valid = xp.zeros((bags, longest), dtype=bool)
    table[kept_bags, slot] = kept
    valid[kept_bags, slot] = True
    gathered = rows[Tensor._make(table)]  # (bags, longest, dim)
    lowest = float(xp.finfo(rows._data.dtype).min)
    from ember.ops.pointwise import where

    masked = where(Tensor._make(valid[:, :, None]), gathered, lowest)
    best = masked.max(1).values
    return where(Tensor._make(counts[:, None] > 0), best, 0.0)


# --- binary cross entropy ---
@register(
    "binary_cross_entropy",
    lambda lib, x, y: lib.nn.functional.binary_cross_entropy(
        lib.sigmoid(x), lib.sigmoid(y), reduction="none"
    ),
    (S((3, 4), (3, 4)), S((5,), (5,))),
)
class BinaryCrossEntropy(Primitive):
    """-(y log x + (1 - y) log(1 - x)) with each log clamped at -100, as PyTorch.

    A primitive so its gradient is PyTorch's (x - y) / max(x (1 - x), 1e-12): the composite's
    would be infinite or zero at x = 0 or 1, where the clamp is active. The target's gradient
    is the slope of the clamped logs (PyTorch's is +-inf there).
    """

    @staticmethod
    def forward(ctx, x, y):
        xp = array_module(x)
        ctx.save_for_backward(x, y)
        with quiet(xp):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        return -(y * log_x + (1 - y) * log_1mx)

    @staticmethod
    def backward(ctx, grad):
        from ember.ops.pointwise import clamp, log

        x, y = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = grad * (x - y) / clamp(x * (1 - x), min=1e-12)
        if ctx.needs_input_grad[1]:
            gy = grad * (clamp(log(1 - x), min=-100) - clamp(log(x), min=-100))
        return gx, gy


def binary_cross_entropy_elementwise(input, target):
    """The unreduced, unweighted binary cross entropy (checked like PyTorch's)."""
    data = input._data
    if data.size and (bool((data < 0).any()) or bool((data > 1).any())):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if target._data.dtype != data.dtype:
        target = target.to(input.dtype)
    return BinaryCrossEntropy.apply(input, target)


# --- dropout ---
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input, shape, p):
    """A {0, 1/(1-p)} tensor of `shape` in the input's dtype, from ember's generator."""
    draw = rand(shape, dtype=input.dtype, device=input.device)._data
    scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
    return Tensor._make((draw >= p).astype(input._data.dtype) * input._data.dtype.type(scale))


def _apply_mask(input, mask, inplace):
    return input.mul_(mask) if inplace else input * mask


def dropout(input, p=0.5, training=True, inplace=False):
    """Same as torch.nn.functional.dropout."""
    _check_p(p)
    if not training or p == 0:
        return input
    return _apply_mask(input, _keep_mask(input, input.shape, p), inplace)


def _feature_mask_shape(input, nd, op):
    ndim = input._data.ndim
    batched = ndim == nd + 2
    if op == "dropout2d" and ndim == 3:
        warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead."
        )
        batched = True
    elif ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D or {nd + 2}D input, but received a {ndim}D input. Note "
            f"that {op} exists to provide channel-wise dropout on inputs with {nd} spatial "
            "dimension(s), a channel dimension, and an optional batch dimension."
        )
    lead = 2 if batched else 1
    return input.shape[:lead] + (1,) * (ndim - lead)


def _feature_dropout(input, p, training, inplace, nd, op):
    _check_p(p)
    if not training or p == 0:
        return input
    shape = _feature_mask_shape(input, nd, op)
    return _apply_mask(input, _keep_mask(input, shape, p), inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Same as torch.nn.functional.dropout1d: whole channels of (N, C, L) are dropped."""
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Same as torch.nn.functional.dropout2d."""
    return _feature_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Same as torch.nn.functional.dropout3d."""
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


_SELU_ALPHA_PRIME = -1.7580993408473766  # -selu scale * selu alpha


def _alpha(input, p, training, shape):
    _check_p(p)
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    keep = _keep_mask(input, shape, p)._data != 0
    q = 1.0 - p
    a = (q + _SELU_ALPHA_PRIME**2 * q * p) ** -0.5
    b = -a * _SELU_ALPHA_PRIME * p
    dtype = input._data.dtype
    mult = Tensor._make((keep * a).astype(dtype))
    add = Tensor._make(((~keep) * (a * _SELU_ALPHA_PRIME) + b).astype(dtype))
    return input * mult + add


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Same as torch.nn.functional.alpha_dropout (keeps SELU's mean and variance)."""
    return _alpha(input, p, training, input.shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Same as torch.nn.functional.feature_alpha_dropout."""
    ndim = input._data.ndim
    return _alpha(input, p, training, input.shape[:2] + (1,) * (ndim - 2))


# --- pixel shuffle ---
def pixel_shuffle(input, upscale_factor):
    """Same as torch.pixel_shuffle: (*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = int(upscale_factor)
    shape = input.shape
    if len(shape) < 3:
        raise RuntimeError(
            f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{len(shape)} dimension(s)"
        )
    *lead, c, h, w = shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return _fresh(x.reshape(*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """Same as torch.pixel_unshuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = int(downscale_factor)
    shape = input.shape
    if len(shape) < 3:
        raise RuntimeError(
            f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
            f"{len(shape)} dimension(s)"
        )
    *lead, c, h, w = shape
    if h % r or w % r:
        raise RuntimeError(
            f"pixel_unshuffle expects height and width to be divisible by downscale_factor, "
            f"but got height={h}, width={w} and downscale_factor={r}"
        )
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return _fresh(x.reshape(*lead, c * r * r, h // r, w // r))


def _fresh(out):
    """A new tensor, as PyTorch's (un)shuffle gives, even where the reshapes made a view."""
    return out.clone() if out._base is not None else out


register(
    "pixel_shuffle",
    lambda lib, x: lib.pixel_shuffle(x, 2),
    (S((2, 8, 2, 3)), S((4, 3, 2))),
)(pixel_shuffle)
register(
    "pixel_unshuffle",
    lambda lib, x: lib.pixel_unshuffle(x, 2),
    (S((2, 2, 4, 6)), S((1, 2, 2))),
)(pixel_unshuffle)

__all__ = ["dropout", "pixel_shuffle", "pixel_unshuffle"]

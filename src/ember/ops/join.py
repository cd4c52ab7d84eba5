"""Joining and splitting: cat, stack and their variants; split, chunk, unbind, narrow.

Two primitives carry them all, each the other's adjoint: Cat (one copy of every input) and
Split (views of one input, one node for all the pieces, so backward is a single Cat rather
than one full-size gradient per piece).
"""

from __future__ import annotations

from ember import _backend
from ember._dtype import promote_types
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, _share_storage
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.convert import cast
from ember.ops.indexing import getitem
from ember.ops.shape import atleast_1d, atleast_2d, atleast_3d, reshape, squeeze, unsqueeze


def _is_legacy_empty(array):
    """PyTorch's cat skips 1-D empty tensors, whatever the other inputs' shapes."""
    return array.ndim == 1 and array.shape[0] == 0


@register(
    "cat",
    lambda lib, *xs, **kw: lib.cat(xs, **kw),
    (
        S((2, 3), (4, 3)),
        S((2, 3), (2, 1), dim=1),
        S((2, 3), (2, 3), (2, 2), dim=-1),
        S((3,)),
        S((0,), (2, 3), (1, 3)),
        S((2, 0), (2, 3), dim=1),
    ),
)
class Cat(Primitive):
    @staticmethod
    def forward(ctx, *arrays, dim):
        skip = tuple(_is_legacy_empty(a) for a in arrays)
        if all(skip):
            skip = (False,) * len(arrays)
        kept = [a for a, s in zip(arrays, skip) if not s]
        ctx.dim, ctx.skip = dim, skip
        ctx.sizes = tuple(a.shape[dim] for a in kept)
        return _backend.array_module(*kept).concatenate(kept, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        pieces = iter(Split.apply(grad, ctx.sizes, ctx.dim))
        return tuple(grad.new_zeros((0,)) if s else next(pieces) for s in ctx.skip)


@register(
    "split",
    lambda lib, x, **kw: lib.split(x, **kw),
    (
        S((4, 3), split_size_or_sections=2),
        S((5, 3), split_size_or_sections=[2, 3]),
        S((3, 5), split_size_or_sections=2, dim=-1),
        S((3, 4), split_size_or_sections=[0, 4, 0], dim=1),
    ),
)
class Split(Primitive):
    """Views of consecutive pieces of x along dim; `sizes` add up to x.shape[dim]."""

    view_of = 0  # its outputs are views (split marks them: several outputs)

    @staticmethod
    def forward(ctx, x, sizes, dim):
        if hasattr(ctx, "set_materialize_grads"):  # backward fills missing grads itself
            ctx.set_materialize_grads(False)
        ctx.dim, ctx.sizes, ctx.in_shape = dim, sizes, x.shape
        bounds, total = [], 0
        for s in sizes[:-1]:
            total += s
            bounds.append(total)
        return tuple(_backend.array_module(x).split(x, bounds, axis=dim))

    @staticmethod
    def backward(ctx, *grads):
        ref = next(g for g in grads if g is not None)
        shape = list(ctx.in_shape)
        pieces = []
        for g, size in zip(grads, ctx.sizes):
            if g is None:
                shape[ctx.dim] = size
                g = ref.new_zeros(tuple(shape))
            pieces.append(g)
        return Cat.apply(*pieces, dim=ctx.dim), None, None


def _split(input, sizes, dim):
    if not sizes:
        return ()
    pieces = Split.apply(input, tuple(sizes), dim)
    for p in pieces:
        _share_storage(p, input)
    return pieces


def _tensor_list(tensors, op):
    if isinstance(tensors, Tensor):
        raise TypeError(
            f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
        )
    tensors = tuple(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{op}(): expected Tensor as element {i} in argument 0, but got {type(t).__name__}"
            )
    return tensors


def cat(tensors, dim=0):
    """Same as torch.cat: inputs promoted to a common dtype; 1-D empty tensors are skipped."""
    tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    dtype = tensors[0].dtype
    for i, t in enumerate(tensors):
        if t._data.ndim == 0:
            raise RuntimeError(
                f"cat(): zero-dimensional tensor (at position {i}) cannot be concatenated"
            )
        dtype = promote_types(dtype, t.dtype)
    kept = [(i, t) for i, t in enumerate(tensors) if not _is_legacy_empty(t._data)]
    if kept:
        first, ref = kept[0]
        d = normalize_dim(dim, ref._data.ndim, "cat")
        for i, t in kept[1:]:
            if t._data.ndim != ref._data.ndim:
                raise RuntimeError(
                    "cat(): Tensors must have same number of dimensions: got "
                    f"{ref._data.ndim} and {t._data.ndim}"
                )
            for k, (want, got) in enumerate(zip(ref._data.shape, t._data.shape)):
                if k != d and want != got:
                    raise RuntimeError(
                        f"cat(): Sizes of tensors must match except in dimension {d}. "
                        f"Expected size {want} but got size {got} for tensor number {i} in the "
                        "list."
                    )
    else:
        d = normalize_dim(dim, 1, "cat")
    arrays = [t if t._data.dtype == dtype.np else cast(t, dtype) for t in tensors]
    return Cat.apply(*arrays, dim=d)


def stack(tensors, dim=0):
    """Same as torch.stack: join equal-shaped tensors along a new dim."""
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {i}"
            )
    d = normalize_dim(dim, len(shape) + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def _nonempty(tensors, op):
    tensors = _tensor_list(tensors, op)
    if not tensors:
        raise RuntimeError(f"{op} expects a non-empty TensorList")
    return tensors


def hstack(tensors):
    """Same as torch.hstack: cat along dim 1 (dim 0 for 1-D inputs)."""
    tensors = [atleast_1d(t) for t in _nonempty(tensors, "hstack")]
    dim = 0 if all(t._data.ndim == 1 for t in tensors) else 1
    return cat(tensors, dim)


def vstack(tensors):
    """Same as torch.vstack: cat along dim 0 after making every input at least 2-D."""
    return cat([atleast_2d(t) for t in _nonempty(tensors, "vstack")], 0)


def dstack(tensors):
    """Same as torch.dstack: cat along dim 2 after making every input at least 3-D."""
    return cat([atleast_3d(t) for t in _nonempty(tensors, "dstack")], 2)


def column_stack(tensors):
    """Same as torch.column_stack: 0-D and 1-D inputs become columns, then cat along dim 1."""
    tensors = _nonempty(tensors, "column_stack")
    columns = [reshape(t, (t.numel(), 1)) if t._data.ndim <= 1 else t for t in tensors]
    return cat(columns, 1)


def split(tensor, split_size_or_sections, dim=0):
    """Same as torch.split: pieces of one size (the last may be smaller), or of given sizes."""
    if tensor._data.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = normalize_dim(dim, tensor._data.ndim, "split")
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes):
            raise RuntimeError(
                "split_with_sizes expects split_sizes have only non-negative entries, but got "
                f"split_sizes={sizes}"
            )
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sizes}"
            )
        return _split(tensor, sizes, d)
    size = int(split_size_or_sections)
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    if size == 0 and n != 0:
        raise RuntimeError(
            f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
        )
    if n == 0:
        return _split(tensor, [0], d)
    sizes = [size] * (n // size) + ([n % size] if n % size else [])
    return _split(tensor, sizes, d)


def chunk(input, chunks, dim=0):
    """Same as torch.chunk: at most `chunks` pieces of ceil(size / chunks) each."""
    if input._data.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim(dim, input._data.ndim, "chunk")
    n = input._data.shape[d]
    if n == 0:
        return _split(input, [0] * chunks, d)
    return split(input, -(-n // chunks), d)


def unbind(input, dim=0):
    """Same as torch.unbind: the slices along dim, each without that dim."""
    if input._data.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = normalize_dim(dim, input._data.ndim, "unbind")
    return tuple(squeeze(p, d) for p in _split(input, [1] * input._data.shape[d], d))


def narrow(input, dim, start, length):
    """Same as torch.narrow: the view input[..., start:start + length, ...] along dim."""
    if input._data.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input._data.ndim, "narrow")
    n = input._data.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(
            f"narrow(): start out of range (expected to be in range of [{-n}, {n}], but got "
            f"{start})"
        )
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return getitem(input, (slice(None),) * d + (slice(start, start + length),))


def tensor_split(input, indices_or_sections, dim=0):
    """Same as torch.tensor_split: n near-equal sections, or the pieces between indices."""
    if input._data.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = normalize_dim(dim, input._data.ndim, "tensor_split")
    n = input._data.shape[d]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec._data.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {spec._data.ndim} dims"
            )
        spec = spec.item() if spec._data.ndim == 0 else spec.tolist()
    if isinstance(spec, int):
        if spec <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {spec}")
        q, r = divmod(n, spec)
        return _split(input, [q + 1] * r + [q] * (spec - r), d)
    bounds = [min(max(i + n if i < 0 else i, 0), n) for i in map(int, spec)]
    lead = (slice(None),) * d
    starts = [0] + bounds
    ends = bounds + [n]
    return tuple(getitem(input, lead + (slice(s, e),)) for s, e in zip(starts, ends))


def _directional_split(input, spec, dim, op):
    if isinstance(spec, int):
        n = input._data.shape[dim]
        if spec == 0 or n % spec:
            raise RuntimeError(
                f"torch.{op} attempted to split along dimension {dim}, but the size of the "
                f"dimension {n} is not divisible by the split_size {spec}!"
            )
    return tensor_split(input, spec, dim)


def _require_ndim(input, ndim, op):
    if input._data.ndim < ndim:
        raise RuntimeError(
            f"torch.{op} requires a tensor with at least {ndim} dimension, but got a tensor "
            f"with {input._data.ndim} dimensions!"
        )


def hsplit(input, indices_or_sections):
    """Same as torch.hsplit: split along dim 1 (dim 0 for 1-D)."""
    _require_ndim(input, 1, "hsplit")
    dim = 0 if input._data.ndim == 1 else 1
    return _directional_split(input, indices_or_sections, dim, "hsplit")


def vsplit(input, indices_or_sections):
    """Same as torch.vsplit: split along dim 0."""
    _require_ndim(input, 2, "vsplit")
    return _directional_split(input, indices_or_sections, 0, "vsplit")


def dsplit(input, indices_or_sections):
    """Same as torch.dsplit: split along dim 2."""
    _require_ndim(input, 3, "dsplit")
    return _directional_split(input, indices_or_sections, 2, "dsplit")


register(
    "stack",
    lambda lib, *xs, **kw: lib.stack(xs, **kw),
    (S((2, 3), (2, 3)), S((2, 3), (2, 3), (2, 3), dim=-1), S((), ()), S((3,), dim=1)),
)(stack)
register("hstack", lambda lib, *xs: lib.hstack(xs), (S((2,), (3,)), S((2, 3), (2, 1)), S((), ())))(
    hstack
)
register("vstack", lambda lib, *xs: lib.vstack(xs), (S((3,), (3,)), S((2, 3), (1, 3)), S((), ())))(
    vstack
)
register("dstack", lambda lib, *xs: lib.dstack(xs), (S((3,), (3,)), S((2, 3), (2, 3))))(dstack)
register(
    "column_stack",
    lambda lib, *xs: lib.column_stack(xs),
    (S((3,), (3, 2)), S((), ())),
)(column_stack)
register(
    "chunk",
    lambda lib, x, **kw: lib.chunk(x, **kw),
    (S((5, 2), chunks=3), S((2, 6), chunks=4, dim=-1), S((3,), chunks=5)),
)(chunk)
register(
    "unbind",
    lambda lib, x, **kw: lib.unbind(x, **kw),
    (S((3, 2)), S((2, 3, 2), dim=-1), S((1,))),
)(unbind)
register(
    "narrow",
    lambda lib, x, **kw: lib.narrow(x, **kw),
    (
        S((4, 3), dim=0, start=1, length=2),
        S((4, 3), dim=-1, start=-2, length=2),
        S((4, 3), dim=1, start=3, length=0),
    ),
)(narrow)
register(
    "tensor_split",
    lambda lib, x, **kw: lib.tensor_split(x, kw["spec"], kw.get("dim", 0)),
    (S((7, 2), spec=3), S((2, 7), spec=[1, 5, 3, 9], dim=1), S((5,), spec=[-2, 3])),
)(tensor_split)
register(
    "hsplit",
    lambda lib, x, **kw: lib.hsplit(x, kw["spec"]),
    (S((2, 4), spec=2), S((6,), spec=[1, 2])),
)(hsplit)
register("vsplit", lambda lib, x: lib.vsplit(x, 2), (S((4, 2)),))(vsplit)
register("dsplit", lambda lib, x: lib.dsplit(x, [1]), (S((2, 2, 3)),))(dsplit)

__all__ = [
    "split_with_sizes",
    "cat",
    "chunk",
    "column_stack",
    "dsplit",
    "dstack",
    "hsplit",
    "hstack",
    "narrow",
    "split",
    "stack",
    "tensor_split",
    "unbind",
    "vsplit",
    "vstack",
]


def split_with_sizes(input, split_sizes, dim=0):
    """Same as torch.split_with_sizes: pieces of the given sizes along dim."""
    if isinstance(split_sizes, int):
        raise TypeError("split_with_sizes(): argument 'split_sizes' must be tuple of ints, not int")
    return split(input, list(split_sizes), dim)


def unsafe_split(tensor, split_size, dim=0):
    """Same as torch.unsafe_split: split's pieces, but not views, so each may be changed in
    place (PyTorch's pieces share memory without view tracking; ember's are copies)."""
    return tuple(piece.clone() for piece in split(tensor, split_size, dim))


def unsafe_split_with_sizes(input, split_sizes, dim=0):
    """Same as torch.unsafe_split_with_sizes (pieces that are not views; see unsafe_split)."""
    return tuple(piece.clone() for piece in split_with_sizes(input, split_sizes, dim))


def unsafe_chunk(input, chunks, dim=0):
    """Same as torch.unsafe_chunk (pieces that are not views; see unsafe_split)."""
    return tuple(piece.clone() for piece in chunk(input, chunks, dim))


ALIASES = {
    "concat": cat,
    "concatenate": cat,
    "row_stack": vstack,
    "unsafe_split": unsafe_split,
    "unsafe_split_with_sizes": unsafe_split_with_sizes,
    "unsafe_chunk": unsafe_chunk,
}
TENSOR_METHODS = {
    name: globals()[name]
    for name in ("chunk", "dsplit", "hsplit", "narrow", "split", "tensor_split", "unbind", "vsplit")
}
TENSOR_METHODS["split_with_sizes"] = split_with_sizes
TENSOR_METHODS.update(
    unsafe_split=unsafe_split,
    unsafe_split_with_sizes=unsafe_split_with_sizes,
    unsafe_chunk=unsafe_chunk,
)

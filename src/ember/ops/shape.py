"""Shape ops: reshape, view, transpose, permute, expand (views where NumPy can make one), and
the copies built on them: repeat, tile, flip, roll. as_strided lives in strided.py."""

from __future__ import annotations

import builtins

from ember._backend import array_module
from ember._dtype import dtype
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register


def _shape_arg(shape, op="reshape"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for s in shape:
        if not hasattr(s, "__index__"):  # 2.5 or "2" is no size (int() would truncate)
            raise TypeError(
                f"{op}(): argument 'shape' must be a tuple of ints, but found element of type "
                f"{type(s).__name__}"
            )
    return tuple(s.__index__() for s in shape)


def _infer_shape(shape, numel, op):
    """Resolve one -1 in `shape`; RuntimeError when the sizes cannot match."""
    known = 1
    infer = None
    for i, s in enumerate(shape):
        if s == -1:
            if infer is not None:
                raise RuntimeError(f"{op}(): only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"{op}(): invalid shape dimension {s}")
        else:
            known *= s
    if infer is not None:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:infer] + (numel // known,) + shape[infer + 1 :]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


@register(
    "reshape",
    lambda lib, x, **kw: x.reshape(kw["shape"]),
    (S((3, 4), shape=(4, 3)), S((2, 3, 4), shape=(-1, 4)), S((), shape=(1, 1))),
)
class Reshape(Primitive):
    view_of = 0
    node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape), None

    @staticmethod
    def write_back(base, values, shape):
        return values.reshape(base.shape)  # the view covers all of base


def reshape(input, *shape):
    """Same as torch.reshape: a view when possible, else a copy."""
    shape = _infer_shape(_shape_arg(shape), input._data.size, "reshape")
    if shape == input._data.shape:
        return Reshape.apply(input, shape) if input._requires_grad else _alias(input)
    return Reshape.apply(input, shape)


def view(input, *shape):
    """Same as torch.Tensor.view: a view, or an error when the strides do not allow one."""
    if len(shape) == 1 and isinstance(shape[0], dtype):
        return _view_as_dtype(input, shape[0])
    shape = _infer_shape(_shape_arg(shape, "view"), input._data.size, "view")
    probe = input._data.view()
    try:
        probe.shape = shape
    except AttributeError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    return Reshape.apply(input, shape)


def _view_as_dtype(input, new):
    """view(dtype): the same bytes read as another dtype (PyTorch's bit reinterpretation, not
    a cast); the last dim scales by the ratio of element sizes. Not differentiable."""
    if new.np == input._data.dtype:
        return _alias(input)
    data = input._data
    old_size, new_size = data.dtype.itemsize, new.np.itemsize
    if old_size != new_size:
        if data.ndim == 0:
            raise RuntimeError(
                f"view(): a 0-dim tensor cannot be viewed as {new} from {input.dtype} "
                "(different element sizes)"
            )
        if data.shape[-1] > 1 and data.strides[-1] != old_size:
            raise RuntimeError(
                "view(): self.stride(-1) must be 1 to view with a different element size"
            )
        if (data.shape[-1] * old_size) % new_size:
            raise RuntimeError(
                f"view(): self.size(-1) must be divisible by {new_size // old_size} to view "
                f"{input.dtype} as {new} (different element sizes), but got {data.shape[-1]}"
            )
    t = Tensor._make(data.view(new.np))
    t._vc = input._vc
    t._base = input._base if input._base is not None else input
    return t


def _alias(input):
    """The same storage as a new tensor object (what reshape to the same shape gives)."""
    return Reshape.apply(input, input._data.shape)


@register(
    "transpose",
    lambda lib, x, **kw: x.transpose(kw["dim0"], kw["dim1"]),
    (S((3, 4), dim0=0, dim1=1), S((2, 3, 4), dim0=-1, dim1=0)),
)
class Transpose(Primitive):
    view_of = 0

    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.dims = (dim0, dim1)
        return array_module(x).swapaxes(x, dim0, dim1)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(*ctx.dims), None, None

    @staticmethod
    def write_back(base, values, dim0, dim1):
        return values.transpose(dim0, dim1)


def transpose(input, dim0, dim1):
    """Same as torch.transpose."""
    ndim = input._data.ndim
    return Transpose.apply(
        input, normalize_dim(dim0, ndim, "transpose"), normalize_dim(dim1, ndim, "transpose")
    )


def t(input):
    """Same as torch.t: transpose a matrix (1-D and 0-D tensors are returned as is)."""
    if input._data.ndim > 2:
        raise RuntimeError(
            f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D"
        )
    if input._data.ndim < 2:
        return _alias(input)
    return Transpose.apply(input, 0, 1)


@register(
    "permute",
    lambda lib, x, **kw: x.permute(*kw["dims"]),
    (S((2, 3, 4), dims=(2, 0, 1)), S((3, 4), dims=(1, 0))),
)
class Permute(Primitive):
    view_of = 0

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.permute(*_inverse(ctx.dims)), None

    @staticmethod
    def write_back(base, values, dims):
        return values.permute(*_inverse(dims))


def _inverse(dims):
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return inverse


def permute(input, *dims):
    """Same as torch.permute."""
    ndim = input._data.ndim
    dims = tuple(normalize_dim(d, ndim, "permute") for d in _shape_arg(dims))
    if len(dims) != ndim or len(set(dims)) != ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {ndim} is not "
            f"equal to len(dims) = {len(dims)}"
            if len(dims) != ndim
            else f"permute(): duplicate dims are not allowed (got {list(dims)})"
        )
    return Permute.apply(input, dims)


@register(
    "expand",
    lambda lib, x, **kw: x.expand(*kw["shape"]),
    (
        S((3, 1), shape=(3, 4)),
        S((4,), shape=(2, 3, 4)),
        S((), shape=(2, 2)),
        S((1, 4), shape=(-1, 4)),
    ),
)
class Expand(Primitive):
    view_of = 0

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.sum_to_size(ctx.in_shape), None


def expand(input, *sizes):
    """Same as torch.Tensor.expand: a broadcast view (-1 keeps a size)."""
    sizes = _shape_arg(sizes)
    in_shape = input._data.shape
    lead = len(sizes) - len(in_shape)
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({len(in_shape)})"
        )
    shape = []
    for i, s in enumerate(sizes):
        own = in_shape[i - lead] if i >= lead else None
        if s == -1:
            if own is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = own
        elif own is not None and own != 1 and own != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({own}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(in_shape)}"
            )
        shape.append(s)
    shape = tuple(shape)
    if shape == in_shape:
        return input
    return Expand.apply(input, shape)


def expand_as(input, other):
    """Same as torch.Tensor.expand_as."""
    return expand(input, other.shape)


def squeeze(input, dim=None):
    """Same as torch.squeeze (dim an int, a tuple, or None for every size-1 dim)."""
    shape = input._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        given = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        normalized = [normalize_dim(d, len(shape), "squeeze") for d in given]
        if len(set(normalized)) != len(normalized):
            repeated = next(d for d in normalized if normalized.count(d) > 1)
            raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
        dims = {d for d in normalized if shape and shape[d] == 1}
    return Reshape.apply(input, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(input, dim):
    """Same as torch.unsqueeze."""
    shape = input._data.shape
    dim = normalize_dim(dim, len(shape) + 1, "unsqueeze")
    return Reshape.apply(input, shape[:dim] + (1,) + shape[dim:])


def flatten(input, start_dim=0, end_dim=-1):
    """Same as torch.flatten."""
    shape = input._data.shape
    if not shape:
        return Reshape.apply(input, (1,))
    start = normalize_dim(start_dim, len(shape), "flatten")
    end = normalize_dim(end_dim, len(shape), "flatten")
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    size = 1
    for s in shape[start : end + 1]:
        size *= s
    return reshape(input, shape[:start] + (size,) + shape[end + 1 :])


def ravel(input):
    """Same as torch.ravel: flattened to 1-D (a view when possible)."""
    return reshape(input, -1)


def unflatten(input, dim, sizes):
    """Same as torch.unflatten: split dimension `dim` into `sizes` (one may be -1)."""
    shape = input._data.shape
    d = normalize_dim(dim, len(shape), "unflatten")
    sizes = _shape_arg(tuple(sizes))
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = 1
    for s in sizes:
        known *= s if s != -1 else 1
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in sizes and known and shape[d] % known == 0:
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
        known = shape[d]
    if known != shape[d] or -1 in sizes:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
            f"({shape[d]}) in the input tensor"
        )
    return reshape(input, shape[:d] + sizes + shape[d + 1 :])


def _dim_list(dims, ndim, op, role):
    given = [dims] if isinstance(dims, int) else list(dims)
    out = [normalize_dim(d, ndim, op) for d in given]
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: repeated dim in `{role}` ({given})")
    return out


def movedim(input, source, destination):
    """Same as torch.movedim: move dims `source` to positions `destination`."""
    ndim = input._data.ndim
    src = _dim_list(source, ndim, "movedim", "source")
    dst = _dim_list(destination, ndim, "movedim", "destination")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
            f"the same number of dims as destination ({dst} dims)"
        )
    order = [None] * ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(ndim) if i not in src)
    order = [next(rest) if o is None else o for o in order]
    return permute(input, order)


def _T(self):
    """Same as torch.Tensor.T: the dims reversed (PyTorch deprecates it for other than 2-D)."""
    ndim = self._data.ndim
    if ndim == 0:
        warn(
            "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
            UserWarning,
        )
    elif ndim != 2:
        warn(
            "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
            "deprecated and it will throw an error in a future release. Consider `x.mT` to "
            "transpose batches of matrices or `x.permute(*range(x.ndim - 1, -1, -1))` to "
            "reverse the dimensions of a tensor.",
            UserWarning,
        )
    return permute(self, tuple(range(ndim - 1, -1, -1)))


def _H(self):
    """Same as torch.Tensor.H: the conjugate transpose of a matrix (ember is real: .T)."""
    ndim = self._data.ndim
    if ndim == 0:
        warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", UserWarning)
    elif ndim != 2:
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {ndim}-D tensor."
            + (" For batches of matrices, consider using tensor.mH" if ndim > 2 else "")
        )
    return permute(self, tuple(range(ndim - 1, -1, -1)))


def _mT(self):
    """Same as torch.Tensor.mT: the last two dims swapped."""
    if self._data.ndim < 2:
        raise RuntimeError(
            "tensor.mT is only supported on matrices or batches of matrices. Got "
            f"{self._data.ndim}-D tensor."
        )
    return transpose(self, -2, -1)


def adjoint(input):
    """Same as torch.adjoint: the last two dims swapped (ember has no complex conjugate)."""
    if input._data.ndim < 2:
        raise RuntimeError(
            "tensor.adjoint() is only supported on matrices or batches of matrices. Got "
            f"{input._data.ndim}-D tensor."
        )
    return transpose(input, -2, -1)


def broadcast_to(input, size):
    """Same as torch.broadcast_to (expand with a shape)."""
    return expand(input, tuple(size))


def broadcast_shapes(*shapes):
    """Same as torch.broadcast_shapes: the shape that all `shapes` broadcast to (a tuple)."""
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    result = []
    for arg, shape in enumerate(shapes):
        if len(shape) > len(result):
            result = [1] * (len(shape) - len(result)) + result
        for k in range(1, len(shape) + 1):
            size, have = shape[-k], result[-k]
            if size < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {size}")
            if have == 1:
                result[-k] = size
            elif size != 1 and size != have:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {size} at {-k}! Mismatching "
                    f"argument at index {arg} had {shape}; but expected shape should be "
                    f"broadcastable to {result}"
                )
    return tuple(result)


def broadcast_shape_of(tensors, op=None):
    """The broadcast shape of tensors, or PyTorch's 'size of tensor a' RuntimeError (naming
    `op` when given)."""
    result = ()
    for t in tensors:
        shape = t.shape if isinstance(t, Tensor) else tuple(t)
        ndim = builtins.max(len(result), len(shape))
        a = (1,) * (ndim - len(result)) + tuple(result)
        b = (1,) * (ndim - len(shape)) + tuple(shape)
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y and x != 1 and y != 1:
                raise RuntimeError(
                    (f"{op}: " if op else "")
                    + f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                    f"non-singleton dimension {i}"
                )
            out.append(y if x == 1 else x)
        result = tuple(out)
    return result


def broadcast_tensors(*tensors):
    """Same as torch.broadcast_tensors: every tensor expanded to the common shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"broadcast_tensors(): expected Tensor as element {i} in argument 0, but got "
                f"{type(t).__name__}"
            )
    shape = broadcast_shape_of(tensors)
    return tuple(Expand.apply(t, shape) for t in tensors)


def repeat(input, *sizes):
    """Same as torch.Tensor.repeat: tile the tensor `sizes` times along each dim (a copy)."""
    sizes = _shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    shape = (1,) * (len(sizes) - len(shape)) + shape
    final = tuple(r * s for r, s in zip(sizes, shape))
    if builtins.any(r < 0 for r in sizes):
        raise RuntimeError(
            f"Trying to create tensor with negative dimension {builtins.min(final)}: {list(final)}"
        )
    # (s0, s1) -> (1, s0, 1, s1) -> broadcast to (r0, s0, r1, s1) -> copy -> (r0*s0, r1*s1)
    spread = tuple(v for s in shape for v in (1, s))
    tiled = tuple(v for r, s in zip(sizes, shape) for v in (r, s))
    expanded = Expand.apply(reshape(input, spread), tiled)
    from ember.ops.convert import clone

    return reshape(clone(expanded), final)


def tile(input, dims):
    """Same as torch.tile: repeat, with `dims` padded by leading 1s to the tensor's rank."""
    dims = _shape_arg((dims,) if isinstance(dims, int) else tuple(dims))
    dims = (1,) * (input._data.ndim - len(dims)) + dims
    return repeat(input, dims)


@register(
    "flip",
    lambda lib, x, **kw: lib.flip(x, kw["dims"]),
    (S((3, 4), dims=(0,)), S((2, 3, 4), dims=(-1, 0)), S((3, 4), dims=()), S((), dims=(0,))),
)
class Flip(Primitive):
    """A primitive: NumPy reverses an axis as a strided view, far cheaper than gathering."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return array_module(x).flip(x, dims).copy()  # PyTorch's flip is a copy, not a view

    @staticmethod
    def backward(ctx, grad):
        return Flip.apply(grad, ctx.dims), None


def flip(input, dims):
    """Same as torch.flip (Tensor.flip also takes the dims as separate ints)."""
    ndim = input._data.ndim
    given = (dims,) if isinstance(dims, int) else tuple(dims)
    normalized = tuple(normalize_dim(d, ndim, "flip") for d in given)
    if len(set(normalized)) != len(normalized):
        repeated = next(d for d in normalized if normalized.count(d) > 1)
        raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
    return Flip.apply(input, normalized if ndim else ())


def _flip_method(self, *dims):
    return flip(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], int) else dims)


def fliplr(input):
    """Same as torch.fliplr: reverse dim 1."""
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return Flip.apply(input, (1,))


def flipud(input):
    """Same as torch.flipud: reverse dim 0."""
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return Flip.apply(input, (0,))


def roll(input, shifts, dims=None):
    """Same as torch.roll: shift elements along dims, wrapping around (None: the flat tensor)."""
    from ember.ops.convert import clone
    from ember.ops.join import cat

    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return roll(flatten(input), shifts, 0).reshape(input.shape)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    ndim = input._data.ndim
    if ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    out = input
    for shift, dim in zip(shifts, dims):
        d = normalize_dim(dim, ndim, "roll")
        n = out._data.shape[d]
        s = int(shift) % n if n else 0
        if s:
            lead = (slice(None),) * d
            out = cat((out[lead + (slice(n - s, n),)], out[lead + (slice(0, n - s),)]), d)
    return clone(input) if out is input else out


def atleast_1d(*tensors):
    """Same as torch.atleast_1d: 0-d tensors become 1-D (one tensor in, one out)."""
    return _atleast(tensors, lambda t: reshape(t, 1) if t._data.ndim == 0 else t)


def atleast_2d(*tensors):
    """Same as torch.atleast_2d: (n,) -> (1, n), 0-d -> (1, 1)."""
    return _atleast(
        tensors, lambda t: reshape(t, (1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t
    )


def atleast_3d(*tensors):
    """Same as torch.atleast_3d: 0-d -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""

    def lift(t):
        if t._data.ndim == 0:
            return reshape(t, (1, 1, 1))
        if t._data.ndim == 1:
            return reshape(t, (1, t.shape[0], 1))
        if t._data.ndim == 2:
            return reshape(t, t.shape + (1,))
        return t

    return _atleast(tensors, lift)


def _atleast(tensors, lift):
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        return tuple(lift(t) for t in tensors[0])
    if len(tensors) == 1:
        return lift(tensors[0])
    return tuple(lift(t) for t in tensors)


register(
    "squeeze",
    lambda lib, x, **kw: lib.squeeze(x, **kw),
    (S((3, 1, 4)), S((1, 3, 1), dim=-1), S((1, 3, 1), dim=(0, 2)), S((3, 1), dim=0), S(())),
)(squeeze)
register(
    "unsqueeze",
    lambda lib, x, **kw: x.unsqueeze(**kw),
    (S((3, 4), dim=1), S((3, 4), dim=-1), S((), dim=0)),
)(unsqueeze)
register(
    "flatten",
    lambda lib, x, **kw: lib.flatten(x, **kw),
    (S((2, 3, 4)), S((2, 3, 4), start_dim=1), S((2, 3, 4, 2), start_dim=1, end_dim=-2), S(())),
)(flatten)
register(
    "unflatten",
    lambda lib, x, **kw: x.unflatten(kw["dim"], kw["sizes"]),
    (S((2, 6), dim=1, sizes=(2, 3)), S((2, 6), dim=-1, sizes=(-1, 2)), S((4,), dim=0, sizes=(4,))),
)(unflatten)
register(
    "ravel",
    lambda lib, x: lib.ravel(x.transpose(0, 1)),
    (S((3, 4)), S((2, 3, 4))),
)(ravel)
register(
    "movedim",
    lambda lib, x, **kw: lib.movedim(x, kw["source"], kw["destination"]),
    (
        S((2, 3, 4), source=0, destination=-1),
        S((2, 3, 4), source=(0, 1), destination=(2, 0)),
        S((3,), source=0, destination=0),
    ),
)(movedim)
register(
    "T",
    lambda lib, x: x.T,
    (S((3, 4)), S((2, 3, 4))),
)(_T)
register("mT", lambda lib, x: x.mT, (S((3, 4)), S((2, 3, 4))))(_mT)
register("t", lambda lib, x: x.t(), (S((3, 4)), S((4,)), S(())))(t)
register(
    "view",
    lambda lib, x, **kw: x.view(kw["shape"]),
    (S((3, 4), shape=(2, 6)), S((3, 4), shape=(-1,)), S((), shape=(1,))),
)(view)
register(
    "expand_as",
    lambda lib, x, y: x.expand_as(y),
    (S((3, 1), (3, 4)), S((4,), (2, 3, 4)), S((), (2,))),
)(expand_as)
register(
    "broadcast_to",
    lambda lib, x, **kw: lib.broadcast_to(x, kw["size"]),
    (S((3, 1), size=(2, 3, 4)), S((), size=(2,)), S((1, 4), size=(-1, 4))),
)(broadcast_to)
register(
    "broadcast_tensors",
    lambda lib, *xs: lib.broadcast_tensors(*xs),
    (S((3, 1), (4,)), S((), (2, 3), (3,)), S((2, 3), (2, 3))),
)(broadcast_tensors)
register(
    "repeat",
    lambda lib, x, **kw: x.repeat(*kw["sizes"]),
    (S((2, 3), sizes=(2, 3)), S((3,), sizes=(2, 1, 2)), S((), sizes=(3,)), S((2, 3), sizes=(1, 1))),
)(repeat)
register(
    "tile",
    lambda lib, x, **kw: lib.tile(x, kw["dims"]),
    (S((2, 3), dims=(2,)), S((3,), dims=(2, 2)), S((2, 3), dims=(1, 2, 1))),
)(tile)
register("fliplr", lambda lib, x: lib.fliplr(x), (S((3, 4)), S((2, 3, 4))))(fliplr)
register("flipud", lambda lib, x: lib.flipud(x), (S((3, 4)), S((5,))))(flipud)
register(
    "roll",
    lambda lib, x, **kw: lib.roll(x, **kw),
    (
        S((5,), shifts=2),
        S((3, 4), shifts=1),
        S((3, 4), shifts=(1, -1), dims=(0, 1)),
        S((3, 4), shifts=7, dims=-1),
        S((3, 4), shifts=0, dims=0),
    ),
)(roll)
register(
    "atleast_3d",
    lambda lib, *xs: lib.atleast_3d(*xs),
    (S(()), S((3,)), S((2, 3), (3,))),
)(atleast_3d)

__all__ = [
    "adjoint",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_shapes",
    "broadcast_tensors",
    "broadcast_to",
    "flatten",
    "flip",
    "fliplr",
    "flipud",
    "movedim",
    "permute",
    "ravel",
    "reshape",
    "roll",
    "squeeze",
    "t",
    "tile",
    "transpose",
    "unflatten",
    "unsqueeze",
]
ALIASES = {"swapaxes": transpose, "swapdims": transpose, "moveaxis": movedim}
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__ if not name.startswith(("atleast", "broadcast_"))},
    **ALIASES,
    "broadcast_to": broadcast_to,
    "flip": _flip_method,
    "view": view,
    "expand": expand,
    "expand_as": expand_as,
    "repeat": repeat,
    "tile": lambda self, *dims: tile(self, dims[0] if len(dims) == 1 else dims),
    "mH": property(_mT),
    "mT": property(_mT),
    "H": property(_H),
    "T": property(_T),
    "view_as": lambda self, other: view(self, other.shape),
    "reshape_as": lambda self, other: reshape(self, other.shape),
}

"""Shape ops, all views where NumPy can make one: reshape, view, transpose, permute, expand."""

from __future__ import annotations

from ember._backend import array_module
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _infer_shape(shape, numel, op):
    """Resolve one -1 in `shape`; RuntimeError when the sizes cannot match."""
    known = 1
    infer = None
    for i, s in enumerate(shape):
        if s == -1:
            if infer is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
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


def reshape(input, *shape):
    """Same as torch.reshape: a view when possible, else a copy."""
    shape = _infer_shape(_shape_arg(shape), input._data.size, "reshape")
    if shape == input._data.shape:
        return Reshape.apply(input, shape) if input._requires_grad else _alias(input)
    return Reshape.apply(input, shape)


def view(input, *shape):
    """Same as torch.Tensor.view: a view, or an error when the strides do not allow one."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)):
        from ember.ops.convert import cast

        return cast(input, shape[0])  # view(dtype) as a value cast
    shape = _infer_shape(_shape_arg(shape), input._data.size, "view")
    probe = input._data.view()
    try:
        probe.shape = shape
    except AttributeError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    return Reshape.apply(input, shape)


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
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return grad.permute(*inverse), None


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
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = {normalize_dim(d, len(shape), "squeeze") for d in dims}
        dims = {d for d in dims if shape[d] == 1}
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


__all__ = ["flatten", "permute", "reshape", "squeeze", "t", "transpose", "unsqueeze"]
ALIASES = {"swapaxes": transpose, "swapdims": transpose}
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    **ALIASES,
    "view": view,
    "expand": expand,
    "expand_as": expand_as,
    "view_as": lambda self, other: view(self, other.shape),
    "reshape_as": lambda self, other: reshape(self, other.shape),
}

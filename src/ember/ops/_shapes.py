"""Shape arithmetic shared by ops: dims, keepdim shapes, broadcasting."""

from __future__ import annotations


def normalize_dim(dim, ndim, op="op"):
    """A dim in [-ndim, ndim) as a non-negative index; IndexError naming the op otherwise."""
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}")
    if not lo <= dim <= hi:
        raise IndexError(
            f"{op}(): Dimension out of range (expected to be in range of [{lo}, {hi}], "
            f"but got {dim})"
        )
    return dim % ndim if ndim else 0


def normalize_dims(dim, ndim, op="op"):
    """None (all dims), an int, or a tuple of ints, as a sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        dims = tuple(normalize_dim(d, ndim, op) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{op}(): dim {dims} appears multiple times in the list of dims")
        return tuple(sorted(dims)) if dims else tuple(range(ndim))
    return (normalize_dim(dim, ndim, op),)


def keepdim_shape(shape, dims):
    """The shape a reduction over `dims` has with keepdim=True."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def broadcast_shapes(*shapes, op="broadcast"):
    """The broadcast of several shapes, or a RuntimeError naming the op and the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, size in enumerate(s, ndim - len(s)):
            if size != out[i]:
                if out[i] != 1 and size != 1:
                    raise RuntimeError(
                        f"{op}: shapes {', '.join(str(list(x)) for x in shapes)} cannot be "
                        f"broadcast together (size {out[i]} vs {size} at dimension {i})"
                    )
                if size != 1:
                    out[i] = size
    return tuple(out)

"""scatter_reduce and index_reduce: src's values reduced into input along dim at index, with
sum, prod, mean, amax or amin, and PyTorch's gradients for each (ties share amax/amin's; prod's
divides out the factor, and treats zeros apart).

A primitive of its own (ScatterReduce), since IndexPut only adds: prod, amax and amin need the
backend's multiply/maximum/minimum.at. index_reduce is the same primitive with the index
spread along every other dim of source.
"""

from __future__ import annotations

from ember import _backend
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.autograd.grad_mode import is_grad_enabled
from ember.ops import pointwise
from ember.ops._primitive import Primitive
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.indexing import GetItem, IndexPut
from ember.ops.inplace import apply_inplace
from ember.ops.scatter import _as_1d, _need_tensor, _scatter_plan, _tensor
from ember.ops.shape import reshape

_REDUCE_UFUNCS = {
    "sum": "add",
    "mean": "add",
    "prod": "multiply",
    "amax": "maximum",
    "amin": "minimum",
}
_REDUCE_SPELLINGS = {"max": "amax", "min": "amin"}  # PyTorch takes these too, unlisted


def _reduction(reduce, op):
    if not isinstance(reduce, str):
        raise TypeError(f"{op}(): argument 'reduce' must be str, not {type(reduce).__name__}")
    name = _REDUCE_SPELLINGS.get(reduce, reduce)
    if name not in _REDUCE_UFUNCS:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    return name


def _start_value(xp, dtype, reduce):
    """What an entry starts from when include_self=False: the reduction's identity."""
    if reduce in ("sum", "mean", "prod"):
        return int(reduce == "prod")
    if dtype.kind == "b":
        return reduce == "amin"
    if is_floating(dtype):
        return float("-inf") if reduce == "amax" else float("inf")
    info = xp.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _counts(xp, shape, where, include_self):
    """How many values each entry of a "mean" averages (at least 1: untouched entries)."""
    count = xp.full(shape, int(include_self), dtype="int64")
    _backend.add_at(count, where, 1)
    return xp.maximum(count, 1)


@register(
    "scatter_reduce",
    lambda lib, x, s, **kw: lib.scatter_reduce(
        x, kw["dim"], _tensor(lib, kw["index"], x), s, kw["reduce"], include_self=kw["keep"]
    ),
    tuple(
        S((3, 4), (2, 3), dim=1, index=[[0, 0, 3], [2, 0, 2]], reduce=reduce, keep=include_self)
        for reduce in ("sum", "prod", "mean", "amax", "amin")
        for include_self in (True, False)
    )
    + (
        S((3, 4), (2, 4), dim=0, index=[[2, 2, 1, 1], [2, 0, 0, 0]], reduce="amin", keep=True),
        S((3, 4), (3, 2), dim=-1, index=[[1, 1], [0, 3], [2, 2]], reduce="prod", keep=False),
        S((), (), dim=0, index=0, reduce="mean", keep=True),
    ),
)
class ScatterReduce(Primitive):
    """x with src's values reduced into it at `where` (scatter_reduce). A primitive, as
    IndexPut only adds: prod, amax and amin need the backend's multiply/maximum/minimum.at."""

    @staticmethod
    def forward(ctx, x, src, where, reduce, include_self, op):
        xp = _backend.array_module(x)
        out = x.copy()
        if not include_self:
            out[where] = _start_value(xp, x.dtype, reduce)
        getattr(xp, _REDUCE_UFUNCS[reduce]).at(out, where, src)
        if reduce == "mean":
            count = _counts(xp, x.shape, where, include_self)
            divide = xp.true_divide if is_floating(x.dtype) else xp.floor_divide  # PyTorch's
            divide(out, count, out=out, casting="unsafe")
        ctx.where, ctx.reduce, ctx.include_self, ctx.op = where, reduce, include_self, op
        if reduce in ("prod", "amax", "amin"):
            ctx.save_for_backward(x, src, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        where, reduce, include_self = ctx.where, ctx.reduce, ctx.include_self
        if reduce == "sum":
            grad_x, grad_src = grad, GetItem.apply(grad, where)
        elif reduce == "mean":
            xp = _backend.array_module(grad._data)
            count = _counts(xp, grad.shape, where, include_self).astype(grad._data.dtype)
            grad_x = grad / Tensor._make(count)
            grad_src = GetItem.apply(grad_x, where)
        elif reduce == "prod":
            grad_x, grad_src = _prod_grads(grad, where, include_self, ctx.op, *ctx.saved_tensors)
        else:
            grad_x, grad_src = _extreme_grads(grad, where, *ctx.saved_tensors)
        if not include_self:  # the entries that were scattered to never read x
            grad_x = IndexPut.apply(grad_x, 0.0, where)
        return grad_x, grad_src, None, None, None, None


def _extreme_grads(grad, where, x, src, out):
    """amax/amin: the gradient shared evenly among the values that tie for the result, as
    PyTorch (which counts a tying x entry even with include_self=False)."""
    x_hits = (x == out).to(grad.dtype)
    src_hits = (src == GetItem.apply(out, where)).to(grad.dtype)
    share = grad / IndexPut.apply(x_hits, src_hits, where, True)
    return share * x_hits, GetItem.apply(share, where) * src_hits


class _DoubleBackwardRefused(Function):
    """Passes a gradient through; differentiating it again raises (PyTorch's Error node)."""

    node_name = "Error"

    @staticmethod
    def forward(ctx, grad, message):
        ctx.message = message
        return grad.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(ctx.message)


def _prod_grads(grad, where, include_self, op, x, src, out):
    """prod: the product of the other values, without dividing by a zero (PyTorch's rule).
    Where two zeros of src meet at one entry, the second derivative w.r.t. src is refused,
    as PyTorch (its first derivative there is zero)."""
    masked_x = x.masked_fill(x == 0, 1.0)
    grad_x = grad * ScatterReduce.apply(masked_x, src, where, "prod", include_self, op) / masked_x
    src_zero = src == 0
    zeros_at = IndexPut.apply(x * 0.0, src_zero.to(grad.dtype), where, True)
    single_zero = src_zero & (GetItem.apply(zeros_at, where) == 1)
    # a lone zero's gradient is the product of the others: recompute with it set to 1
    others = ScatterReduce.apply(
        x, src.masked_fill(single_zero, 1.0), where, "prod", include_self, op
    )
    grad_src = pointwise.where(
        single_zero,
        GetItem.apply(grad * others, where),
        GetItem.apply(grad * out, where) / src.masked_fill(src_zero, 1.0),
    )
    if is_grad_enabled() and bool((zeros_at._data > 1).any()):
        word = "source" if op == "index_reduce" else "src"
        grad_src = _DoubleBackwardRefused.apply(
            grad_src,
            f"{op}(): Double backward is unsupported for {word} when >1 zeros in {word} are "
            "scattered to the same position in self",
        )
    return grad_x, grad_src


def _reduce_plan(input, dim, index, src, reduce, op):
    name = _reduction(reduce, op)
    _need_tensor(src, op)
    if name == "mean" and input._data.dtype.kind == "b":
        raise NotImplementedError(
            "\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'"
        )
    where, values = _scatter_plan(input, dim, index, src, op)
    return where, values, name


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Same as torch.scatter_reduce: src's values reduced into input at `index` along dim
    (out[i][index[i][j]] = reduce(out[i][index[i][j]], src[i][j]) for dim=1).

    reduce is "sum", "prod", "mean", "amax" or "amin"; with include_self=False the entries
    that are scattered to forget input's value (untouched entries keep it). A "mean" of
    integers rounds down, as PyTorch. Differentiable w.r.t. input and src, with PyTorch's
    gradients: amax/amin share the gradient evenly among tying values, prod divides by no
    zero; its second derivative w.r.t. src is refused where two zeros meet at one entry, as
    PyTorch's.
    """
    if input._data.ndim == 0:
        fn = lambda x: scatter_reduce(  # noqa: E731
            x, dim, _as_1d(index), _as_1d(src), reduce, include_self=include_self
        )
        return reshape(fn(_as_1d(input)), ())
    where, values, name = _reduce_plan(input, dim, index, src, reduce, "scatter_reduce")
    return ScatterReduce.apply(input, values, where, name, bool(include_self), "scatter_reduce")


def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
    """Same as torch.Tensor.scatter_reduce_: scatter_reduce in place."""
    if self._data.ndim == 0:
        fn = lambda x: scatter_reduce(x, dim, index, src, reduce, include_self=include_self)  # noqa: E731
        return apply_inplace(self, fn, (src,), "scatter_reduce_")
    where, values, name = _reduce_plan(self, dim, index, src, reduce, "scatter_reduce_")
    return apply_inplace(
        self,
        lambda x: ScatterReduce.apply(x, values, where, name, bool(include_self), "scatter_reduce"),
        (values,),
        "scatter_reduce_",
    )


register(
    "scatter_reduce_",
    lambda lib, x, s: (x * 1.0).scatter_reduce_(
        1, _tensor(lib, [[0, 0], [1, 0]], x), s, "amax", include_self=False
    ),
    (S((2, 3), (2, 2)),),
)(scatter_reduce_)


# --- index_reduce: whole slices of source reduced into input at index along dim ---
_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def _index_reduce_plan(input, dim, index, source, reduce, op):
    """Check index_reduce's arguments; return scatter_reduce's plan for them."""
    if not isinstance(reduce, str) or reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(
            f"{op}(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}."
        )
    _need_tensor(source, op)
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    if index._data.dtype.name not in ("int64", "int32"):
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index but got {index.dtype}")
    ndim = input._data.ndim
    d = normalize_dim(dim, ndim, op)
    n = index._data.size
    if n != (source.shape[d] if source._data.ndim else 1):
        raise RuntimeError(
            f"{op}(): Number of indices ({n}) should be equal to source.size(dim): "
            f"({source.shape[d] if source._data.ndim else 1}), for dim: {d}"
        )
    if source._data.ndim != ndim or any(
        k != d and a != b for k, (a, b) in enumerate(zip(source.shape, input.shape))
    ):
        raise RuntimeError(
            f"{op}(): Source/destination tensor must have the same slice shapes. Destination "
            f"slice shape: {list(input.shape)} at dimension {d} and source slice shape: "
            f"{list(source.shape)} at dimension {d}."
        )
    spread = index.reshape(tuple(n if k == d else 1 for k in range(ndim)))
    return _reduce_plan(input, d, spread.expand(source.shape), source, reduce, op)


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """Same as torch.index_reduce: for each i, the slice `index[i]` of input along dim is
    reduced with the slice i of source (`out[index[i]] = reduce(out[index[i]], source[i])`
    for dim=0). reduce is "prod", "mean", "amax" or "amin"; with include_self=False the
    slices that are reduced into forget input's values.

    Differentiable w.r.t. input and source with scatter_reduce's rules (ties share amax/amin's
    gradient; prod's second derivative is refused where two zeros of source meet).
    """
    if input._data.ndim == 0:
        fn = lambda x: index_reduce(  # noqa: E731
            x, 0, _as_1d(index), _as_1d(source), reduce, include_self=include_self
        )
        return reshape(fn(_as_1d(input)), ())
    where, values, name = _index_reduce_plan(input, dim, index, source, reduce, "index_reduce")
    return ScatterReduce.apply(input, values, where, name, bool(include_self), "index_reduce")


def index_reduce_(self, dim, index, source, reduce, *, include_self=True):
    """Same as torch.Tensor.index_reduce_: index_reduce in place."""
    fn = lambda x: index_reduce(x, dim, index, source, reduce, include_self=include_self)  # noqa: E731
    if self._data.ndim:
        _index_reduce_plan(self, dim, index, source, reduce, "index_reduce_")  # errors first
    return apply_inplace(self, fn, (source,), "index_reduce_")


register(
    "index_reduce",
    lambda lib, x, s, **kw: lib.index_reduce(
        x, kw["dim"], _tensor(lib, kw["index"], x), s, kw["reduce"], include_self=kw["keep"]
    ),
    tuple(
        S((3, 4), (3, 3), dim=1, index=[0, 3, 0], reduce=reduce, keep=include_self)
        for reduce in _INDEX_REDUCTIONS
        for include_self in (True, False)
    )
    + (S((4, 2), (2, 2), dim=0, index=[2, 1], reduce="prod", keep=True),),
)(index_reduce)


__all__ = ["index_reduce", "scatter_reduce"]
TENSOR_METHODS = {
    "index_reduce": index_reduce,
    "index_reduce_": index_reduce_,
    "scatter_reduce": scatter_reduce,
    "scatter_reduce_": scatter_reduce_,
}

"""Diagonals (diagonal, diag, diag_embed, trace), tril/triu, cross, norms, and composite solvers."""

from __future__ import annotations

import builtins
import math

from ember._backend import array_module, to_device
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._primitive import Primitive
from ember.ops._shapes import broadcast_shapes, keepdim_shape, normalize_dim, normalize_dims
from ember.ops._table import S, register
from ember.ops.creation import eye, zeros
from ember.ops.decompositions import (
    LstsqResult,
    _check_matrix,
    _mT,
    _number,
    _shifted,
    _spd,
    _tolerances,
    inv,
    pinv,
    solve,
    solve_upper_or_lower,
    svdvals,
)
from ember.ops.linalg import type_word
from ember.ops.pointwise import where


# --- diagonals ---
def _diagonal_view(xp, x, offset, dim1, dim2):
    d = xp.diagonal(x, offset, dim1, dim2)
    flags = getattr(d, "flags", None)
    if flags is not None and hasattr(flags, "writeable") and not flags.writeable:
        if x.flags.writeable:
            d.flags.writeable = True  # NumPy marks diagonal views read-only; PyTorch's write
    return d


@register(
    "diagonal",
    lambda lib, x, **kw: lib.diagonal(x, **kw),
    (
        S((3, 4)),
        S((3, 4), offset=1),
        S((4, 3), offset=-2),
        S((2, 3, 4), offset=1, dim1=2, dim2=0),
        S((2, 3, 3), dim1=-2, dim2=-1),
    ),
)
class Diagonal(Primitive):
    """A view of the diagonal along (dim1, dim2), as the last dim."""

    view_of = 0

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.args = (x.shape, offset, dim1, dim2)
        return _diagonal_view(array_module(x), x, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, grad):
        return DiagonalScatter.apply(grad, *ctx.args), None, None, None


@register(
    "diag_embed",
    lambda lib, x, **kw: lib.diag_embed(x, **kw),
    (
        S((3,)),
        S((2, 3), offset=1),
        S((2, 3), offset=-1, dim1=0, dim2=2),
        S((2, 3), dim1=-1, dim2=0),
    ),
)
class DiagonalScatter(Primitive):
    """Zeros of `shape` with `x` on the diagonal along (dim1, dim2): the adjoint of Diagonal."""

    node_name = "DiagEmbedBackward0"

    @staticmethod
    def forward(ctx, x, shape, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        xp = array_module(x)
        out = xp.zeros(shape, dtype=x.dtype)
        _diagonal_view(xp, out, offset, dim1, dim2)[...] = x
        return out

    @staticmethod
    def backward(ctx, grad):
        return Diagonal.apply(grad, *ctx.args), None, None, None, None


def _diag_dims(ndim, dim1, dim2, op):
    d1, d2 = normalize_dim(dim1, ndim, op), normalize_dim(dim2, ndim, op)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input, offset=0, dim1=0, dim2=1):
    """Same as torch.diagonal: a view of the diagonal, appended as the last dim."""
    d1, d2 = _diag_dims(input._data.ndim, dim1, dim2, "diagonal")
    return Diagonal.apply(input, offset, d1, d2)


def linalg_diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """Same as torch.linalg.diagonal (torch.diagonal with the last two dims by default)."""
    return diagonal(A, offset, dim1, dim2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Same as torch.diag_embed: the last dim of input as the diagonal of new (dim1, dim2)."""
    ndim = input._data.ndim + 1
    d1, d2 = _diag_dims(ndim, dim1, dim2, "diag_embed")
    n = (input.shape[-1] if input._data.ndim else 1) + builtins.abs(offset)
    shape = list(input.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, n)
    return DiagonalScatter.apply(input, tuple(shape), offset, d1, d2)


def diag(input, diagonal=0):
    """Same as torch.diag: a vector to a diagonal matrix, or a matrix's diagonal (a copy)."""
    if input._data.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input._data.ndim == 2:
        return Diagonal.apply(input, diagonal, 0, 1).clone()
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input._data.ndim}D")


def trace(input):
    """Same as torch.trace: the sum of a matrix's diagonal."""
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    return Diagonal.apply(input, 0, 0, 1).sum()


# --- triangles ---
def _triangle(input, diagonal, lower, op):
    if input._data.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    m, n = input.shape[-2:]
    xp = array_module(input._data)
    mask = xp.tri(m, n, diagonal if lower else diagonal - 1, dtype=bool)
    keep = Tensor._make(to_device(mask if lower else ~mask, input.device))
    zero = False if input._data.dtype.kind == "b" else 0
    return where(keep, input, zero)


def tril(input, diagonal=0):
    """Same as torch.tril: the lower triangle (on and below `diagonal`), zeros elsewhere."""
    return _triangle(input, diagonal, True, "tril")


def triu(input, diagonal=0):
    """Same as torch.triu: the upper triangle (on and above `diagonal`), zeros elsewhere."""
    return _triangle(input, diagonal, False, "triu")


def tril_(self, diagonal=0):
    """Same as torch.Tensor.tril_."""
    from ember.ops.inplace import apply_inplace

    return apply_inplace(self, lambda x: tril(x, diagonal), (), "tril_")


def triu_(self, diagonal=0):
    """Same as torch.Tensor.triu_."""
    from ember.ops.inplace import apply_inplace

    return apply_inplace(self, lambda x: triu(x, diagonal), (), "triu_")


# --- cross product ---
def linalg_cross(input, other, *, dim=-1):
    """Same as torch.linalg.cross: the 3-vector cross product along dim (broadcasting)."""
    if input._data.ndim != other._data.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    shape = broadcast_shapes(input.shape, other.shape, op="linalg.cross")
    d = normalize_dim(dim, len(shape), "linalg.cross")
    a_len = input.shape[d - len(shape)] if input._data.ndim >= len(shape) - d else 1
    b_len = other.shape[d - len(shape)] if other._data.ndim >= len(shape) - d else 1
    if a_len != 3 or b_len != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {a_len} and {b_len}"
        )
    a, b = input.expand(shape), other.expand(shape)
    lead = (slice(None),) * d
    yzx, zxy = lead + ([1, 2, 0],), lead + ([2, 0, 1],)
    return a[yzx] * b[zxy] - a[zxy] * b[yzx]


def cross(input, other, dim=None):
    """Same as torch.cross (dim=None picks the first dim of size 3, with PyTorch's warning)."""
    if dim is None:
        warn(
            "Using ember.cross without specifying the dim arg is deprecated.\nPlease either pass "
            "the dim explicitly or simply use ember.linalg.cross.\nThe default value of dim will "
            "change to agree with that of linalg.cross in a future release.",
            UserWarning,
        )
        shape = broadcast_shapes(input.shape, other.shape, op="cross")
        dim = next((i for i, n in enumerate(shape) if n == 3), -1)
    return linalg_cross(input, other, dim=dim)


# --- vector norms ---
NORM_SAMPLES = (
    S((3, 4)),
    S((3, 4), ord=1, dim=1),
    S((2, 3, 4), ord=3.0, dim=(0, 2), keepdim=True),
    S((3, 4), ord=math.inf, dim=-1),
    S((3, 4), ord=-math.inf),
    S((3, 4), ord=0.5, dim=0),
    S((3, 4), ord=0, dim=1),
    S(()),
)


@register(
    "vector_norm",
    lambda lib, x, **kw: lib.linalg.vector_norm(x, **kw),
    NORM_SAMPLES,
    avoid=(0.0,),
)
class VectorNorm(Primitive):
    """A primitive for the gradient at the zero vector: 0, as PyTorch, where sqrt's is NaN."""

    node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, ord, dims, keepdim):
        ctx.ord, ctx.dims, ctx.keepdim = ord, dims, keepdim
        xp = array_module(x)
        mag = xp.abs(x)
        if ord == math.inf:
            out = mag.max(axis=dims, keepdims=keepdim)
        elif ord == -math.inf:
            out = mag.min(axis=dims, keepdims=keepdim)
        elif ord == 0:
            out = (x != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
        elif ord == 1:
            out = mag.sum(axis=dims, keepdims=keepdim)
        elif ord == 2:
            out = xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        else:
            out = (mag**ord).sum(axis=dims, keepdims=keepdim) ** (1.0 / ord)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        p = ctx.ord
        if not ctx.keepdim:
            shape = keepdim_shape(x.shape, ctx.dims)
            grad, out = grad.reshape(shape), out.reshape(shape)
        if p == 0:
            return x.new_zeros(x.shape), None, None, None
        if p == 1:
            return grad * x.sign(), None, None, None
        if p in (math.inf, -math.inf):  # ties share the gradient, as PyTorch
            hit = x.abs() == out
            return grad * x.sign() * hit / hit.sum(ctx.dims, keepdim=True), None, None, None
        safe = where(out == 0, 1.0, out)  # the zero vector's gradient is 0, not NaN
        if p == 2:
            return grad * x / safe, None, None, None
        scale = grad / safe ** (p - 1)
        return scale * x.sign() * x.abs() ** (p - 1), None, None, None


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.linalg.vector_norm."""
    if dtype is not None:
        x = x.to(dtype)
    if not is_floating(x._data.dtype):
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{type_word(x)}"
        )
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, but got {ord!r}")
    if isinstance(dim, int):
        dim = (dim,)
    dims = normalize_dims(dim, x._data.ndim, "linalg.vector_norm")
    empty = [d for d in dims if x._data.shape[d] == 0]
    if empty and (ord < 0 or ord == math.inf):  # a min or a max of nothing has no value
        where = (
            "an empty tensor because"
            if dim is None
            else f"the dimension {empty[0]} because this dimension is empty and"
        )
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {ord} norm on {where} the operation does "
            "not have an identity"
        )
    return VectorNorm.apply(x, float(ord), dims, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Same as torch.linalg.matrix_norm: 'fro', 'nuc', 2, -2, 1, -1, inf or -inf."""
    if dtype is not None:
        A = A.to(dtype)
    if A._data.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (normalize_dim(d, A._data.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord == "nuc" or ord in (2, -2):
        rest = [d for d in range(A._data.ndim) if d not in (d0, d1)]
        s = svdvals(A.permute(*rest, d0, d1))
        # the largest of no singular values is 0, a constant, as PyTorch's
        largest = s.sum(-1).detach() if s.shape[-1] == 0 else s.amax(-1)
        result = s.sum(-1) if ord == "nuc" else largest if ord == 2 else s.amin(-1)
        if keepdim:
            for d in sorted((d0, d1)):
                result = result.unsqueeze(d)
        return result
    if ord in (1, -1, math.inf, -math.inf):
        # 1: the largest column sum of |A|; inf: the largest row sum
        summed, reduced = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = vector_norm(A, 1, summed, keepdim=True)
        if ord > 0 and sums.shape[reduced] == 0:  # the largest of no sums: 0, a constant
            result = sums.sum(reduced, keepdim=True).detach()
        elif ord > 0:
            result = sums.amax(reduced, keepdim=True)
        else:
            result = sums.amin(reduced, keepdim=True)
        return result if keepdim else result.squeeze((d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """Same as torch.linalg.norm: a vector norm over one dim, a matrix norm over two."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if A._data.ndim not in (1, 2):
            raise RuntimeError(
                "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                f"Got {A._data.ndim}D."
            )
        dim = tuple(range(A._data.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.vector_norm: ord must be a number, but got {ord!r}")
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(
        f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}"
    )


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Same as torch.norm: p 'fro' or a number is a vector norm over dim; 'nuc' a matrix norm."""
    if isinstance(dim, int):
        dim = (dim,)
    if isinstance(p, str):
        if p == "fro" and (dim is None or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype)
        dim = tuple(range(input._data.ndim)) if dim is None else dim
        return matrix_norm(input, p, dim, keepdim, dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype)


MATRIX_NORM_SAMPLES = (
    S((3, 4)),
    S((3, 4), ord="nuc"),
    S((2, 3, 4), ord=2, keepdim=True),
    S((4, 3), ord=-2),
    S((3, 4), ord=1),
    S((2, 3, 4), ord=-1, dim=(0, 2)),
    S((3, 4), ord=math.inf, keepdim=True),
    S((3, 4), ord=-math.inf, dim=(1, 0)),
)
register(
    "matrix_norm",
    lambda lib, x, **kw: lib.linalg.matrix_norm(x, **kw),
    MATRIX_NORM_SAMPLES,
    avoid=(0.0,),
)(matrix_norm)
register(
    "linalg_norm",
    lambda lib, x, **kw: lib.linalg.norm(x, **kw),
    (
        S((3, 4)),
        S((3, 4), ord=1, dim=1),
        S((3, 4), ord="nuc"),
        S((4,), ord=3),
        S((2, 3, 4), dim=(0, 1)),
    ),
    avoid=(0.0,),
)(linalg_norm)
register(
    "norm",
    lambda lib, x, **kw: x.norm(**kw),
    (
        S((3, 4)),
        S((3, 4), p=1, dim=1, keepdim=True),
        S((3, 4), p="nuc"),
        S((2, 3, 4), p=3, dim=(0, 2)),
    ),
    avoid=(0.0,),
)(norm)


# --- composite solvers ---
def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """Same as torch.linalg.solve_triangular (only A's triangle is read, and differentiated)."""
    _check_matrix("linalg.solve_triangular", A)
    if isinstance(B, Tensor) and B._data.dtype != A._data.dtype:
        B = B.to(A.dtype)  # PyTorch computes in A's dtype (solve, by contrast, refuses)
    T = A
    if unitriangular:
        n = A.shape[-1]
        T = T - diag_embed(diagonal(T, 0, -2, -1)) + eye(n, dtype=A.dtype, device=A.device)
    return solve_upper_or_lower(T, B, upper, left)


def cholesky_solve(B, L, upper=False):
    """Same as torch.cholesky_solve: X with (L L^T) X = B, given the Cholesky factor L."""
    L = _mT(L) if upper else L
    return solve(L @ _mT(L), B)


def cholesky_inverse(L, upper=False):
    """Same as torch.cholesky_inverse: the inverse of L L^T, given the Cholesky factor L."""
    L = _mT(L) if upper else L
    return inv(L @ _mT(L))


def pinverse(input, rcond=1e-15):
    """Same as torch.pinverse."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """Same as torch.linalg.matrix_rank (an int64 tensor)."""
    _check_matrix("linalg.matrix_rank", A, square=hermitian)
    a = A._data
    xp = array_module(a)
    atol, rtol = _tolerances(a, _number(atol), _number(rtol), xp)
    s = xp.abs(xp.linalg.eigvalsh(a)) if hermitian else xp.linalg.svd(a, compute_uv=False)
    top = s.max(axis=-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,))
    rank = (s > xp.maximum(atol, rtol * top)).sum(axis=-1)
    rank = to_device(xp.asarray(rank, dtype="int64"), A.device)
    return Tensor._make(rank)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """Same as torch.linalg.lstsq: (solution, residuals, rank, singular_values).

    The solution is pinv(A) @ B (whose gradient is PyTorch's). Which other fields are filled
    follows the driver, as on PyTorch's CPU: residuals for gels/gelsd/gelss when m > n and A
    has full rank, rank for all but gels, singular values for gelsd/gelss.
    """
    driver = driver or "gelsy"
    if driver not in _DRIVERS:
        raise RuntimeError(
            f"torch.linalg.lstsq: parameter `driver` should be one of ({', '.join(_DRIVERS)})"
        )
    _check_matrix("linalg.lstsq", A, square=False)
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(
            "torch.linalg.lstsq: Expected input and other to have the same dtype, but got "
            f"input's dtype {type_word(A)} and other's dtype {type_word(B)}"
        )
    vector = B._data.ndim == A._data.ndim - 1
    rhs = B.unsqueeze(-1) if vector else B
    if rhs.shape[-2] != A.shape[-2]:
        raise RuntimeError(
            f"torch.linalg.lstsq: input.size(-2) should match other.size(-2), but got "
            f"{A.shape[-2]} and {rhs.shape[-2]}"
        )
    xp = array_module(A._data)
    m, n = A.shape[-2:]
    rtol = rcond if rcond is not None else float(xp.finfo(A._data.dtype).eps) * builtins.max(m, n)
    solution = pinv(A, rtol=rtol) @ rhs
    empty = zeros(0, dtype=A.dtype, device=A.device)
    ranks = matrix_rank(A, rtol=rtol)
    rank = ranks if driver != "gels" else zeros(0, dtype="int64", device=A.device)
    residuals = empty
    if driver != "gelsy" and m > n and bool((ranks == n).all()):
        residuals = ((A @ solution - rhs) ** 2).sum(-2)
        residuals = residuals.squeeze(-1) if vector else residuals
    values = svdvals(A).detach() if driver in ("gelsd", "gelss") else empty
    return LstsqResult(solution.squeeze(-1) if vector else solution, residuals, rank, values)


# --- powers ---
def matrix_power(A, n):
    """Same as torch.linalg.matrix_power: A^n by repeated squaring (n < 0 inverts first)."""
    _check_matrix("linalg.matrix_power", A)
    if not isinstance(n, int):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if n == 0:
        identity = eye(A.shape[-1], dtype=A.dtype, device=A.device)
        return identity.expand(A.shape).clone()
    base = inv(A) if n < 0 else A
    n = builtins.abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


register(
    "matrix_power",
    lambda lib, a, **kw: lib.linalg.matrix_power(_shifted(lib, a) * 0.3, **kw),
    (S((3, 3), n=1), S((3, 3), n=3), S((2, 3, 3), n=6), S((3, 3), n=-2)),
)(matrix_power)
register(
    "lstsq",
    lambda lib, a, b: lib.linalg.lstsq(a, b).solution,
    (S((5, 3), (5, 2)), S((3, 3), (3, 1)), S((2, 4, 3), (2, 4))),
)(lstsq)
register(
    "cholesky_solve",
    lambda lib, b, a: lib.cholesky_solve(b, lib.linalg.cholesky(_spd(lib, a))),
    (S((3, 2), (3, 3)),),
)(cholesky_solve)


register("trace", lambda lib, x: lib.trace(x), (S((3, 3)), S((2, 4))))(trace)
register(
    "diag",
    lambda lib, x, **kw: lib.diag(x, **kw),
    (S((3,)), S((3,), diagonal=-1), S((3, 4)), S((3, 4), diagonal=2)),
)(diag)
TRIANGLE = (S((3, 4)), S((4, 3), diagonal=1), S((2, 3, 3), diagonal=-1), S((3, 3), diagonal=-5))
register("tril", lambda lib, x, **kw: lib.tril(x, **kw), TRIANGLE, avoid=(0.0,))(tril)
register("triu", lambda lib, x, **kw: lib.triu(x, **kw), TRIANGLE, avoid=(0.0,))(triu)
register(
    "linalg_cross",
    lambda lib, a, b, **kw: lib.linalg.cross(a, b, **kw),
    (
        S((4, 3), (4, 3)),
        S((3, 2), (3, 1), dim=0),
        S((1, 3), (2, 3)),
        S((2, 3, 4), (1, 3, 4), dim=-2),
    ),
)(linalg_cross)
register("cross", lambda lib, a, b: lib.cross(a, b, dim=1), (S((2, 3, 4), (2, 3, 4)),))(cross)

__all__ = [
    "cholesky_inverse",
    "cholesky_solve",
    "cross",
    "diag",
    "diag_embed",
    "diagonal",
    "matrix_power",
    "norm",
    "pinverse",
    "trace",
    "tril",
    "triu",
]
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    "tril_": tril_,
    "triu_": triu_,
}

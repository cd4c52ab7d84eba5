"""Matrix functions and decompositions with their gradients (real dtypes, batched).

inv, det, slogdet, solve, cholesky, qr, eigh, svd and pinv are primitives: the backend's
LAPACK routine forward, and a backward in ember ops (so second derivatives work); svdvals,
eigvalsh, logdet and the old torch.* spellings are composites over them. Solvers built on
these (lstsq, solve_triangular, matrix_power, ...) live in linalg_extra.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._shapes import broadcast_shapes
from ember.ops._table import S, register
from ember.ops.creation import eye, zeros
from ember.ops.linalg import type_word
from ember.ops.pointwise import where


class LinAlgError(RuntimeError):
    """Same as torch.linalg.LinAlgError: a matrix function failed (singular, not definite)."""


SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
SvdResult = namedtuple("svd", ["U", "S", "Vh"])
OldSvdResult = namedtuple("svd", ["U", "S", "V"])
EighResult = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
QrResult = namedtuple("qr", ["Q", "R"])
LstsqResult = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])


def _mT(t):
    return t.transpose(-2, -1)


def _check_matrix(op, A, square=True):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(A).__name__}")
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if not is_floating(A._data.dtype):
        raise RuntimeError(
            f"{op}: Expected a floating point or complex tensor as input. Got {type_word(A)}"
        )
    m, n = A.shape[-2:]
    if square and m != n:
        raise RuntimeError(
            f"{op}: A must be batches of square matrices, but they are {m} by {n} matrices"
        )


def _failed(xp):
    """The exception types the backend's linalg raises for singular or indefinite input."""
    error = getattr(xp.linalg, "LinAlgError", None)
    return (error,) if error is not None else ()


def _first_failure(xp, fn, a):
    """The index of the first matrix in the batch `a` that makes `fn` fail (0 for one matrix)."""
    if a.ndim == 2:
        return 0
    for i, matrix in enumerate(a.reshape((-1,) + a.shape[-2:])):
        try:
            fn(matrix)
        except _failed(xp):
            return i
    return 0


def _batch_prefix(a, index):
    """PyTorch's "(Batch element i): " prefix, for batched input only."""
    return f"(Batch element {index}): " if a.ndim > 2 else ""


def _safe_reciprocal(x):
    """1 / x, with 0 where x == 0 (coincident eigen- or singular values carry no term)."""
    zero = x == 0
    return where(zero, 0.0, 1.0 / where(zero, 1.0, x))


# Well-conditioned sample matrices, built inside `call` so that torch sees the same ones.
def _shifted(lib, a):
    """a + 5I: diagonally dominant for the small samples, far from singular."""
    return a + 5.0 * lib.eye(a.shape[-1], dtype=a.dtype, device=a.device)


def _signs(lib, a):
    """Column signs (1, -1, 1) that make the sample's determinant negative."""
    return lib.tensor([1.0, -1.0, 1.0], dtype=a.dtype, device=a.device)


def _spd(lib, a):
    """a a^T + nI: symmetric positive definite."""
    n = a.shape[-1]
    return a @ a.transpose(-2, -1) + n * lib.eye(n, dtype=a.dtype, device=a.device)


def _spread(lib, a):
    """A symmetric matrix with well-separated eigenvalues: (a + a^T)/2 + diag(0, 3, 6, ...)."""
    n = a.shape[-1]
    spread = lib.arange(n, dtype=a.dtype, device=a.device) * 3.0
    return (a + a.transpose(-2, -1)) * 0.5 + lib.diag(spread)


SQUARE = (S((3, 3)), S((2, 3, 3)), S((1, 1)))


# --- inverse and determinants ---
@register("inv", lambda lib, a: lib.linalg.inv(_shifted(lib, a)), SQUARE)
class Inv(Primitive):
    """LAPACK's inverse; grad_A = -A^{-T} grad A^{-T} reuses the output."""

    node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        try:
            out = xp.linalg.inv(a)
        except _failed(xp):
            where_ = _batch_prefix(a, _first_failure(xp, xp.linalg.inv, a))
            raise LinAlgError(
                f"linalg.inv: {where_}The inversion could not be completed because the input "
                "matrix is singular."
            ) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        out_t = _mT(out)
        return -(out_t @ grad @ out_t)


def inv(A):
    """Same as torch.linalg.inv (LinAlgError for a singular matrix)."""
    _check_matrix("linalg.inv", A)
    return Inv.apply(A)


@register("det", lambda lib, a: lib.linalg.det(_shifted(lib, a)), SQUARE + (S((3, 3, 3)),))
class Det(Primitive):
    """LAPACK's LU determinant; grad_A = det(A) A^{-T}, or the cofactor matrix (through the
    SVD) when A is singular."""

    node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        out = array_module(a).linalg.det(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        try:
            a_inv = inv(a)
        except LinAlgError:
            return _cofactor(a, grad)
        return (grad * out).unsqueeze(-1).unsqueeze(-1) * _mT(a_inv)


def _cofactor(a, grad):
    """grad times the cofactor matrix of a, valid for singular a: with a = U diag(s) Vh,
    d det / d a = det(U) det(Vh) U diag(prod of the s_j other than s_i) Vh."""
    u, s, vh = Svd.apply(a, False)
    n = s.shape[-1]
    alone = eye(n, dtype="bool", device=a.device)
    others = where(alone, 1.0, s.unsqueeze(-2)).prod(-1)  # row i: s with s_i set to 1
    scale = (det(u) * det(vh) * grad).unsqueeze(-1) * others
    return (u * scale.unsqueeze(-2)) @ vh


def det(A):
    """Same as torch.linalg.det."""
    _check_matrix("linalg.det", A)
    return Det.apply(A)


@register(
    "slogdet",
    lambda lib, a: tuple(lib.linalg.slogdet(_shifted(lib, a) * _signs(lib, a))),
    (S((3, 3)), S((2, 3, 3))),
)
class Slogdet(Primitive):
    """LAPACK's LU gives sign and log|det| at once, without the overflow of log(det)."""

    node_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, a):
        sign, logabsdet = array_module(a).linalg.slogdet(a)
        ctx.save_for_backward(a)
        return sign, logabsdet

    @staticmethod
    def backward(ctx, grad_sign, grad_logabsdet):
        (a,) = ctx.saved_tensors  # the sign is piecewise constant: no gradient
        return grad_logabsdet.unsqueeze(-1).unsqueeze(-1) * _mT(inv(a))


def linalg_slogdet(A):
    """Same as torch.linalg.slogdet: (sign, logabsdet) as a named tuple."""
    _check_matrix("linalg.slogdet", A)
    return SlogdetResult(*Slogdet.apply(A))


def logdet(input):
    """Same as torch.logdet: log(det), NaN for a negative determinant, -inf for zero."""
    sign, logabsdet = linalg_slogdet(input)
    return where(sign < 0, math.nan, logabsdet)  # sign 0 already has logabsdet -inf


# --- linear systems ---
@register(
    "solve",
    lambda lib, a, b, **kw: lib.linalg.solve(_shifted(lib, a), b, **kw),
    (
        S((3, 3), (3, 2)),
        S((3, 3), (3,)),
        S((2, 3, 3), (2, 3)),
        S((2, 3, 3), (3, 4)),
        S((3, 3), (2, 3, 1)),
        S((3, 3), (2, 3), left=False),
    ),
)
class Solve(Primitive):
    """A X = B for matrices B with A's batch shape (the public solve broadcasts first)."""

    node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a)
        try:
            out = xp.linalg.solve(a, b)
        except _failed(xp):
            raise LinAlgError(
                "linalg.solve: The solver failed because the input matrix is singular."
            ) from None
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        grad_b = solve(_mT(a), grad)
        grad_a = -(grad_b @ _mT(x)) if ctx.needs_input_grad[0] else None
        return grad_a, grad_b


@register(
    "solve_triangular",
    lambda lib, a, b, **kw: lib.linalg.solve_triangular(_shifted(lib, a), b, **kw),
    (
        S((3, 3), (3, 2), upper=True),
        S((2, 3, 3), (2, 3, 4), upper=False),
        S((3, 3), (2, 3), upper=True, left=False),
        S((3, 3), (3, 2), upper=False, unitriangular=True),
    ),
)
class SolveTriangular(Primitive):
    """T X = B for a triangular T (the other triangle is read as zero), B with T's batch shape.

    LAPACK's general solver is plain back substitution on an upper-triangular matrix (its
    pivot search meets only zeros below the diagonal), which is as accurate as a triangular
    solve gets; a lower T is solved as the upper J T J, J the reversal. Pivoting on a lower
    T instead would cost float32 gradients (QR's, Cholesky's) several digits.
    """

    node_name = "LinalgSolveTriangularBackward0"

    @staticmethod
    def forward(ctx, t, b, upper):
        xp = array_module(t)
        triangle = xp.triu(t) if upper else xp.tril(t)
        try:
            if upper:
                out = xp.linalg.solve(triangle, b)
            else:
                flipped = triangle[..., ::-1, ::-1]
                out = xp.linalg.solve(flipped, b[..., ::-1, :])[..., ::-1, :]
        except _failed(xp):
            raise LinAlgError(
                "linalg.solve_triangular: The diagonal of the triangular matrix has a zero."
            ) from None
        ctx.upper = upper
        ctx.save_for_backward(t, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        t, x = ctx.saved_tensors  # t as given (its graph matters for higher derivatives)
        grad_b = SolveTriangular.apply(_mT(t), grad, not ctx.upper)
        grad_t = None
        if ctx.needs_input_grad[0]:
            grad_t = -(grad_b @ _mT(x))
            grad_t = grad_t.triu() if ctx.upper else grad_t.tril()
        return grad_t, grad_b, None


def solve(A, B, *, left=True):
    """Same as torch.linalg.solve: X with A X = B (X A = B with left=False), batches broadcast."""
    return _solve("linalg.solve", A, B, left, Solve.apply)


def solve_upper_or_lower(T, B, upper, left=True):
    """X with T X = B (X T = B with left=False) for a triangular T, batches broadcast; only
    T's triangle is read (and differentiated)."""
    if not left:  # X T = B is T^T X^T = B^T, and T^T has the other triangle
        return _mT(solve_upper_or_lower(_mT(T), _mT(B), not upper)).contiguous()
    solver = lambda a, b: SolveTriangular.apply(a, b, upper)  # noqa: E731
    return _solve("linalg.solve_triangular", T, B, True, solver)


def _solve(op, A, B, left, apply):
    """The shape and dtype checks and the broadcasting shared by the solves."""
    _check_matrix(op, A)
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(
            f"{op}: Expected A and B to have the same dtype, but found A of type "
            f"{type_word(A)} and B of type {type_word(B)} instead"
        )
    if not left:
        return _mT(_solve(op, _mT(A), _mT(B), True, apply)).contiguous()
    vector = B._data.ndim == 1 or (B._data.ndim == A._data.ndim - 1 and B.shape == A.shape[:-1])
    rhs = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if rhs.shape[-2] != n:
        raise RuntimeError(
            f"{op}: Incompatible shapes of A and B for the equation AX = B "
            f"({n}x{n} and {rhs.shape[-2]}x{rhs.shape[-1]})"
        )
    batch = broadcast_shapes(A.shape[:-2], rhs.shape[:-2], op=op)
    if A.shape[:-2] != batch:
        A = A.expand(batch + A.shape[-2:])
    if rhs.shape[:-2] != batch:
        rhs = rhs.expand(batch + rhs.shape[-2:])
    x = apply(A, rhs)
    return x.squeeze(-1) if vector else x


# --- Cholesky ---
def _phi(x):
    """The lower triangle with the diagonal halved."""
    return x.tril() - 0.5 * x.diagonal(0, -2, -1).diag_embed()


@register(
    "cholesky",
    lambda lib, a, **kw: lib.linalg.cholesky(_spd(lib, a), **kw),
    (S((3, 3)), S((2, 3, 3)), S((3, 3), upper=True)),
)
class Cholesky(Primitive):
    """LAPACK's Cholesky factor (lower); only A's lower triangle is read."""

    node_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a)
        try:
            out = xp.linalg.cholesky(a)
        except _failed(xp):
            raise LinAlgError(_cholesky_message(xp, a)) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # A = L L^T gives grad_A = L^{-T} phi(L^T grad) L^{-1}, symmetrized
        (L,) = ctx.saved_tensors
        L_inv = inv(L)
        g = _mT(L_inv) @ _phi(_mT(L) @ grad) @ L_inv
        return (g + _mT(g)) * 0.5


def _cholesky_message(xp, a):
    index = _first_failure(xp, xp.linalg.cholesky, a)
    matrix = a.reshape((-1,) + a.shape[-2:])[index]
    order = a.shape[-1]
    for k in range(1, a.shape[-1] + 1):  # the first leading minor that is not definite
        try:
            xp.linalg.cholesky(matrix[:k, :k])
        except _failed(xp):
            order = k
            break
    return (
        f"linalg.cholesky: {_batch_prefix(a, index)}The factorization could not be completed "
        f"because the input is not positive-definite (the leading minor of order {order} is not "
        "positive-definite)."
    )


def cholesky(A, *, upper=False):
    """Same as torch.linalg.cholesky: L with A = L L^T (or U = L^T with upper=True)."""
    _check_matrix("linalg.cholesky", A)
    L = Cholesky.apply(A)
    return _mT(L) if upper else L


# --- QR ---
@register(
    "qr",
    lambda lib, a, **kw: tuple(lib.linalg.qr(a, **kw)),
    (S((4, 3)), S((3, 3)), S((2, 4, 3)), S((3, 3), mode="complete"), S((3, 5))),
)
class Qr(Primitive):
    """LAPACK's Householder QR; mode 'r' computes Q too but refuses to differentiate."""

    node_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, a, mode):
        q, r = array_module(a).linalg.qr(a, mode="reduced" if mode == "r" else mode)
        ctx.mode = mode
        ctx.save_for_backward(q, r)
        return q, r

    @staticmethod
    def backward(ctx, grad_q, grad_r):
        q, r = ctx.saved_tensors
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                "through linalg.qr."
            )
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        if m >= n:
            return _qr_backward_tall(q, r, grad_q, grad_r), None
        # A wide A = [X | Y] has R = [U | V] with X = QU, Y = QV: X is a square QR, Y = QV
        u, v = r[..., :, :m], r[..., :, m:]
        grad_u, grad_v = grad_r[..., :, :m], grad_r[..., :, m:]
        grad_x = _qr_backward_tall(q, u, grad_q + (q @ v) @ _mT(grad_v), grad_u)
        grad_y = q @ grad_v
        from ember.ops.join import cat

        return cat([grad_x, grad_y], -1), None


def _qr_backward_tall(q, r, grad_q, grad_r):
    """The gradient of a reduced QR with m >= n.

    (gQ + Q sym(gR R^T - Q^T gQ)) R^{-T}, sym copying the upper triangle down, rearranged so
    that no column cancels before R^{-T} divides it by a small diagonal entry of R: with
    N = Q^T gQ it is ((I - Q Q^T) gQ + Q (tril(N - N^T, -1) + sym(gR R^T))) R^{-T}, and
    (I - Q Q^T) gQ is exactly 0 for a square Q. In float32 this keeps the gradient of an
    ill-conditioned A to a few ulps where the textbook form loses four digits."""
    n_ = _mT(q) @ grad_q
    m = grad_r @ _mT(r)
    inner = (n_ - _mT(n_)).tril(-1) + m.triu() + _mT(m.triu(1))
    b = q @ inner
    if q.shape[-2] > q.shape[-1]:
        b = b + (grad_q - q @ n_)
    return _mT(SolveTriangular.apply(r, _mT(b), True))


def linalg_qr(A, mode="reduced"):
    """Same as torch.linalg.qr: mode 'reduced', 'complete' or 'r' (Q is then empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    _check_matrix("linalg.qr", A, square=False)
    q, r = Qr.apply(A, mode)
    if mode == "r":
        q = zeros(0, dtype=A.dtype, device=A.device)
    return QrResult(q, r)


def qr(input, some=True):
    """Same as torch.qr (the old spelling: some=False is mode 'complete')."""
    return linalg_qr(input, "reduced" if some else "complete")


# --- symmetric eigendecomposition ---
@register(
    "eigh",
    lambda lib, a, **kw: _gauge_fixed(lib.linalg.eigh(_spread(lib, a), **kw)),
    (S((3, 3)), S((2, 4, 4)), S((3, 3), UPLO="U")),
    atol=1e-4,
)
class Eigh(Primitive):
    """LAPACK's symmetric eigensolver (reads the UPLO triangle); the gradient needs distinct
    eigenvalues where the eigenvectors are differentiated, as PyTorch."""

    node_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = array_module(a).linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, grad_w, grad_v):
        # grad_A = V (diag(grad_w) + skew(V^T grad_V) / (w_j - w_i)) V^T: symmetric
        w, v = ctx.saved_tensors
        inner = grad_w.diag_embed()
        m = _mT(v) @ grad_v
        gaps = w.unsqueeze(-2) - w.unsqueeze(-1)
        inner = inner + (m - _mT(m)) * 0.5 * _safe_reciprocal(gaps)
        return v @ inner @ _mT(v), None


def _gauge_fixed(pair):
    """Eigen- or singular vectors up to sign: scale each column by its first entry."""
    values, vectors = pair
    return values, vectors * vectors[..., :1, :]


def eigh(A, UPLO="L"):
    """Same as torch.linalg.eigh: (eigenvalues ascending, eigenvectors) of a symmetric matrix."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    _check_matrix("linalg.eigh", A)
    return EighResult(*Eigh.apply(A, UPLO))


def eigvalsh(A, UPLO="L"):
    """Same as torch.linalg.eigvalsh: the eigenvalues of a symmetric matrix, ascending."""
    return eigh(A, UPLO).eigenvalues


# --- singular value decomposition ---
@register(
    "svd",
    lambda lib, a, **kw: _svd_gauge_fixed(lib.linalg.svd(a, **kw)),
    (S((3, 3)), S((4, 3), full_matrices=False), S((2, 3, 5)), S((4, 2), full_matrices=True)),
    atol=1e-4,
)
class Svd(Primitive):
    """LAPACK's SVD; the gradient needs distinct nonzero singular values where U or Vh are
    differentiated, as PyTorch (S alone is fine)."""

    node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = array_module(a).linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx, grad_u, grad_s, grad_vh):
        u, s, vh = ctx.saved_tensors
        m, n = u.shape[-2], vh.shape[-1]
        k = builtins.min(m, n)
        if u.shape[-1] != k:  # full_matrices: the extra columns carry no gradient
            u, grad_u = u[..., :, :k], grad_u[..., :, :k]
        if vh.shape[-2] != k:
            vh, grad_vh = vh[..., :k, :], grad_vh[..., :k, :]
        v, grad_v = _mT(vh), _mT(grad_vh)
        s2 = s * s
        f = _safe_reciprocal(s2.unsqueeze(-2) - s2.unsqueeze(-1))  # 1 / (s_j^2 - s_i^2)
        ju = f * (_mT(u) @ grad_u - _mT(grad_u) @ u)
        jv = f * (_mT(v) @ grad_v - _mT(grad_v) @ v)
        inner = ju * s.unsqueeze(-2) + s.unsqueeze(-1) * jv + grad_s.diag_embed()
        grad_a = u @ inner @ vh
        s_inv = _safe_reciprocal(s)
        if m > k:  # (I - U U^T) grad_U S^{-1} V^T
            grad_a = grad_a + ((grad_u - u @ (_mT(u) @ grad_u)) * s_inv.unsqueeze(-2)) @ vh
        if n > k:  # U S^{-1} grad_V^T (I - V V^T)
            grad_a = grad_a + u @ (s_inv.unsqueeze(-1) * _mT(grad_v - v @ (vh @ grad_v)))
        return grad_a, None


def _svd_gauge_fixed(usv):
    u, s, vh = usv
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return u * u[..., :1, :], s, vh * vh[..., :, :1]


def linalg_svd(A, full_matrices=True, *, driver=None):
    """Same as torch.linalg.svd: (U, S, Vh) with A = U diag(S) Vh."""
    _check_matrix("linalg.svd", A, square=False)
    return SvdResult(*Svd.apply(A, full_matrices))


def svdvals(A, *, driver=None):
    """Same as torch.linalg.svdvals: the singular values, descending."""
    _check_matrix("linalg.svdvals", A, square=False)
    return Svd.apply(A, False)[1]


def svd(input, some=True, compute_uv=True):
    """Same as torch.svd (the old API): (U, S, V) with V, not Vh."""
    _check_matrix("svd", input, square=False)
    if not compute_uv:
        m, n = input.shape[-2:]
        batch = input.shape[:-2]
        like = dict(dtype=input.dtype, device=input.device)
        return OldSvdResult(
            zeros(batch + (m, m), **like), svdvals(input), zeros(batch + (n, n), **like)
        )
    u, s, vh = Svd.apply(input, not some)
    return OldSvdResult(u, s, _mT(vh))


# --- pseudo-inverse and least squares ---
def _tolerances(a, atol, rtol, xp):
    atol = 0.0 if atol is None else float(atol)
    if rtol is None:
        rtol = xp.finfo(a.dtype).eps * builtins.max(a.shape[-2:]) if atol <= 0 else 0.0
    return atol, float(rtol)


@register(
    "pinv",
    lambda lib, a, **kw: lib.linalg.pinv(a, **kw),
    (S((3, 3)), S((4, 3)), S((2, 3, 5)), S((3, 3), hermitian=False, rtol=1e-12)),
)
@register(
    "pinv_hermitian",
    lambda lib, a: lib.linalg.pinv(_spd(lib, a), hermitian=True),
    (S((3, 3)),),
)
class Pinv(Primitive):
    """A primitive for its gradient, valid wherever the rank is locally constant (no need for
    distinct singular values, which a composite through svd would have)."""

    node_name = "LinalgPinvBackward0"

    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian):
        xp = array_module(a)
        atol, rtol = _tolerances(a, atol, rtol, xp)
        if a.size == 0:  # the pseudo-inverse of an empty matrix is the empty transpose
            out = xp.zeros(a.shape[:-2] + (a.shape[-1], a.shape[-2]), dtype=a.dtype)
        elif hermitian:
            w, v = xp.linalg.eigh(a)
            mag = xp.abs(w)
            keep = mag > xp.maximum(atol, rtol * mag.max(axis=-1, keepdims=True))
            w_inv = xp.where(keep, 1.0 / xp.where(keep, w, 1.0), 0.0).astype(a.dtype)
            out = (v * w_inv[..., None, :]) @ xp.swapaxes(v, -1, -2)
        else:
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            keep = s > xp.maximum(atol, rtol * s[..., :1])
            s_inv = xp.where(keep, 1.0 / xp.where(keep, s, 1.0), 0.0).astype(a.dtype)
            out = (xp.swapaxes(vh, -1, -2) * s_inv[..., None, :]) @ xp.swapaxes(u, -1, -2)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P, transposed to grad_A
        a, p = ctx.saved_tensors
        p_t, grad_t = _mT(p), _mT(grad)
        first = -(p_t @ grad @ p_t)
        second = (grad_t - a @ (p @ grad_t)) @ (p @ p_t)
        third = (p_t @ p) @ (grad_t - (grad_t @ p) @ a)
        return first + second + third, None, None, None


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """Same as torch.linalg.pinv: singular values at or below max(atol, rtol * largest) drop."""
    _check_matrix("linalg.pinv", A, square=hermitian)
    return Pinv.apply(A, _number(atol), _number(rtol), hermitian)


def _number(x):
    return x.item() if isinstance(x, Tensor) else x


register(
    "svdvals",
    lambda lib, a: lib.linalg.svdvals(a),
    (S((3, 3)), S((4, 3)), S((2, 3, 5))),
)(svdvals)
register(
    "eigvalsh",
    lambda lib, a: lib.linalg.eigvalsh(_spread(lib, a)),
    (S((3, 3)), S((2, 4, 4))),
)(eigvalsh)
register("logdet", lambda lib, a: lib.logdet(_shifted(lib, a)), SQUARE)(logdet)


def cholesky_old(input, upper=False):
    """Same as torch.cholesky (the old spelling of torch.linalg.cholesky)."""
    return cholesky(input, upper=upper)


__all__ = ["det", "logdet", "qr", "svd"]
ALIASES = {"inverse": inv, "slogdet": linalg_slogdet, "cholesky": cholesky_old}
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__},
    **ALIASES,
}

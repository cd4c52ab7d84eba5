"""Matrix functions: the matrix exponential and products of Householder reflectors."""

from __future__ import annotations

import math

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._primitive import Primitive
from ember.ops._table import S, register
from ember.ops.creation import eye, zeros_like
from ember.ops.decompositions import _check_matrix, _mT
from ember.ops.join import cat
from ember.ops.linalg import type_word

# The [13/13] Pade approximant of exp is accurate to double precision on matrices whose 1-norm
# is at most this (Higham, "The scaling and squaring method for the matrix exponential
# revisited", 2005); larger matrices are halved s times and the result squared s times.
_THETA_13 = 5.371920351148152
_DEGREE = 13


def _pade_coefficients(m):
    """c_j = (2m - j)! m! / ((2m)! j! (m - j)!): exp(x) ~ sum c_j x^j / sum c_j (-x)^j."""
    f = math.factorial
    return [f(2 * m - j) * f(m) / (f(2 * m) * f(j) * f(m - j)) for j in range(m + 1)]


_C = _pade_coefficients(_DEGREE)


def _expm(xp, a):
    """exp of each matrix of `a` (float64 arrays) by scaling and squaring the [13/13] Pade
    approximant, each matrix of a batch with its own number of squarings."""
    norm = xp.abs(a).sum(axis=-2).max(axis=-1)  # the 1-norm of each matrix
    with xp.errstate(divide="ignore"):
        s = xp.maximum(xp.ceil(xp.log2(norm / _THETA_13)), 0)
    s = xp.where(xp.isfinite(s), s, 0)  # NaN or inf entries give NaN, with no squarings
    a = a * xp.exp2(-s)[..., None, None]
    ident = xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    c = _C
    odd = a6 @ (c[13] * a6 + c[11] * a4 + c[9] * a2) + c[7] * a6 + c[5] * a4 + c[3] * a2
    u = a @ (odd + c[1] * ident)
    even = a6 @ (c[12] * a6 + c[10] * a4 + c[8] * a2) + c[6] * a6 + c[4] * a4 + c[2] * a2
    v = even + c[0] * ident
    out = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max()) if s.size else 0):
        out = xp.where((k < s)[..., None, None], out @ out, out)
    return out


@register(
    "matrix_exp",
    lambda lib, a: lib.linalg.matrix_exp(a),
    (S((3, 3)), S((2, 4, 4)), S((1, 1)), S((5, 5))),
    domain=(-3.0, 3.0),  # the larger samples need squarings
)
class MatrixExp(Primitive):
    """exp(A) = sum A^k / k!. The gradient is the Frechet derivative at A^T applied to grad,
    read off the exponential of the block matrix [[A^T, grad], [0, A^T]]: backward is this
    same op, so gradients of gradients need no more code."""

    node_name = "LinalgMatrixExpBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        xp = array_module(a)
        # float64 throughout: float32 input loses nothing to the approximant's rounding
        return _expm(xp, a.astype(xp.float64)).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        n = a.shape[-1]
        at = _mT(a)
        grad = grad.expand(a.shape)
        block = cat([cat([at, grad], -1), cat([zeros_like(at), at], -1)], -2)
        return MatrixExp.apply(block)[..., :n, n:]


def matrix_exp(A):
    """Same as torch.linalg.matrix_exp: the exponential of each square matrix of A (*, n, n),
    by scaling and squaring a Pade approximant, computed in float64."""
    _check_matrix("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


def householder_product(A, tau):
    """Same as torch.linalg.householder_product (torch.orgqr): the first n columns of
    H_1 H_2 ... H_k for A (*, m, n) and tau (*, k), H_i = I - tau_i v_i v_i^T, where v_i is
    column i of A below the diagonal with a 1 on it and zeros above (LAPACK's geqrf layout).
    Composite of differentiable ops."""
    op = "torch.linalg.householder_product"
    for name, x in (("input", A), ("tau", tau)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(x).__name__}")
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions.")
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(
            f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1]"
        )
    if tau._data.ndim != A._data.ndim - 1:
        raise RuntimeError(
            f"{op}: Expected tau to have one dimension less than input, but got tau.ndim equal "
            f"to {tau._data.ndim} and input.ndim is equal to {A._data.ndim}"
        )
    k = tau.shape[-1]
    if n < k:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(
            f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
            f"{list(tau.shape[:-1])}"
        )
    if tau.dtype != A.dtype:
        raise RuntimeError(
            f"{op}: tau dtype {type_word(tau)} does not match input dtype {type_word(A)}"
        )
    if not is_floating(A._data.dtype):
        raise NotImplementedError(f"\"orgqr_cpu\" not implemented for '{type_word(A)}'")
    reflectors = A[..., :, :k].tril(-1) + eye(m, k, dtype=A.dtype, device=A.device)
    q = eye(m, n, dtype=A.dtype, device=A.device).expand(*A.shape[:-2], m, n)
    for i in reversed(range(k)):  # Q = H_1 (H_2 (... (H_k I)))
        v = reflectors[..., :, i : i + 1]
        q = q - tau[..., i, None, None] * (v @ (_mT(v) @ q))
    if k == 0:  # no reflector: still a function of A and tau (a zero gradient), as PyTorch
        q = q + (A[..., :0, :0].sum() + tau[..., :0].sum())
    return q


register(
    "householder_product",
    lambda lib, a, t: lib.linalg.householder_product(a, t),
    (S((4, 3), (3,)), S((3, 3), (2,)), S((2, 4, 2), (2, 2)), S((3, 3), (3,))),
)(householder_product)


def _geqrf(A):
    """LAPACK's geqrf of A (*, m, n), as torch.geqrf: (reflectors below the diagonal with R on
    and above it, tau). Not differentiable: for use under no_grad (e.g. orthogonal's
    right_inverse)."""
    if A.requires_grad:
        raise RuntimeError("geqrf: the derivative for 'geqrf' is not implemented.")
    xp = array_module(A._data)
    a = A._data
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    flat = a.reshape((-1, m, n))
    h = xp.empty(flat.shape, dtype=a.dtype)
    tau = xp.empty((flat.shape[0], min(m, n)), dtype=a.dtype)
    for i in range(flat.shape[0]):  # NumPy's 'raw' QR takes one matrix at a time
        raw, t = xp.linalg.qr(flat[i], mode="raw")
        h[i], tau[i] = raw.T, t
    return Tensor._make(h.reshape(a.shape)), Tensor._make(tau.reshape(batch + (min(m, n),)))


__all__ = ["matrix_exp"]
ALIASES = {"orgqr": householder_product}
TENSOR_METHODS = {"matrix_exp": matrix_exp, "orgqr": householder_product}

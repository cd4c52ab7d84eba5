"""weight_norm, spectral_norm and orthogonal as parametrizations
(torch.nn.utils.parametrizations)."""

from __future__ import annotations

import numpy

from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.linalg import householder_product, matrix_exp, solve
from ember.nn.functional import normalize
from ember.nn.modules.module import Module
from ember.nn.utils import parametrize
from ember.ops.creation import eye, randn, zeros, zeros_like
from ember.ops.join import cat
from ember.ops.matrix_functions import _geqrf


def norm_except_dim(v, pow=2, dim=0):
    """The `pow`-norm of v over every dim but `dim` (all dims for dim=-1), keeping dims."""
    if dim == -1:
        return v.norm(pow)
    dims = [d for d in range(v.dim()) if d != dim % v.dim()]
    return v.abs().pow(pow).sum(dims, keepdim=True).pow(1 / pow)


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / norm_except_dim(weight_v, 2, self.dim))

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Same as torch.nn.utils.parametrizations.weight_norm: weight = g * v / ||v||, with
    `original0` (g) and `original1` (v) as the parameters."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but got "
                f"n_power_iterations={n_power_iterations}"
            )
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            matrix = self._reshape(weight)
            h, w = matrix.shape
            u = normalize(randn(h, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
            v = normalize(randn(w, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(matrix, 15)

    def _reshape(self, weight):
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    def _power_method(self, matrix, iterations):
        with no_grad():
            for _ in range(iterations):
                self._u.copy_(normalize(matrix.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(normalize(matrix.mH.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.dim() == 1:
            return normalize(weight, dim=0, eps=self.eps)
        matrix = self._reshape(weight)
        if self.training:
            self._power_method(matrix.detach(), self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(matrix.mv(v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Same as torch.nn.utils.parametrizations.spectral_norm: weight / sigma_max(weight),
    sigma estimated by power iteration (one step per training-mode access)."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "dim"):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        transposed = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
        dim = 1 if type(module).__name__ in transposed else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


class _Orthogonal(Module):
    """Maps an unconstrained tensor of the weight's shape to an orthogonal one (columns or
    rows orthonormal, whichever are fewer). matrix_exp and cayley read the lower triangle as a
    skew-symmetric matrix; householder reads the part below the diagonal as reflectors and
    the diagonal's signs. With trivialization the result is base @ map(X): assigning sets
    `base` and resets X to the point that maps to the identity."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        self._registering = False
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2:]
        transposed = n < k
        if transposed:  # work on the tall (n >= k) version
            X = X.mT
            n, k = k, n
        if self.orthogonal_map == "householder":
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = householder_product(A, tau)
            # the diagonal's signs (+-1) flip columns; truncated to int, as PyTorch, so the
            # diagonal gets no gradient
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        else:
            X = X.tril()
            if n != k:  # pad to a square n x n with zero columns
                X = cat(
                    [
                        X,
                        zeros(n, n - k, dtype=X.dtype, device=X.device).expand(
                            *X.shape[:-2], n, n - k
                        ),
                    ],
                    -1,
                )
            A = X - X.mT  # skew-symmetric, so its image is orthogonal
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
            else:  # Cayley: (I - A/2)^{-1} (I + A/2)
                ident = eye(n, dtype=A.dtype, device=A.device)
                Q = solve(ident - 0.5 * A, ident + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        if "base" in self._buffers:
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        """Set the module so that the parametrized tensor is Q (orthogonalized if it is not)."""
        if tuple(Q.shape) != tuple(self.shape):
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. "
                f"Got a tensor of shape {Q.shape}."
            )
        with no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):
        original = Q
        n, k = Q.shape[-2:]
        transposed = n < k
        if transposed:
            Q = Q.mT
            n, k = k, n
        if "base" not in self._buffers:
            if self._registering:
                # PyTorch's registration treats a right_inverse that raises
                # NotImplementedError as the identity: the weight itself is the original
                return original.clone()
            if self.orthogonal_map != "householder":
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential "
                    "or the Cayley parametrizations when use_trivialization=False."
                )
            # reflectors of Q's QR, with the diagonal holding the signs of R's diagonal (a
            # reflector LAPACK skipped, tau = 0, flips no column: its sign is negated)
            A, tau = _geqrf(Q.detach())
            signs = A.diagonal(dim1=-2, dim2=-1).sign()
            signs = signs * (1.0 - 2.0 * (tau == 0).to(signs.dtype))
            A.diagonal(dim1=-2, dim2=-1).copy_(signs)
            return A.mT if transposed else A
        if n == k:
            Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
        else:  # complete the k columns to an n x n orthogonal matrix
            fill = randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
            Q = _make_orthogonal(cat([Q, fill], -1))
        self.base = Q
        # -I maps to the identity under householder (and anything with a zero lower triangle
        # does under matrix_exp and cayley), so the parametrized tensor is base
        neg_identity = zeros_like(original)
        neg_identity.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_identity


def _is_orthogonal(Q):
    n, k = Q.shape[-2:]
    ident = eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * float(numpy.finfo(Q.dtype.np).eps)
    return bool((Q.mT @ Q).allclose(ident, atol=eps))


def _make_orthogonal(A):
    """The Q of A = QR (A tall) with R's diagonal made non-negative."""
    X, tau = _geqrf(A.detach())
    Q = householder_product(X, tau)
    return Q * X.diagonal(dim1=-2, dim2=-1).sign().unsqueeze(-2)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Same as torch.nn.utils.parametrizations.orthogonal: `module.<name>` (a matrix or a
    batch of matrices, shape (*, n, k)) becomes orthogonal (Q^T Q = I for n >= k, Q Q^T = I
    otherwise), kept so through training.

    orthogonal_map: "matrix_exp" (the default for square matrices), "cayley" or "householder"
    (the default otherwise). With use_trivialization (default) the tensor is base @ map(X):
    the buffer `base` is reset whenever the weight is assigned, and X starts at the point that
    maps to I. Without it, only householder can be assigned to."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.dim()} dimensions."
        )
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    orth._registering = not use_trivialization and orthogonal_map != "householder"
    try:
        parametrize.register_parametrization(module, name, orth, unsafe=True)
    finally:
        orth._registering = False
    return module


__all__ = ["orthogonal", "spectral_norm", "weight_norm"]

"""ember.linalg: matrix functions with PyTorch's names and gradients."""

from ember.ops._out import write_out
from ember.ops.decompositions import (
    LinAlgError,
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    pinv,
    solve,
    svdvals,
)
from ember.ops.decompositions import linalg_qr as qr
from ember.ops.decompositions import linalg_slogdet as slogdet
from ember.ops.decompositions import linalg_svd as svd
from ember.ops.linalg import matmul, multi_dot
from ember.ops.linalg_extra import linalg_cross as cross
from ember.ops.linalg_extra import linalg_diagonal as diagonal
from ember.ops.linalg_extra import linalg_norm as norm
from ember.ops.linalg_extra import (
    lstsq,
    matrix_norm,
    matrix_power,
    matrix_rank,
    solve_triangular,
    vector_norm,
)


def vecdot(x, y, *, dim=-1, out=None):
    """Same as torch.linalg.vecdot: the dot product along dim (broadcasting)."""
    return write_out("linalg.vecdot", (x * y).sum(dim), out)


def inv_ex(A, *, check_errors=False):
    """Same as torch.linalg.inv_ex: (inverse, info); ember raises on a singular matrix."""
    from ember.ops.creation import zeros

    return inv(A), zeros(A.shape[:-2], dtype="int32", device=A.device)


def cholesky_ex(A, *, upper=False, check_errors=False):
    """Same as torch.linalg.cholesky_ex: (L, info); ember raises when A is not definite."""
    from ember.ops.creation import zeros

    return cholesky(A, upper=upper), zeros(A.shape[:-2], dtype="int32", device=A.device)


__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "inv",
    "inv_ex",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "svdvals",
    "vecdot",
    "vector_norm",
]

"""ember.linalg: matrix functions with PyTorch's names and gradients.

Every function here that PyTorch gives an `out=` keyword gets it from the front door
(`ember.ops._front.with_out`), as the functions of the `ember` namespace do.
"""

from ember.ops import decompositions as _decompositions
from ember.ops import linalg as _products
from ember.ops import linalg_extra as _extra
from ember.ops import matrix_functions as _matrix_functions
from ember.ops._front import with_out
from ember.ops.creation import zeros as _zeros
from ember.ops.decompositions import LinAlgError
from ember.ops.linalg_extra import linalg_diagonal as diagonal
from ember.ops.linalg_extra import lstsq


def _vecdot(x, y, *, dim=-1):
    """Same as torch.linalg.vecdot: the dot product along dim (broadcasting)."""
    return (x * y).sum(dim)


def _inv_ex(A, *, check_errors=False):
    """Same as torch.linalg.inv_ex: (inverse, info); ember raises on a singular matrix."""
    return _decompositions.inv(A), _zeros(A.shape[:-2], dtype="int32", device=A.device)


def _cholesky_ex(A, *, upper=False, check_errors=False):
    """Same as torch.linalg.cholesky_ex: (L, info); ember raises when A is not definite."""
    L = _decompositions.cholesky(A, upper=upper)
    return L, _zeros(A.shape[:-2], dtype="int32", device=A.device)


cholesky = with_out("linalg.cholesky", _decompositions.cholesky)
cholesky_ex = with_out("linalg.cholesky_ex", _cholesky_ex)
cross = with_out("linalg.cross", _extra.linalg_cross)
det = with_out("linalg.det", _decompositions.det)
eigh = with_out("linalg.eigh", _decompositions.eigh)
eigvalsh = with_out("linalg.eigvalsh", _decompositions.eigvalsh)
householder_product = with_out("linalg.householder_product", _matrix_functions.householder_product)
inv = with_out("linalg.inv", _decompositions.inv)
inv_ex = with_out("linalg.inv_ex", _inv_ex)
matmul = with_out("linalg.matmul", _products.matmul)
matrix_exp = with_out("linalg.matrix_exp", _matrix_functions.matrix_exp)
matrix_norm = with_out("linalg.matrix_norm", _extra.matrix_norm)
matrix_power = with_out("linalg.matrix_power", _extra.matrix_power)
matrix_rank = with_out("linalg.matrix_rank", _extra.matrix_rank)
multi_dot = with_out("linalg.multi_dot", _products.multi_dot)
norm = with_out("linalg.norm", _extra.linalg_norm)
pinv = with_out("linalg.pinv", _decompositions.pinv)
qr = with_out("linalg.qr", _decompositions.linalg_qr)
slogdet = with_out("linalg.slogdet", _decompositions.linalg_slogdet)
solve = with_out("linalg.solve", _decompositions.solve)
solve_triangular = with_out("linalg.solve_triangular", _extra.solve_triangular)
svd = with_out("linalg.svd", _decompositions.linalg_svd)
svdvals = with_out("linalg.svdvals", _decompositions.svdvals)
vecdot = with_out("linalg.vecdot", _vecdot)
vector_norm = with_out("linalg.vector_norm", _extra.vector_norm)


__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "lstsq",
    "matmul",
    "matrix_exp",
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

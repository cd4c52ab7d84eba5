"""Distances, products and arrangements built from other ops: cdist, dist, renorm, inner,
cov, corrcoef, block_diag, cartesian_prod, combinations, rot90, vander.

All are composites of ember's differentiable ops; the norms are linalg.vector_norm's, whose
gradient at a zero vector is 0, as PyTorch's cdist and dist.
"""

from __future__ import annotations

import builtins
import itertools
import math

from ember._backend import array_module
from ember._dtype import get_default_dtype, is_floating, result_type
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._shapes import normalize_dim
from ember.ops._table import BINARY, S, register
from ember.ops.convert import cast
from ember.ops.creation import ones_like, zeros
from ember.ops.indexing import GetItem, _type_name
from ember.ops.join import cat, stack
from ember.ops.linalg_extra import vector_norm
from ember.ops.pointwise import clamp, sqrt, where
from ember.ops.pointwise_extra import inplace_method
from ember.ops.random_extra import meshgrid
from ember.ops.reduction import cumprod, mean, sum  # noqa: A004
from ember.ops.shape import flip, reshape, transpose


def _floating(t):
    return t if is_floating(t._data.dtype) else cast(t, get_default_dtype())


# --- distances ---
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Same as torch.cdist: the p-norm distance between each row of x1 (..., P, M) and each
    row of x2 (..., R, M), shaped (..., P, R) with the batch dims broadcast. Every mode of
    `compute_mode` computes the differences directly (the exact result; PyTorch's matmul
    shortcut for p=2 trades some accuracy for speed)."""
    for k, x in enumerate((x1, x2), start=1):
        if x._data.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, X{k} got: {x.dim()}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in (
        "use_mm_for_euclid_dist_if_necessary",
        "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist",
    ):
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    if not is_floating(x1._data.dtype) or not is_floating(x2._data.dtype):
        raise RuntimeError(
            f"cdist only supports floating-point dtypes, X1 got: {x1.dtype.name}"
            if not is_floating(x1._data.dtype)
            else f"cdist only supports floating-point dtypes, X2 got: {x2.dtype.name}"
        )
    differences = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if differences.shape[-1] == 0:  # no columns: every distance is 0, for every p
        return differences.sum(-1)
    return vector_norm(differences, p, -1)


register(
    "cdist",
    lambda lib, a, b, **kw: lib.cdist(a, b, **kw),
    (
        S((3, 4), (5, 4)),
        S((2, 3, 4), (1, 2, 4), p=1.0),
        S((3, 2), (2, 2), p=3.0),
        S((3, 2), (4, 2), p=float("inf")),
    ),
)(cdist)


def dist(input, other, p=2):
    """Same as torch.dist: the p-norm of input - other (broadcast), a 0-d tensor."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"dist(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )
    return vector_norm(input - other, p)


register("dist", lambda lib, a, b, **kw: a.dist(b, **kw), BINARY[:3] + (S((3, 4), (4,), p=1),))(
    dist
)


def renorm(input, p, dim, maxnorm):
    """Same as torch.renorm: each slice input.select(dim, i) whose p-norm exceeds maxnorm is
    scaled to norm maxnorm (by maxnorm / (norm + 1e-7), as PyTorch)."""
    ndim = input._data.ndim
    if ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {ndim} dimensions")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (p={p})")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = normalize_dim(dim, ndim, "renorm")
    others = tuple(k for k in range(ndim) if k != d)
    norms = vector_norm(input, p, others, True)
    factor = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return input * factor


register(
    "renorm",
    lambda lib, x, **kw: x.renorm(**kw),
    (S((3, 4), p=2, dim=0, maxnorm=1.0), S((2, 3, 4), p=1, dim=-1, maxnorm=2.0)),
)(renorm)


def inner(input, other):
    """Same as torch.inner: the sum of products over the last dims of both (a plain product
    when either is 0-d); the result has input's leading dims, then other's."""
    if input._data.ndim == 0 or other._data.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}"
        )
    lead_a, lead_b = input.shape[:-1], other.shape[:-1]
    k = input.shape[-1]  # (explicit row counts: -1 cannot be inferred when a size is 0)
    a = reshape(input, (math.prod(lead_a), k))
    b = reshape(other, (math.prod(lead_b), k))
    return reshape(a @ transpose(b, 0, 1), lead_a + lead_b)


register(
    "inner",
    lambda lib, a, b: lib.inner(a, b),
    (S((3, 4), (2, 4)), S((4,), (4,)), S((2, 3, 4), (4,)), S((), (2, 3))),
)(inner)


# --- covariance ---
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Same as torch.cov: the covariance matrix of the variables in input's rows (observations
    in columns; a single variable, 1-D or one row, gives a 0-d result), with integer frequency
    weights and float observation weights as PyTorch. Integers become the default float."""
    ndim = input._data.ndim
    if ndim > 2:
        raise RuntimeError(
            "cov(): expected input to have two or fewer dimensions but got an input with "
            f"{ndim} dimensions"
        )
    x = _floating(input if ndim == 2 else reshape(input, (1, -1)))
    n = x.shape[1]
    weights = None
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        if w._data.ndim > 1:
            raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions")
        if w.numel() != n:
            raise RuntimeError(
                f"cov(): expected {name} to have the same numel as there are observations in "
                f"the input but got {w.numel()} != {n}"
            )
        if name == "fweights" and w._data.dtype.kind not in "iu":
            raise RuntimeError(
                "cov(): expected fweights to have integral dtype but got fweights with "
                f"{_type_name(w)} dtype"
            )
        if name == "aweights" and not is_floating(w._data.dtype):
            raise RuntimeError(
                "cov(): expected aweights to have floating point dtype but got aweights with "
                f"{_type_name(w)} dtype"
            )
        if w.numel() and bool((w < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative")
        weights = w if weights is None else weights * w
    if weights is None:
        average = mean(x, 1, keepdim=True)
        denominator = n - correction
    else:
        weights = cast(weights, x.dtype)
        total = sum(weights)
        average = sum(x * weights, 1, keepdim=True) / total
        if aweights is None:
            denominator = total - correction
        else:
            denominator = total - correction * sum(weights * cast(aweights, x.dtype)) / total
    if isinstance(denominator, Tensor):  # (no warning: that would need its value here)
        denominator = clamp(denominator, min=0)
    elif denominator <= 0:
        warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "number of observations.",
            UserWarning,
        )
        denominator = 0
    centered = x - average
    weighted = centered if weights is None else centered * weights
    result = weighted @ transpose(centered, 0, 1) / denominator
    return reshape(result, ()) if x.shape[0] == 1 else result  # one variable: 0-d, as PyTorch


def corrcoef(input):
    """Same as torch.corrcoef: Pearson's correlation coefficients of the variables in input's
    rows, clipped to [-1, 1] (a 1-D input gives a 0-d 1, or NaN for a constant)."""
    c = cov(input)
    if c._data.ndim == 0:
        return c / c
    deviation = sqrt(c.diagonal())
    c = c / deviation.unsqueeze(1) / deviation.unsqueeze(0)
    return clamp(c, -1, 1)


def _cov_sample(lib, x, **kw):
    if kw.pop("weighted", False):  # (constant weights: checking them needs their values)
        kw["fweights"] = lib.tensor([1, 3, 2, 1], device=x.device)
        kw["aweights"] = lib.tensor([0.5, 1.5, 0.25, 1.0], device=x.device)
    return lib.cov(x, **kw)


register(
    "cov",
    _cov_sample,
    (S((3, 4)), S((5,)), S((2, 4), correction=0), S((3, 4), weighted=True))
    + (S((2, 4), weighted=True, correction=2),),
)(cov)
register("corrcoef", lambda lib, x: x.corrcoef(), (S((3, 4)), S((2, 5))))(corrcoef)


# --- arrangements ---
def block_diag(*tensors):
    """Same as torch.block_diag: the tensors (0-, 1- or 2-D, seen as matrices) on the diagonal
    of one matrix, zeros elsewhere, in their promoted dtype."""
    matrices = []
    for k, t in enumerate(tensors):
        if t._data.ndim > 2:
            raise RuntimeError(
                "torch.block_diag: Input tensors must have 2 or fewer dimensions. Input "
                f"{k} has {t._data.ndim} dimensions"
            )
        matrices.append(reshape(t, (1, -1)) if t._data.ndim < 2 else t)
    if not matrices:
        return zeros(1, 0)
    dtype = result_type(*matrices)
    width = builtins.sum(m.shape[1] for m in matrices)
    rows, left = [], 0
    for m in matrices:
        m = cast(m, dtype)
        h, w = m.shape
        parts = [
            zeros(h, left, dtype=dtype, device=m.device),
            m,
            zeros(h, width - left - w, dtype=dtype, device=m.device),
        ]
        rows.append(cat(parts, 1))
        left += w
    return cat(rows, 0)


register(
    "block_diag",
    lambda lib, *ts: lib.block_diag(*ts),
    (S((2, 3), (1, 2)), S((), (3,), (2, 2)), S((2, 0), (1, 1))),
)(block_diag)


def _vector(t, op):
    if t._data.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    return t


def cartesian_prod(*tensors):
    """Same as torch.cartesian_prod: every combination of one entry from each 1-D tensor, as
    the rows of a (N, len(tensors)) tensor (a single tensor is returned as is)."""
    for t in tensors:
        _vector(t, "cartesian_prod")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


register(
    "cartesian_prod",
    lambda lib, *ts: lib.cartesian_prod(*ts),
    (S((3,), (2,)), S((2,), (2,), (3,))),
)(cartesian_prod)


def combinations(input, r=2, with_replacement=False):
    """Same as torch.combinations: the length-r combinations of a 1-D tensor's entries (with
    repeats when with_replacement), as the rows of an (N, r) tensor, in itertools' order;
    r = 0 gives an empty 1-D tensor."""
    _vector(input, "combinations")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    xp = array_module(input._data)
    if r == 0:
        return GetItem.apply(input, (xp.zeros(0, dtype="int64"),))
    choose = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(choose(range(input.shape[0]), r))
    index = xp.asarray(rows, dtype="int64").reshape(len(rows), r)
    return GetItem.apply(input, (index,))


register(
    "combinations",
    lambda lib, x, **kw: lib.combinations(x, **kw),
    (S((4,)), S((4,), r=3), S((3,), with_replacement=True), S((2,), r=3)),
)(combinations)


def rot90(input, k=1, dims=(0, 1)):
    """Same as torch.rot90: rotated k times by 90 degrees in the plane of dims, from the first
    axis towards the second (negative k turns the other way)."""
    ndim = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {ndim}")
    d0, d1 = (normalize_dim(d, ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


register(
    "rot90",
    lambda lib, x, **kw: x.rot90(**kw),
    (S((3, 4)), S((3, 4), k=2), S((2, 3, 4), k=-1, dims=(2, 0)), S((3, 4), k=4)),
)(rot90)


def vander(x, N=None, increasing=False):  # noqa: N803
    """Same as torch.vander: the Vandermonde matrix of a 1-D tensor, columns x**(N-1) ... x**0
    (or x**0 ... x**(N-1) with increasing); N defaults to len(x). Built by a running product,
    so the gradient is exact at x = 0. Integers give int64."""
    if x._data.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x._data.dtype.kind in "bui":
        x = cast(x, "int64")
    column = x.unsqueeze(1)
    if n == 0:
        return column[:, :0] * 1
    powers = cat([ones_like(column), column.expand(x.shape[0], n - 1)], 1)
    result = cumprod(powers, 1)
    return result if increasing else flip(result, (1,))


# (not in the op table: torch 2.13's own vander cannot backward, an in-place error; the
# gradient is checked against finite differences in tests/ops/test_training_names.py)

__all__ = [
    "block_diag",
    "cartesian_prod",
    "cdist",
    "combinations",
    "corrcoef",
    "cov",
    "dist",
    "inner",
    "renorm",
    "rot90",
    "vander",
]
TENSOR_METHODS = {
    **{name: globals()[name] for name in ("corrcoef", "cov", "dist", "inner", "renorm", "rot90")},
    "renorm_": inplace_method("renorm", renorm),
}

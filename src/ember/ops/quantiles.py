"""Order statistics beside sorting.py's: quantile, nanquantile, mode.

Each picks entries of the input (through take_along, so the gradient goes back to exactly
those entries, as PyTorch) after sorting or counting on arrays.
"""

from __future__ import annotations

from ember._backend import array_module
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.ops._shapes import normalize_dim
from ember.ops._table import S, register
from ember.ops.pointwise_extra import lerp
from ember.ops.reduction import ValuesIndices, _squeezed, take_along
from ember.ops.shape import reshape

_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def _q_array(q, input, op):
    """q as a 1-D array of input's dtype, and whether the result has a q dimension."""
    data = input._data
    xp = array_module(data)
    if isinstance(q, Tensor):
        if q._data.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q._data.dtype != data.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        values = q._data.reshape(-1)
        if values.size and not bool(((values >= 0) & (values <= 1)).all()):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
        return values, q._data.ndim == 1
    if not 0 <= q <= 1:
        raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
    return xp.asarray([q], dtype=data.dtype), False


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan, op):
    if not is_floating(input._data.dtype):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _MODES:
        raise RuntimeError(
            f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest, "
            f"but got {interpolation}"
        )
    if input._data.size == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    qs, listed = _q_array(q, input, op)
    ndim = input._data.ndim
    if dim is None:
        x = reshape(input, -1)
    else:
        d = normalize_dim(dim, ndim, op)
        x = input.movedim(d, -1) if ndim else reshape(input, 1)
    data = x._data
    xp = array_module(data)
    n = data.shape[-1]
    order = xp.argsort(data, axis=-1)  # NaN sorts last
    nans = xp.isnan(data)
    if ignore_nan:  # the quantile of the values that are not NaN; NaN when all are
        count = (~nans).sum(axis=-1, keepdims=True)
        ranks = xp.maximum(qs * (count - 1).astype(data.dtype), 0)
    else:  # a NaN anywhere gives NaN: rank the last (NaN) entry
        ranks = xp.where(nans.any(axis=-1, keepdims=True), n - 1, qs * (n - 1))
        ranks = ranks.astype(data.dtype)
    if interpolation == "nearest":
        ranks = xp.round(ranks)  # half to even, as PyTorch
    below = xp.floor(ranks).astype("int64")
    above = xp.minimum(xp.ceil(ranks).astype("int64"), n - 1)

    def pick(positions):
        return take_along(x, xp.take_along_axis(order, positions, axis=-1), x._data.ndim - 1)

    if interpolation in ("lower", "nearest"):
        result = pick(below)
    elif interpolation == "higher":
        result = pick(above)
    else:
        weight = ranks - below if interpolation == "linear" else xp.full_like(ranks, 0.5)
        result = lerp(pick(below), pick(above), Tensor._make(weight.astype(data.dtype)))
    result = result.movedim(-1, 0)  # (q, rest...)
    if keepdim:
        kept = [1] * ndim if dim is None else list(input.shape)
        if dim is not None and ndim:
            kept[d] = 1
        result = reshape(result, (result.shape[0], *kept))
    return result if listed else result[0]


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """Same as torch.quantile: the q-th quantiles (q a number, or a 1-D tensor of input's
    dtype whose size becomes the result's first dim) of input, flattened or along dim. The
    rank q * (n - 1) falls between two sorted entries; interpolation says what to take:
    'linear', 'lower', 'higher', 'midpoint' or 'nearest'. A NaN in a slice gives NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """Same as torch.nanquantile: quantile of the values that are not NaN (NaN for a slice of
    NaN alone)."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def _quantile_sample(lib, x, **kw):
    q = kw.pop("q")
    if isinstance(q, list):
        q = lib.tensor(q, dtype=x.dtype, device=x.device)
    nan = kw.pop("nan", False)
    if nan:  # NaN in some rows
        x = lib.where(x > 1.2, float("nan"), x)
    return (lib.nanquantile if nan else lib.quantile)(x, q, **kw)


QUANTILE_SAMPLES = (
    S((3, 5), q=0.3),
    S((3, 5), q=[0.1, 0.5, 0.95], dim=1),
    S((2, 3, 4), q=0.75, dim=0, keepdim=True, interpolation="lower"),
    S((2, 5), q=[0.2, 0.6], dim=-1, interpolation="higher"),
    S((4, 5), q=0.5, dim=1, interpolation="midpoint"),
    S((6,), q=[0.3, 0.5], interpolation="nearest"),
    S((3, 4), q=[0.25], keepdim=True),
    S((), q=0.4, dim=0),
)
register("quantile", _quantile_sample, QUANTILE_SAMPLES)(quantile)
register(
    "nanquantile",
    _quantile_sample,
    (S((4, 6), q=0.3, dim=1, nan=True), S((4, 6), q=[0.2, 0.9], dim=0, nan=True)),
)(nanquantile)


# --- the most frequent value ---
def mode(input, dim=-1, keepdim=False):
    """Same as torch.mode: (values, indices) of the most frequent value along dim (the
    smallest of equally frequent ones) and the last index where it occurs."""
    data = input._data
    ndim = data.ndim
    d = normalize_dim(dim, ndim, "mode")
    xp = array_module(data)
    if ndim == 0:
        return ValuesIndices(input * 1, Tensor._make(xp.zeros((), dtype="int64")))
    n = data.shape[d]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    work = xp.moveaxis(data, d, -1)
    ordered = xp.sort(work, axis=-1)
    starts = xp.concatenate(
        [xp.ones(ordered.shape[:-1] + (1,), dtype=bool), ordered[..., 1:] != ordered[..., :-1]],
        axis=-1,
    )
    position = xp.arange(n, dtype="int64")
    run_start = xp.maximum.accumulate(xp.where(starts, position, 0), axis=-1)
    # the first position whose run is longest ends the run of the smallest most frequent value
    best = xp.argmax(position - run_start, axis=-1)[..., None]
    value = xp.take_along_axis(ordered, best, axis=-1)
    last = (n - 1) - xp.argmax(xp.flip(work == value, axis=-1), axis=-1)[..., None]
    indices = xp.moveaxis(last, -1, d)
    values = take_along(input, indices, d)
    return ValuesIndices(
        _squeezed(values, d, keepdim, ndim), _squeezed(Tensor._make(indices), d, keepdim, ndim)
    )


register(
    "mode",
    lambda lib, x, **kw: x.mode(**kw),
    (S((3, 6)), S((4, 3), dim=0, keepdim=True), S((2, 5, 3), dim=1), S(())),
)(mode)
register(  # rounded: ties, where the choice of value and index matters
    "mode_of_ties",
    lambda lib, x: lib.mode((x * 2).round(), 1),
    (S((3, 6)), S((2, 9))),
    avoid=(-1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75),
)(mode)

__all__ = ["mode", "nanquantile", "quantile"]
TENSOR_METHODS = {name: globals()[name] for name in __all__}

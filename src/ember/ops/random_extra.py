"""Index grids and sampling: tril_indices, triu_indices, meshgrid, bernoulli, multinomial.

Random draws come from an ember.Generator (the global one by default) on the host, and are
then moved to the input's device, so a seed gives the same numbers on every device.
"""

from __future__ import annotations

from ember import _backend, _random
from ember._dtype import bfloat16, int64, is_floating, to_dtype
from ember._tensor import Tensor
from ember._warn import warn
from ember.ops._table import S, register


def _host():
    return _backend.module_for(_backend.CPU)


def _on(array, device):
    return Tensor._make(_backend.to_device(array, _backend.Device(device)))


# --- index grids ---
def _triangle_indices(which, row, col, offset, dtype, device):
    if row < 0 or col < 0:
        raise RuntimeError(f"{which}: row and col must be non-negative, got row={row}, col={col}")
    xp = _host()
    rows, cols = getattr(xp, which)(row, offset, col)
    dtype = to_dtype(dtype) if dtype is not None else int64
    if dtype not in (int64, to_dtype("int32")):
        raise RuntimeError(f"\"{which}\" not implemented for '{dtype.name}'")
    return _on(xp.stack([rows, cols]).astype(dtype.np), device or "cpu")


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Same as torch.tril_indices: a 2 x N tensor of the lower triangle's (row, col) indices."""
    return _triangle_indices("tril_indices", row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Same as torch.triu_indices: a 2 x N tensor of the upper triangle's (row, col) indices."""
    return _triangle_indices("triu_indices", row, col, offset, dtype, device)


def meshgrid(*tensors, indexing=None):
    """Same as torch.meshgrid: broadcast views of 0-D/1-D tensors ('ij' or 'xy' indexing)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warn(
            "meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
            UserWarning,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f'meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(
                f"meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t._data.ndim}D"
            )
        if t._data.dtype != tensors[0]._data.dtype or t.device != tensors[0].device:
            raise RuntimeError(
                "meshgrid expects all tensors to have the same dtype and device, but got "
                f"{tensors[0].dtype} on {tensors[0].device} and {t.dtype} on {t.device}"
            )
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:  # x varies along columns: swap the first two
        order[0], order[1] = 1, 0
    shape = tuple(sizes[order[d]] for d in range(len(tensors)))
    grids = []
    for i, t in enumerate(tensors):
        position = order.index(i)
        view = [1] * len(tensors)
        view[position] = sizes[i]
        grids.append(t.reshape(view).expand(shape))
    return tuple(grids)


# --- sampling ---
def _probabilities(input, p, op):
    """The probabilities as a host array of input's shape, checked to lie in [0, 1]."""
    xp = _host()
    if p is None:
        probs = _backend.to_host(input._data)
    elif isinstance(p, Tensor):
        probs = xp.broadcast_to(_backend.to_host(p._data), input.shape)
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"{op} expects p to be in [0, 1], but got p={p}")
        probs = xp.full(input.shape, p)
    if probs.size and not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError(f"{op}: Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    return probs


def _draw_bernoulli(input, p, generator, op):
    probs = _probabilities(input, p, op)
    sample = _random.rng(generator).random(input.shape) < probs
    dtype = input._data.dtype if is_floating(input._data.dtype) else "float32"
    return _on(sample.astype(dtype), input.device)


def bernoulli(input, p=None, *, generator=None):
    """Same as torch.bernoulli: 0/1 draws with probabilities `input` (or a number p).

    The result carries no gradient (PyTorch's is zero).
    """
    if not is_floating(input._data.dtype) and p is None:
        raise RuntimeError(
            f"\"bernoulli_tensor_cpu_self_\" not implemented for '{input.dtype.name}'"
        )
    return _draw_bernoulli(input, p, generator, "bernoulli")


def bernoulli_(self, p=0.5, *, generator=None):
    """Same as torch.Tensor.bernoulli_: fill with 0/1 draws of probability p (number or tensor)."""
    from ember.ops.inplace import apply_inplace

    sample = _draw_bernoulli(self, p, generator, "bernoulli_").to(self.dtype)
    return apply_inplace(self, lambda x: sample, (), "bernoulli_")


def _fill_with_draws(self, draw, kernel, op, generator):
    """Fill a float tensor in place with host draws `draw(rng, shape)`."""
    from ember.ops.creation import check_float_draw
    from ember.ops.inplace import apply_inplace

    check_float_draw(self.dtype, kernel)
    values = draw(_random.rng(generator), tuple(self.shape)).astype(self._data.dtype)
    sample = _on(values, self.device)
    return apply_inplace(self, lambda x: sample, (), op)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Same as torch.Tensor.normal_: fill with draws from N(mean, std**2) (float tensors
    only, as PyTorch: an integer tensor raises NotImplementedError)."""
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _fill_with_draws(
        self, lambda r, s: r.normal(mean, std, s), "normal_kernel_cpu", "normal_", generator
    )


def uniform_(self, from_=0.0, to=1.0, *, generator=None):
    """Same as torch.Tensor.uniform_: fill with draws uniform on [from_, to) (float tensors
    only, as PyTorch)."""
    if from_ > to:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}"
        )
    return _fill_with_draws(
        self, lambda r, s: r.uniform(from_, to, s), "check_uniform_bounds", "uniform_", generator
    )


def _fill_with_values(self, values, op):
    """Write host `values` (any dtype) into self in place, cast to self's dtype."""
    from ember.ops.inplace import apply_inplace

    sample = _on(values.astype(self._data.dtype), self.device)
    return apply_inplace(self, lambda x: sample, (), op)


def _type_word(t):
    from ember.ops.indexing import _type_name

    return _type_name(t)


def _integer_bounds(dtype):
    """random_()'s default range [0, high] of a dtype: its largest integer that every smaller
    one is exactly representable below (2**mantissa bits for floats), as PyTorch."""
    kind = dtype.np.kind
    if kind == "b":
        return 1
    if kind == "f" or dtype is bfloat16:
        return 2 ** (_host().finfo(dtype.np).nmant + 1)
    return int(_host().iinfo(dtype.np).max)


def random_(self, from_=0, to=None, *, generator=None):
    """Same as torch.Tensor.random_: integers drawn uniformly from [from_, to); random_(to) is
    [0, to), random_() is [0, 2**mantissa] for floats and [0, max] for integers."""
    if to is None and from_ != 0:  # random_(to)
        from_, to = 0, from_
    high = _integer_bounds(self.dtype) + 1 if to is None else to
    if from_ >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={high}"
        )
    values = _random.rng(generator).integers(from_, high, tuple(self.shape), dtype="int64")
    return _fill_with_values(self, values, "random_")


def exponential_(self, lambd=1.0, *, generator=None):
    """Same as torch.Tensor.exponential_: fill with draws of rate lambd (float tensors)."""
    if not is_floating(self._data.dtype):
        raise RuntimeError(
            "Exponential distribution is a continuous probability distribution. dtype must be a "
            f"floating point but you specified {_type_word(self)}"
        )
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill_with_draws(
        self, lambda r, s: r.exponential(1.0 / lambd, s), "exponential", "exponential_", generator
    )


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Same as torch.Tensor.cauchy_: fill with Cauchy draws (float tensors)."""
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_with_draws(
        self, lambda r, s: median + sigma * r.standard_cauchy(s), "cauchy", "cauchy_", generator
    )


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Same as torch.Tensor.log_normal_: fill with exp of N(mean, std**2) draws."""
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_with_draws(
        self, lambda r, s: r.lognormal(mean, std, s), "log_normal", "log_normal_", generator
    )


def geometric_(self, p, *, generator=None):
    """Same as torch.Tensor.geometric_: fill with the number of Bernoulli(p) trials up to
    the first success (1, 2, ...); integer tensors too."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    values = _random.rng(generator).geometric(p, tuple(self.shape))
    return _fill_with_values(self, values, "geometric_")


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Same as torch.multinomial: category indices drawn by the (unnormalized) weights in rows."""
    if input._data.ndim not in (1, 2):
        raise RuntimeError("multinomial: prob_dist must be 1 or 2 dim")
    if not is_floating(input._data.dtype):
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {input.dtype.name}"
        )
    n = input.shape[-1]
    if num_samples <= 0:
        raise RuntimeError("multinomial: cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > n:
        raise RuntimeError(
            "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    xp = _host()
    weights = _backend.to_host(input._data).astype("float64").reshape(-1, n)
    if not xp.isfinite(weights).all() or (weights < 0).any():
        raise RuntimeError(
            "multinomial: probability tensor contains either `inf`, `nan` or element < 0"
        )
    totals = weights.sum(axis=1)
    if (totals <= 0).any():
        raise RuntimeError("multinomial: invalid distribution (sum of probabilities <= 0)")
    rng = _random.rng(generator)
    if replacement:
        rows = [rng.choice(n, size=num_samples, p=w / total) for w, total in zip(weights, totals)]
        result = xp.stack(rows)
    else:
        # an exponential race: the k largest w_i / E_i (E_i ~ Exp(1)) are a weighted draw
        # without replacement; zero weights lose every race and come last, as in PyTorch
        keys = weights / rng.exponential(size=weights.shape)
        result = xp.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    result = result.astype("int64")
    if input._data.ndim == 1:
        result = result[0]
    return _on(result, input.device)


register(
    "meshgrid",
    lambda lib, *ts, **kw: lib.meshgrid(*ts, **kw),
    (S((3,), (4,), indexing="ij"), S((3,), (4,), (2,), indexing="xy"), S((), (3,), indexing="xy")),
)(meshgrid)

__all__ = ["bernoulli", "meshgrid", "multinomial", "tril_indices", "triu_indices"]
TENSOR_METHODS = {
    "bernoulli": bernoulli,
    "cauchy_": cauchy_,
    "exponential_": exponential_,
    "geometric_": geometric_,
    "log_normal_": log_normal_,
    "random_": random_,
    "bernoulli_": bernoulli_,
    "multinomial": multinomial,
    "normal_": normal_,
    "uniform_": uniform_,
}

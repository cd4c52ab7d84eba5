"""vmap: map a function over a batch dimension, as a loop over the samples."""

from __future__ import annotations

import functools

from ember._tensor import Tensor
from ember.func import _core
from ember.func._pytree import broadcast_prefix, tree_flatten, tree_unflatten


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Same as torch.func.vmap: `func` mapped over a dimension of its inputs.

    `in_dims` says which dimension of each positional argument is the batch: an int for all,
    or a tuple with one entry per argument, each an int, None (not batched, passed whole to
    every call) or a nested structure matching that argument (a pytree prefix, as PyTorch).
    Keyword arguments are never batched. Every batched tensor must have the same size B along
    its batch dimension. `out_dims` (int, None, or a structure matching the output) says where
    the batch dimension goes in each output; None is for an output that is the same for every
    sample (a non-Tensor output needs it). Nested vmaps work, and so do `vmap(grad(f))`
    (per-sample gradients) and `grad(vmap(f))`: the slicing and stacking are ember ops.

    How ember does it (PyTorch instead runs `func` once on batched tensors): a loop. `func`
    runs once per sample on that sample's slices (`x.select(in_dim, i)`), and each output is
    `ember.stack`ed along its out_dim. The results equal PyTorch's; the cost is B calls.
    `chunk_size` (None or a positive int) groups the calls, that many samples at a time, with
    the same result. With B = 0, `func` runs once on zero-filled samples to learn the output
    shapes.

    `randomness`: 'error' (default) raises PyTorch's error if `func` draws random numbers from
    ember's global generator (seen as a change of its state); 'different' lets each sample draw
    its own numbers; 'same' restarts the generator from the same state for every sample, so all
    samples see the same numbers. Differences from PyTorch: draws from an explicit
    `generator=` are not seen by 'error' or reset by 'same'; the numbers 'different' draws are
    not PyTorch's for the same seed; for an `out_dims` of None, a batched output is recognised
    by its values differing between samples, not by where it came from.
    """
    _core.check_randomness(randomness)
    if chunk_size is not None and not (
        isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and chunk_size > 0
    ):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        name = getattr(func, "__name__", repr(func))
        flat_args, args_spec, flat_dims, size = _batched_inputs(name, in_dims, args)
        outputs = []
        state = _core.rng_state() if randomness == "same" else None
        calls = max(size, 1)  # an empty batch still runs once, to learn the output shapes
        chunk = chunk_size or calls
        for start in range(0, calls, chunk):
            for index in range(start, min(start + chunk, calls)):
                sample = [_slice(a, d, index, size) for a, d in zip(flat_args, flat_dims)]
                sample = tree_unflatten(sample, args_spec)
                outputs.append(_call(func, sample, kwargs, randomness, state))
        return _stack_outputs(name, outputs, out_dims, size)

    return wrapped


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _batched_inputs(name, in_dims, args):
    """(flat args, their spec, one in_dim per leaf, batch size), with PyTorch's checks."""
    if not args:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are "
            "trying to vmap over a function with no inputs. The latter is unsupported."
        )
    where = f"vmap({name}, in_dims={in_dims!r}, ...)(<inputs>)"
    if not (_is_int(in_dims) or isinstance(in_dims, tuple)):
        raise ValueError(
            f"{where}: expected `in_dims` to be int or a (potentially nested) tuple matching "
            f"the structure of inputs, got: {type(in_dims)}."
        )
    flat_args, args_spec = tree_flatten(args)
    flat_dims = broadcast_prefix(in_dims, args_spec)
    if flat_dims is None:
        raise ValueError(
            f"{where}: in_dims is not compatible with the structure of `inputs`. in_dims has "
            f"structure {tree_flatten(in_dims)[1]} but inputs has structure {args_spec}."
        )
    sizes = []
    for i, (arg, dim) in enumerate(zip(flat_args, flat_dims)):
        if dim is None:
            continue
        if not _is_int(dim):
            raise ValueError(
                f"{where}: Got in_dim={dim} for an input but in_dim must be either an integer "
                "dimension or None."
            )
        if not isinstance(arg, Tensor):
            raise ValueError(
                f"{where}: Got in_dim={dim} for an input but the input is of type {type(arg)}. "
                "We cannot vmap over non-Tensor arguments, please use None as the respective "
                "in_dim"
            )
        ndim = arg.dim()
        if not -ndim <= dim < ndim:
            raise ValueError(
                f"{where}: Got in_dim={dim} for some input, but that input is a Tensor of "
                f"dimensionality {ndim} so expected in_dim to satisfy -{ndim} <= in_dim < {ndim}."
            )
        flat_dims[i] = dim % ndim
        sizes.append(arg.shape[dim])
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )
    return flat_args, args_spec, flat_dims, sizes[0]


def _slice(arg, dim, index, size):
    """Sample `index` of a batched argument (a zero-filled sample when the batch is empty)."""
    if dim is None:
        return arg
    if size == 0:
        import ember

        shape = tuple(s for k, s in enumerate(arg.shape) if k != dim)
        return ember.zeros(shape, dtype=arg.dtype, device=arg.device)
    return arg.select(dim, index)


def _call(func, args, kwargs, randomness, start_state):
    """One sample's call, with the randomness flag applied to ember's global generator."""
    if randomness == "same":
        _core.set_rng_state(start_state)
    before = _core.rng_state() if randomness == "error" else None
    out = func(*args, **kwargs)
    if randomness == "error":
        _core.check_no_draws(before)
    return out


def _stack_outputs(name, outputs, out_dims, size):
    """Each output leaf stacked over the samples along its out_dim, as PyTorch lays them out."""
    flat = [tree_flatten(o) for o in outputs]
    out_spec = flat[0][1]
    for _, spec in flat[1:]:
        if spec != out_spec:
            raise ValueError(
                f"vmap({name}, ...): `{name}` must return outputs of the same structure for "
                f"every sample, got {out_spec} and {spec}"
            )
    where = f"vmap({name}, ..., out_dims={out_dims!r})"
    bad_out_dims = ValueError(
        f"{where}: `out_dims` must be an int, None or a python collection of ints "
        "representing where in the outputs the vmapped dimension should appear."
    )
    if isinstance(outputs[0], Tensor) and isinstance(out_dims, tuple) and len(out_dims) == 1:
        flat_dims = list(out_dims)  # PyTorch's edge case: (d,) for a single Tensor output
    elif out_dims is None or _is_int(out_dims) or isinstance(out_dims, (tuple, list, dict)):
        flat_dims = broadcast_prefix(out_dims, out_spec)
    else:
        raise bad_out_dims
    if flat_dims is None:
        raise ValueError(
            f"{where}(<inputs>): out_dims is not compatible with the structure of `outputs`. "
            f"out_dims has structure {tree_flatten(out_dims)[1]} but outputs has structure "
            f"{out_spec}."
        )
    if not all(d is None or _is_int(d) for d in flat_dims):
        raise bad_out_dims
    leaves = [
        _stack_leaf(name, [leaves[j] for leaves, _ in flat], dim, size)
        for j, dim in enumerate(flat_dims)
    ]
    return tree_unflatten(leaves, out_spec)


def _stack_leaf(name, values, dim, size):
    import ember

    first = values[0]
    if dim is None:
        if isinstance(first, Tensor) and not all(_same(first, v) for v in values[1:]):
            raise ValueError(
                f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None"
            )
        return first
    for value in values:
        if not isinstance(value, Tensor):
            raise ValueError(
                f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                f"{type(value)}. Did you mean to set out_dims= to None for output?"
            )
    ndim = first.dim() + 1
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but "
            f"got {dim})"
        )
    stacked = ember.stack(values, dim=dim)
    if size == 0:
        return stacked.narrow(dim, 0, 0)
    return stacked


def _same(a, b):
    """Whether two samples' outputs are one unbatched value."""
    import ember

    if a is b:
        return True
    if not isinstance(b, Tensor) or tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype:
        return False
    return bool(ember.equal(a.detach(), b.detach()))

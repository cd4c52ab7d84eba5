"""vmap: map a function over a batch dimension: once on the whole batch, else per sample."""

from __future__ import annotations

import functools

import numpy as np

from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.func import _batching, _core, _rules
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
    (per-sample gradients) and `grad(vmap(f))`.

    How: as PyTorch, `func` runs once, on tensors that hold the whole batch but show it one
    sample (their arrays are `BatchedArray`s, see `_batching.py`); each NumPy call of every
    ember op then runs once on the whole batch by a batching rule (`_rules.py`), and autograd
    records an ordinary graph through it. A NumPy call without a rule runs once per sample,
    with PyTorch's warning ("There is a performance drop because we have not yet implemented
    the batching rule for ..."). `func` runs once per sample on that sample's slices instead
    (the results are the same; the cost is B calls), with the same warning naming the reason,
    when it needs concrete values (`.item()`, `bool(x)`, data-dependent shapes), when its
    graph reaches a tensor that requires grad and is not an argument (a captured Parameter:
    pass it as an argument with in_dim None instead), on a CUDA tensor, for an empty batch,
    and for randomness 'same' and 'different'. Unlike PyTorch, data-dependent control flow
    therefore works (by the loop) instead of raising. `chunk_size` (None or a positive int)
    runs that many samples at a time, with the same result.

    `randomness`: 'error' (default) raises PyTorch's error if `func` draws random numbers from
    ember's global generator (seen as a change of its state); 'different' lets each sample draw
    its own numbers; 'same' restarts the generator from the same state for every sample, so all
    samples see the same numbers. Differences from PyTorch: draws from an explicit
    `generator=` are not seen by 'error' or reset by 'same'; the numbers 'different' draws are
    not PyTorch's for the same seed; in the loop, an output with `out_dims` None is recognised
    as unbatched by its values being equal for every sample.
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
        call = _Call(func, name, flat_args, args_spec, flat_dims, size, kwargs, out_dims)
        reason = _loop_reason(call, randomness)
        if reason is None:
            try:
                return call.batched(chunk_size)
            except _batching.NotBatchable as error:
                call.check_unchanged(error.what)
                reason = error.what
        if reason:
            _batching.warn_fallback(f"{reason} (vmap runs `{name}` once per sample)")
        # a sample's storage is its own (as PyTorch's per-sample storage offsets), not the batch's
        fresh = reason == _batching.MEMORY
        return call.loop(randomness, chunk_size, fresh)

    return wrapped


def _loop_reason(call, randomness):
    """Why this call must loop over the samples ('' for reasons that need no warning), or
    None when it can run batched."""
    if randomness != "error":
        return ""
    if call.size == 0:
        return ""
    for arg, dim in zip(call.flat_args, call.flat_dims):
        if dim is not None and not isinstance(arg._data, (np.ndarray, _batching.BatchedArray)):
            return "a tensor on a device other than the CPU"
    return None


class _Call:
    """One call of a vmapped function: its flattened inputs and both ways to run it."""

    def __init__(self, func, name, flat_args, args_spec, flat_dims, size, kwargs, out_dims):
        self.func, self.name, self.kwargs, self.out_dims = func, name, kwargs, out_dims
        self.flat_args, self.args_spec, self.flat_dims = flat_args, args_spec, flat_dims
        self.size = size
        self.versions = [a._vc[0] if isinstance(a, Tensor) else None for a in flat_args]

    def check_unchanged(self, what):
        """A batched run gave up: it may be rerun per sample only if it changed no input."""
        for arg, version in zip(self.flat_args, self.versions):
            if version is not None and arg._vc[0] != version:
                raise RuntimeError(
                    f"vmap({self.name}): `{self.name}` needs {what}, which vmap can only do "
                    "by running it once per sample, but it has already changed an input in "
                    "place; change a copy of the input instead"
                )

    def batched(self, chunk_size):
        """Run `func` once per chunk of the batch (once if chunk_size is None)."""
        if chunk_size is None or chunk_size >= self.size:
            return self._batched(self.flat_args, self.size)
        import ember

        chunks = []
        for start in range(0, self.size, chunk_size):
            length = min(chunk_size, self.size - start)
            part = [
                a if d is None else a.narrow(d, start, length)
                for a, d in zip(self.flat_args, self.flat_dims)
            ]
            chunks.append(self._batched(part, length))
        out_specs = [tree_flatten(c)[1] for c in chunks]
        leaves = [tree_flatten(c)[0] for c in chunks]
        flat_dims = _out_dims_for(self.name, chunks[0], self.out_dims, out_specs[0])
        joined = []
        for j, dim in enumerate(flat_dims):
            values = [leaf[j] for leaf in leaves]
            joined.append(values[0] if dim is None else ember.cat(values, dim=dim))
        return tree_unflatten(joined, out_specs[0])

    def _batched(self, flat_args, size):
        level = _batching.new_level()
        inputs = [
            a if d is None else _ToBatch.apply(a, d, level)
            for a, d in zip(flat_args, self.flat_dims)
        ]
        before = _core.rng_state()
        output = self.func(*tree_unflatten(inputs, self.args_spec), **self.kwargs)
        _core.check_no_draws(before)
        leaves, out_spec = tree_flatten(output)
        flat_dims = _out_dims_for(self.name, output, self.out_dims, out_spec)
        results = [
            _unbatch(self.name, leaf, dim, level, size) for leaf, dim in zip(leaves, flat_dims)
        ]
        if _captures_grad([r for r in results if isinstance(r, Tensor)]):
            raise _batching.NotBatchable("a captured tensor that requires grad")
        return tree_unflatten(results, out_spec)

    def loop(self, randomness, chunk_size, fresh=False):
        """Run `func` once per sample and stack the results."""
        outputs = []
        state = _core.rng_state() if randomness == "same" else None
        calls = max(self.size, 1)  # an empty batch still runs once, to learn the output shapes
        chunk = chunk_size or calls
        for start in range(0, calls, chunk):
            for index in range(start, min(start + chunk, calls)):
                sample = [
                    _slice(a, d, index, self.size) for a, d in zip(self.flat_args, self.flat_dims)
                ]
                if fresh:
                    sample = [s.clone() if isinstance(s, Tensor) else s for s in sample]
                sample = tree_unflatten(sample, self.args_spec)
                outputs.append(_call(self.func, sample, self.kwargs, randomness, state))
        return _stack_outputs(self.name, outputs, self.out_dims, self.size)


def _unbatch(name, leaf, dim, level, size):
    """An output of the batched run as the user gets it: the batch moved to `dim`."""
    batched = isinstance(leaf, Tensor) and _batching.level_of(leaf._data) == level
    if dim is None:
        if batched:
            raise ValueError(
                f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None"
            )
        return leaf
    if not isinstance(leaf, Tensor):
        raise ValueError(
            f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(leaf)}. "
            "Did you mean to set out_dims= to None for output?"
        )
    ndim = leaf.dim() + 1
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but "
            f"got {dim})"
        )
    return _FromBatch.apply(leaf, dim % ndim, level, size)


def _captures_grad(outputs):
    """Whether the graph of `outputs` reaches, other than through vmap's own inputs, a tensor
    that requires grad and was made outside the batched run: its gradient would come back
    batched, so such a call runs as a loop."""
    from ember.autograd.graph import AccumulateGrad

    stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, _ToBatch._node_cls):
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            if _batching.level_of(node.variable._data) == 0:
                return True
            continue
        for next_node, _ in node.next_functions:
            if next_node is not None:
                stack.append(next_node)
    return False


class _ToBatch(Function):
    """A vmap input as the tensor `func` sees: the batch moved to dim 0 of a BatchedArray."""

    @staticmethod
    def forward(ctx, x, dim, level):
        ctx.dim, ctx.level, ctx.size = dim, level, x.shape[dim]
        return Tensor._make(_batching.BatchedArray(np.moveaxis(x._data, dim, 0), level))

    @staticmethod
    def backward(ctx, grad):
        return _FromBatch.apply(grad, ctx.dim, ctx.level, ctx.size), None, None


class _FromBatch(Function):
    """A batched result as a plain tensor with the batch at `dim` (the inverse of _ToBatch)."""

    @staticmethod
    def forward(ctx, x, dim, level, size):
        ctx.dim, ctx.level = dim, level
        data = x._data
        if _batching.level_of(data) == level:
            physical = data.physical
        else:  # the same for every sample
            physical = np.broadcast_to(np.expand_dims(data, 0), (size,) + tuple(data.shape))
        return Tensor._make(_rules.row_major(np.moveaxis(physical, 0, dim)))

    @staticmethod
    def backward(ctx, grad):
        return _ToBatch.apply(grad, ctx.dim, ctx.level), None, None, None


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


def _out_dims_for(name, output, out_dims, out_spec):
    """One out_dim per output leaf, with PyTorch's checks of `out_dims`."""
    where = f"vmap({name}, ..., out_dims={out_dims!r})"
    bad_out_dims = ValueError(
        f"{where}: `out_dims` must be an int, None or a python collection of ints "
        "representing where in the outputs the vmapped dimension should appear."
    )
    if isinstance(output, Tensor) and isinstance(out_dims, tuple) and len(out_dims) == 1:
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
    return flat_dims


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
    flat_dims = _out_dims_for(name, outputs[0], out_dims, out_spec)
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

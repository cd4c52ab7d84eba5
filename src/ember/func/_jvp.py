"""jvp, linearize and jacfwd: forward mode, by the double-vjp trick on ember's reverse engine.

For y = f(x) with Jacobian J, g(u) = J^T u is linear in u, so the gradient of <g(u), v> with
respect to u is J v, whatever u is. With u a zero tensor that requires grad: g =
autograd.grad(y, x, u, create_graph=True), then J v = autograd.grad(g, u, v). Every ember op
has a differentiable backward, so no op needs a forward-mode rule. Cost: one forward, one
backward building a graph, and one backward of that per tangent (the first two are shared
between the tangents of jacfwd and linearize).
"""

from __future__ import annotations

import functools

from ember import autograd
from ember._tensor import Tensor
from ember.autograd.grad_mode import enable_grad
from ember.func import _core
from ember.func._pytree import tree_flatten, tree_unflatten

_JVP = "jvp(f, primals, tangents)"


class _Linearized:
    """The Jacobian-vector product of `outs` w.r.t. `inputs.variables` at the recorded point."""

    def __init__(self, outs, inputs, outer):
        self.outs = outs
        self.outer = outer
        self.live = [i for i, o in enumerate(outs) if o.requires_grad and o.is_floating_point()]
        self.us = [inputs.fresh(_core.zeros_like(outs[i])) for i in self.live]
        self.local = inputs.local
        gs = [None] * len(inputs.variables)
        if self.live:
            gs = autograd.grad(
                [outs[i] for i in self.live],
                inputs.variables,
                self.us,
                create_graph=True,
                allow_unused=True,
            )
        self.gs = [g if g is not None and g.requires_grad else None for g in gs]
        used = [g for g in self.gs if g is not None]
        self.reaches = outer and _core.reaches_outside(used, self.local)

    def apply(self, pairs):
        """J v for v given as [(variable index, tangent), ...] (absent variables: zero)."""
        pairs = [(self.gs[i], t) for i, t in pairs if self.gs[i] is not None]
        found = [None] * len(self.outs)
        create = False
        if pairs:
            create = self.outer and (self.reaches or any(t.requires_grad for _, t in pairs))
            with enable_grad():
                columns = autograd.grad(
                    [g for g, _ in pairs],
                    self.us,
                    [t for _, t in pairs],
                    retain_graph=True,
                    create_graph=create,
                    allow_unused=True,
                )
            for index, column in zip(self.live, columns):
                found[index] = column
        result = []
        for out, column in zip(self.outs, found):
            if column is None:
                column = _core.zeros_like(out)
            elif create:
                column = _core.unwrap(column, self.local)
            elif column.requires_grad:
                column = column.detach()
            result.append(column)
        return result


def _check_primals(primals, tangents):
    """PyTorch's checks of jvp's primals and tangents; returns both flattened."""
    if not isinstance(primals, tuple):
        raise RuntimeError(
            f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."
        )
    flat_p, spec_p = tree_flatten(primals)
    flat_t, spec_t = tree_flatten(tangents)
    if spec_p != spec_t:
        raise RuntimeError(
            f"{_JVP}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {spec_p} and tangents with structure {spec_t}"
        )
    if not flat_p:
        raise RuntimeError(f"{_JVP}: Expected primals to contain at least one Tensor.")
    for kind, flat in (("primals", flat_p), ("tangents", flat_t)):
        for leaf in flat:
            if not isinstance(leaf, Tensor):
                raise RuntimeError(
                    f"{_JVP}: Expected {kind} to only contain Tensors, got {type(leaf)}"
                )
    for p, t in zip(flat_p, flat_t):
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(
                "Trying to set a forward gradient that has a different size than that of the "
                f"original Tensor, this is not supported. Tensor is of size {list(p.shape)} "
                f"while the given forward gradient is of size {list(t.shape)}."
            )
    return flat_t


def _linearize(func, primals, has_aux, outer, inputs):
    """Run func on differentiable copies of `primals`: (outs, out_spec, aux, lin)."""
    with enable_grad():
        primals = tuple(inputs.add(p) for p in primals)
        output = func(*primals)
        aux = None
        if has_aux:
            output, aux = _core.split_aux(output, _JVP)
        outs, out_spec = tree_flatten(output)
        _core.check_tensor_outputs(outs, _JVP)
        lin = _Linearized(outs, inputs, outer)
    return outs, out_spec, aux, lin


def _unwrap_outputs(outs, out_spec, inputs, outer):
    keep = outer and _core.reaches_outside(outs, inputs.local)
    return _core.unwrap(tree_unflatten(outs, out_spec), inputs.local, keep)


def jvp(func, primals, tangents, *, has_aux=False):
    """Same as torch.func.jvp: `(func(*primals), J @ tangents)`, plus `aux` with has_aux.

    `primals` is a tuple of the positional arguments (each may be a pytree of tensors) and
    `tangents` has the same structure and shapes. The Jacobian-vector product has the
    structure of the output; an output that does not depend on the primals gets zeros.

    How ember does it (no forward-mode AD): the double-vjp trick on the reverse-mode engine,
    J v = d/du <J^T u, v> for a dummy cotangent u that requires grad (see the module
    docstring). It nests and composes with the other transforms, like PyTorch's. Differences:
    it costs about two backward passes more than the forward, and the result has the output's
    dtype where PyTorch would follow a tangent of another dtype.
    """
    flat_t = _check_primals(primals, tangents)
    with _core.transform_call() as (inputs, outer):
        outs, out_spec, aux, lin = _linearize(func, primals, has_aux, outer, inputs)
        columns = lin.apply(list(enumerate(flat_t)))
        output = _unwrap_outputs(outs, out_spec, inputs, outer)
        result = (output, tree_unflatten(columns, out_spec))
        if has_aux:
            return result + (_core.unwrap(aux, inputs.local, outer),)
        return result


def linearize(func, *primals):
    """Same as torch.func.linearize: `(func(*primals), jvp_fn)`, where `jvp_fn(*tangents)` is
    the Jacobian-vector product at `primals`, for as many tangents as you like.

    How: `func` runs once and the first backward of the double-vjp trick (see `jvp`) is kept;
    each `jvp_fn` call is one more backward pass.
    """
    with _core.transform_call() as (inputs, outer):
        outs, out_spec, _, lin = _linearize(func, primals, False, outer, inputs)
        output = _unwrap_outputs(outs, out_spec, inputs, outer)

    def jvp_fn(*tangents):
        flat_t = _check_primals(primals, tangents)
        return tree_unflatten(lin.apply(list(enumerate(flat_t))), out_spec)

    return output, jvp_fn


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """Same as torch.func.jacfwd: a function computing the Jacobian of `func`, column by column.

    For an output of shape S and an input of shape T the Jacobian has shape S + T. `argnums`
    (int or tuple of ints) picks the inputs; inputs and outputs may be pytrees: the result is
    the output's structure, holding per output the input's structure (a tuple of them for a
    tuple argnums), as PyTorch. With `has_aux=True`, `func` returns `(output, aux)` and the
    function returns `(jacobian, aux)`.

    How: one run of `func`, then one Jacobian-vector product per input element by the
    double-vjp trick (see `jvp`). `randomness` is checked as PyTorch's: 'error' raises if
    `func` draws from ember's global generator. Difference: PyTorch vmaps the tangents, so
    with 'different' each column would see its own random draw; ember runs `func` once, so
    every column sees the same draw ('same' and 'different' behave alike).
    """

    @functools.wraps(func)
    def wrapper(*args):
        _core.check_argnums(argnums)
        _core.check_randomness(randomness)
        nums = _core.normalize_argnums(argnums, len(args))
        for num in nums:
            for leaf in tree_flatten(args[num])[0]:
                if isinstance(leaf, Tensor) and not leaf.is_floating_point():
                    raise ValueError(
                        f"Expected primal to be floating point or complex, but got: {leaf.dtype}"
                    )
        with _core.transform_call() as (inputs, outer):
            return _jacfwd(func, argnums, has_aux, randomness, args, inputs, outer)

    return wrapper


def _jacfwd(func, argnums, has_aux, randomness, args, inputs, outer):
    with enable_grad():
        args = inputs.prepare(args, argnums)
        before = _core.rng_state()
        output = func(*args)
        if randomness == "error":
            _core.check_no_draws(before)
        aux = None
        if has_aux:
            output, aux = _core.split_aux(output, _JVP)
        outs, out_spec = tree_flatten(output)
        _core.check_tensor_outputs(outs, _JVP)
        lin = _Linearized(outs, inputs, outer)
    columns = [[[] for _ in inputs.variables] for _ in outs]
    for i, var in enumerate(inputs.variables):
        n = var.numel()
        basis = _eye(n, var)
        for k in range(n):
            for j, column in enumerate(lin.apply([(i, basis[k].reshape(var.shape))])):
                columns[j][i].append(column)
    per_output = []
    for j, out in enumerate(outs):
        blocks = [
            _core.stack_columns(columns[j][i], -1, tuple(out.shape) + tuple(v.shape), out)
            for i, v in enumerate(inputs.variables)
        ]
        per_output.append(_core.pick(inputs.split(blocks), argnums))
    jacobian = tree_unflatten(per_output, out_spec)
    if has_aux:
        return jacobian, _core.unwrap(aux, inputs.local, outer)
    return jacobian


def _eye(n, like):
    import ember

    return ember.eye(n, dtype=like.dtype, device=like.device)

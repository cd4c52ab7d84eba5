"""jacrev and hessian: Jacobians row by row on ember's reverse-mode engine."""

from __future__ import annotations

import functools

from ember.autograd.grad_mode import enable_grad
from ember.func import _core
from ember.func._grad import _check_cotangents
from ember.func._jvp import _eye, jacfwd
from ember.func._pytree import tree_flatten, tree_unflatten

_VJP = "vjp(f, *primals)"


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """Same as torch.func.jacrev: a function computing the Jacobian of `func` by reverse mode.

    For an output of shape S and an input of shape T the Jacobian has shape S + T. `argnums`
    (int or tuple of ints) picks the inputs; inputs and outputs may be pytrees: the result is
    the output's structure, holding per output the input's structure (a tuple of them for a
    tuple argnums), as PyTorch. With `has_aux=True`, `func` returns `(output, aux)` and the
    function returns `(jacobian, aux)`.

    How: one run of `func`, then one `ember.autograd.grad` per output element (a one-hot
    cotangent) on the retained graph; the rows keep a graph only when an outer transform or
    ordinary autograd needs it, so `jacrev(jacrev(f))` and `jacfwd(jacrev(f))` work.
    `chunk_size` (None or a positive int) is checked and accepted: PyTorch vmaps that many rows
    at a time to save memory; ember computes rows one by one whatever it is, with the same
    result.
    """
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _core.check_argnums(argnums)
        with _core.transform_call() as (inputs, outer):
            return _jacrev(func, argnums, has_aux, args, kwargs, inputs, outer)

    return wrapper


def _jacrev(func, argnums, has_aux, args, kwargs, inputs, outer):
    with enable_grad():
        args = inputs.prepare(args, argnums)
        output = func(*args, **kwargs)
        aux = None
        if has_aux:
            output, aux = _core.split_aux(output, _VJP)
        outs, out_spec = tree_flatten(output)
        _core.check_tensor_outputs(outs, _VJP)
        _check_cotangents(outs, outs)  # floating-point outputs only, as PyTorch
        create = outer and _core.reaches_outside(outs, inputs.local)
        per_output = []
        for out in outs:
            blocks = _rows(out, inputs, outer, create)
            per_output.append(_core.pick(inputs.split(blocks), argnums))
    jacobian = tree_unflatten(per_output, out_spec)
    if has_aux:
        return jacobian, _core.unwrap(aux, inputs.local, outer)
    return jacobian


def _rows(out, inputs, outer, create):
    """The Jacobian blocks of one output, one per variable (shape out.shape + var.shape)."""
    m = out.numel()
    rows = [[] for _ in inputs.variables]
    if out.requires_grad:
        basis = _eye(m, out)
        for k in range(m):
            cotangent = [basis[k].reshape(out.shape)]
            grads, _ = _core.backward(
                [out], inputs.variables, cotangent, inputs.local, outer, True, create
            )
            for i, g in enumerate(grads):
                rows[i].append(g)
    return [
        _core.stack_columns(rows[i], 0, tuple(out.shape) + tuple(v.shape), v)
        for i, v in enumerate(inputs.variables)
    ]


def hessian(func, argnums=0):
    """Same as torch.func.hessian: the matrix of second derivatives of a scalar `func`.

    As PyTorch, `jacfwd(jacrev(func, argnums), argnums)`: for an input of shape T the result
    has shape T + T (a nested tuple of blocks for a tuple argnums). In ember both are built on
    the reverse-mode engine (jacfwd by the double-vjp trick), so this is third-order reverse
    mode under the hood.
    """
    return jacfwd(jacrev(func, argnums), argnums)

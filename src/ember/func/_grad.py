"""grad, grad_and_value and vjp: reverse mode, on ember's engine (`autograd.grad`)."""

from __future__ import annotations

import functools

from ember._tensor import Tensor
from ember.autograd.grad_mode import enable_grad, is_grad_enabled
from ember.func import _core
from ember.func._pytree import spec_pprint, tree_flatten, tree_unflatten

_GRAD = "grad_and_value(f)(*args)"


def grad_and_value(func, argnums=0, has_aux=False):
    """Same as torch.func.grad_and_value: a function returning (gradient, value) of `func`.

    `func` must return a scalar Tensor (or `(scalar, aux)` with `has_aux=True`; then the new
    function returns `(gradient, (value, aux))`, as PyTorch's).
    The gradient is taken with respect to the positional argument(s) at `argnums` (an int, or a
    tuple of ints for a tuple of gradients); each may be a pytree (tuple, list, dict,
    namedtuple) of tensors, and its gradient has the same structure. An input the output does
    not depend on gets zeros.

    How: `func` runs under grad mode on fresh leaves (`x.detach().requires_grad_()`) or, for an
    input that already requires grad (an outer transform's, or your own), on a clone joined to
    it; then `ember.autograd.grad` differentiates the output, building a graph of the gradient
    only when something outside this call needs it. So grad nests (`grad(grad(f))`), composes
    with `vmap`, `jacrev` and `jacfwd`, and its results stay differentiable by ordinary
    autograd when the inputs require grad. As PyTorch, an outer `no_grad` does not reach into
    the call (but one inside `func` is obeyed), and the results then carry no graph.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _core.check_argnums(argnums)
        with _core.transform_call() as (inputs, outer):
            return _grad_and_value(func, argnums, has_aux, args, kwargs, inputs, outer)

    return wrapper


def _grad_and_value(func, argnums, has_aux, args, kwargs, inputs, outer):
    with enable_grad():
        args = inputs.prepare(args, argnums)
        output = func(*args, **kwargs)
        aux = None
        if has_aux:
            output, aux = _core.split_aux(output, _GRAD)
        if not isinstance(output, Tensor):
            raise RuntimeError(f"{_GRAD}: Expected f(*args) to return a Tensor, got {type(output)}")
        if output.dim() != 0:
            raise RuntimeError(
                f"{_GRAD}: Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs "
                "instead?"
            )
        keep = outer and _core.reaches_outside([output], inputs.local)
        ones = [_core.zeros_like(output) + 1]
        grads, _ = _core.backward(
            [output], inputs.variables, ones, inputs.local, outer, create=keep
        )
    value = _core.unwrap(output, inputs.local, keep)
    gradient = _core.pick(inputs.split(grads), argnums)
    if has_aux:
        return gradient, (value, _core.unwrap(aux, inputs.local, outer))
    return gradient, value


def grad(func, argnums=0, has_aux=False):
    """Same as torch.func.grad: a function computing the gradient of `func` at its arguments.

    `func` must return a scalar Tensor; the gradient is taken with respect to the argument(s)
    at `argnums` (int or tuple of ints; each argument may be a pytree of tensors, and its
    gradient has its structure). With `has_aux=True`, `func` returns `(scalar, aux)` and the new
    function returns `(gradient, aux)`. Built on ember's reverse-mode engine as
    `grad_and_value` (see there); nests to any order: `grad(grad(f))` is the second derivative.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gradient, value = grad_and_value(func, argnums, has_aux)(*args, **kwargs)
        if has_aux:
            return gradient, value[1]
        return gradient

    return wrapper


def vjp(func, *primals, has_aux=False):
    """Same as torch.func.vjp: `(output, vjp_fn)` (or `(output, vjp_fn, aux)` with has_aux).

    `output = func(*primals)`; `vjp_fn(cotangents)` returns the vector-Jacobian product, a tuple
    with one entry per primal (each with that primal's pytree structure). `cotangents` must
    have the structure and shapes of `output`, which may be a pytree of tensors. `vjp_fn` may
    be called many times; its results keep a graph when a cotangent requires grad or the
    primals belong to an outer transform, so `vjp_fn(u)` with `u.requires_grad` is
    differentiable in `u` (the double-vjp trick ember's `jvp` uses). Keywords
    `retain_graph=True` and `create_graph=None` (follow grad mode) are as PyTorch's.

    How: `func` runs on fresh leaves (or clones of inputs that already require grad) under grad
    mode; `vjp_fn` calls `ember.autograd.grad` on the retained graph.
    """
    who = "vjp(f, *primals)"
    with _core.transform_call() as (inputs, outer):
        with enable_grad():
            primals = tuple(inputs.add(p) for p in primals)
            output = func(*primals)
            aux = None
            if has_aux:
                output, aux = _core.split_aux(output, who)
            outs, out_spec = tree_flatten(output)
            _core.check_tensor_outputs(outs, who)
        reaches = _core.reaches_outside(outs, inputs.local)
        result = _core.unwrap(tree_unflatten(outs, out_spec), inputs.local, outer and reaches)
        if has_aux:
            aux = _core.unwrap(aux, inputs.local, outer)

    def vjp_fn(cotangents, retain_graph=True, create_graph=None):
        cots, spec = tree_flatten(cotangents)
        if spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure "
                f"of outputs to the function. cotangents: {spec_pprint(spec)}, primal output: "
                f"{spec_pprint(out_spec)}"
            )
        cots = _check_cotangents(outs, cots)
        grad_mode = is_grad_enabled() if create_graph is None else bool(create_graph)
        create = grad_mode and (reaches or any(c.requires_grad for c in cots))
        with enable_grad():
            grads, _ = _core.backward(
                outs, inputs.variables, cots, inputs.local, grad_mode, retain_graph, create
            )
        if not create:
            grads = [g.detach() if g.requires_grad else g for g in grads]
        return tuple(inputs.split(grads))

    if has_aux:
        return result, vjp_fn, aux
    return result, vjp_fn


def _check_cotangents(outs, cots):
    """PyTorch's checks of vjp_fn's cotangents: tensors of the outputs' shapes, float outputs."""
    checked = []
    for i, (out, cot) in enumerate(zip(outs, cots)):
        if cot is None:
            cot = _core.zeros_like(out)
        if not isinstance(cot, Tensor):
            raise TypeError(
                f"gradients can be either Tensors or None, but got {type(cot).__name__}"
            )
        if not out.is_floating_point():
            raise RuntimeError(
                "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                f"Tensor with dtype {out.dtype}"
            )
        if tuple(cot.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(cot.shape)} and "
                f"output[{i}] has a shape of {tuple(out.shape)}."
            )
        checked.append(cot)
    return checked

"""gradcheck and gradgradcheck: analytical gradients against central finite differences."""

from __future__ import annotations

import warnings

import numpy

from ember._tensor import Tensor
from ember.autograd.engine import grad


class GradcheckError(RuntimeError):
    """Same as torch.autograd.gradcheck.GradcheckError: the gradients did not match."""


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _differentiable_outputs(outputs):
    return tuple(o for o in _tuple(outputs) if isinstance(o, Tensor) and o.requires_grad)


def _numerical_jacobians(func, inputs, diff_idx, n_outputs, eps):
    """d(output)/d(input) by central differences: one (out.numel, in.numel) matrix per pair."""
    jacobians = [[None] * len(diff_idx) for _ in range(n_outputs)]
    for col, i in enumerate(diff_idx):
        x = inputs[i]._data
        columns = [[] for _ in range(n_outputs)]
        for j in range(x.size):
            index = numpy.unravel_index(j, x.shape)
            original = x[index].item()
            values = []
            for delta in (eps, -eps):
                x[index] = original + delta
                outs = [o for o in _tuple(func(*inputs)) if isinstance(o, Tensor)]
                values.append([numpy.array(o.detach().cpu()._data, numpy.float64) for o in outs])
            x[index] = original
            for k in range(n_outputs):
                columns[k].append(((values[0][k] - values[1][k]) / (2 * eps)).reshape(-1))
        for k in range(n_outputs):
            jacobians[k][col] = numpy.stack(columns[k], axis=1) if columns[k] else None
    return jacobians


def _analytical_jacobians(outputs, inputs, diff_idx):
    """d(output)/d(input) from backward, one output element at a time."""
    jacobians = []
    for out in outputs:
        rows = [[] for _ in diff_idx]
        for k in range(out.numel()):
            seed = numpy.zeros(out.shape, dtype=out._data.dtype)
            seed.reshape(-1)[k] = 1
            cotangent = Tensor._make(seed).to(out.device)
            grads = grad(
                out, [inputs[i] for i in diff_idx], cotangent, retain_graph=True, allow_unused=True
            )
            for col, (i, g) in enumerate(zip(diff_idx, grads)):
                size = inputs[i].numel()
                rows[col].append(
                    numpy.zeros(size)
                    if g is None
                    else numpy.asarray(g.detach().cpu()._data, numpy.float64).reshape(-1)
                )
        jacobians.append([numpy.stack(r) if r else None for r in rows])
    return jacobians


def gradcheck(
    func,
    inputs,
    *,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    raise_exception=True,
    nondet_tol=0.0,
    check_undefined_grad=True,
    check_grad_dtypes=False,
    check_batched_grad=False,
    check_batched_forward_grad=False,
    check_forward_ad=False,
    check_backward_ad=True,
    fast_mode=False,
    masked=None,
):
    """Same as torch.autograd.gradcheck: compare backward's Jacobian with finite differences.

    Inputs that require grad should be float64. Returns True, or raises GradcheckError (or
    returns False with raise_exception=False) naming the output, input and worst element.
    """
    inputs = _tuple(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for i in diff_idx:
        if inputs[i].dtype.name != "float64":
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point. "
                "This check will likely fail if all the inputs are not of double precision "
                "floating point.",
                UserWarning,
                stacklevel=2,
            )
    outputs = _differentiable_outputs(func(*inputs))
    analytical = _analytical_jacobians(outputs, inputs, diff_idx)
    numerical = _numerical_jacobians(func, inputs, diff_idx, len(outputs), eps)
    for k in range(len(outputs)):
        for col, i in enumerate(diff_idx):
            a, n = analytical[k][col], numerical[k][col]
            if a is None or a.size == 0:
                continue
            bad = numpy.abs(a - n) > atol + rtol * numpy.abs(n)
            if bad.any():
                worst = numpy.unravel_index(numpy.argmax(numpy.abs(a - n)), a.shape)
                message = (
                    f"Jacobian mismatch for output {k} with respect to input {i},\n"
                    f"numerical:{n}\nanalytical:{a}\n"
                    f"worst at (output element, input element) {tuple(int(w) for w in worst)}: "
                    f"numerical {n[worst]:.6g}, analytical {a[worst]:.6g}"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    gen_non_contig_grad_outputs=False,
    raise_exception=True,
    nondet_tol=0.0,
    check_undefined_grad=True,
    check_grad_dtypes=False,
    check_batched_grad=False,
    check_fwd_over_rev=False,
    check_rev_over_rev=True,
    fast_mode=False,
    masked=False,
):
    """Same as torch.autograd.gradgradcheck: gradcheck of the gradient (second order)."""
    inputs = _tuple(inputs)
    outputs = _differentiable_outputs(func(*inputs))
    if grad_outputs is None:
        rng = numpy.random.default_rng(0)
        grad_outputs = tuple(
            Tensor._make(rng.standard_normal(o.shape).astype(o._data.dtype))
            .to(o.device)
            .requires_grad_()
            for o in outputs
        )
    grad_outputs = _tuple(grad_outputs)
    n_in = len(inputs)

    def first_derivative(*args):
        ins, cotangents = args[:n_in], args[n_in:]
        outs = _differentiable_outputs(func(*ins))
        diff = [x for x in ins if isinstance(x, Tensor) and x.requires_grad]
        grads = grad(outs, diff, cotangents, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    return gradcheck(
        first_derivative,
        inputs + grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )

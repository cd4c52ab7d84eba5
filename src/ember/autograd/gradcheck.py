"""gradcheck and gradgradcheck: analytical derivatives (backward and forward mode) against
central finite differences, with PyTorch's options and errors.

Jacobians here are NumPy float64 matrices of shape (output numel, input numel), built one
input element (finite differences, forward mode) or one output element (backward) at a time:
gradcheck is for small inputs.
"""

from __future__ import annotations

import warnings

import numpy

from ember import _vmap_internals
from ember._tensor import Tensor
from ember.autograd import forward_ad
from ember.autograd.engine import grad
from ember.autograd.function import Function


class GradcheckError(RuntimeError):
    """Same as torch.autograd.gradcheck.GradcheckError: the gradients did not match."""


_BATCHED_HELP = (
    "gradcheck or gradgradcheck failed while testing batched gradient computation: the "
    "gradients computed for a batch of grad_outputs under vmap differ from those computed one "
    "by one (or vmap failed). Pass check_batched_grad=False to skip this check."
)
_BATCHED_FORWARD_HELP = (
    "gradcheck failed while testing batched gradient computation with forward-mode AD: the "
    "tangents computed for a batch of input tangents under vmap differ from those computed one "
    "by one (or vmap failed). Pass check_batched_forward_grad=False to skip this check."
)
_NONDET_HELP = (
    "\n\nNOTE: if the backward relies on non-deterministic operations this failure may be "
    "expected; pass nondet_tol=<tol> to allow that much difference between runs."
)
_UNDEFINED_HELP = (
    "Backwards compatibility: New undefined gradient support checking feature is enabled by "
    "default, but it may break existing callers of this function. If this is true for you, you "
    'can call this function with "check_undefined_grad=False" to disable the feature'
)


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _differentiable_outputs(outputs):
    return tuple(o for o in _tuple(outputs) if isinstance(o, Tensor) and o.requires_grad)


def _as_numpy(t):
    """A float64 copy of t's values (a copy: an output may share memory with an input that is
    perturbed in place afterwards)."""
    return numpy.array(t.detach().cpu()._data, numpy.float64)


def _check_inputs(inputs):
    """The positions of the inputs that require grad, after PyTorch's checks."""
    diff_idx = []
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        if x.dtype.name != "float64":
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ",
                UserWarning,
                stacklevel=3,
            )
        if x.numel() and any(s == 0 and n > 1 for n, s in zip(x.shape, x.stride())):
            raise RuntimeError(
                f"The {i}th input has a dimension with stride 0. gradcheck only supports inputs "
                "that are non-overlapping to be able to compute the numerical gradients "
                "correctly. You should call .contiguous on the input before passing it to "
                "gradcheck."
            )
        diff_idx.append(i)
    if not diff_idx:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )
    return diff_idx


# --- finite differences ---
def _numerical(call, targets, eps):
    """d(output k)/d(target t) by central differences, for every Tensor output of `call()`:
    jac[k][t] of shape (output numel, target numel). The targets are perturbed in place, one
    element at a time, and put back."""
    reference = [o for o in _tuple(call()) if isinstance(o, Tensor)]
    jacobians = [[None] * len(targets) for _ in reference]
    for t, target in enumerate(targets):
        x = target._data
        columns = [[] for _ in reference]
        for j in range(x.size):
            index = numpy.unravel_index(j, x.shape)
            original = x[index].item()
            values = []
            for delta in (eps, -eps):
                x[index] = original + delta
                outs = [o for o in _tuple(call()) if isinstance(o, Tensor)]
                for k, (o, ref) in enumerate(zip(outs, reference)):
                    _check_same_meta(ref, o, eps, k)
                values.append([_as_numpy(o) for o in outs])
            x[index] = original
            for k in range(len(reference)):
                columns[k].append(((values[0][k] - values[1][k]) / (2 * eps)).reshape(-1))
        for k, ref in enumerate(reference):
            jacobians[k][t] = (
                numpy.stack(columns[k], axis=1) if columns[k] else numpy.zeros((ref.numel(), 0))
            )
    return jacobians


def _check_same_meta(first, second, eps, k):
    if first.shape != second.shape:
        raise AssertionError(
            "Expected `func` to return outputs with the same shape when inputs are perturbed "
            f"on index {k} by {eps}, but got: shapes {first.shape} and {second.shape}."
        )
    if first.dtype != second.dtype:
        raise AssertionError(
            "Expected `func` to return outputs with the same dtype when inputs are perturbed "
            f"on index {k} by {eps}, but got: dtypes {first.dtype} and {second.dtype}."
        )


def _check_numerical_zero(call, targets, eps, nondet_tol):
    """With no differentiable output, the function must not change with its inputs."""
    for per_output in _numerical(call, targets, eps):
        for jacobian in per_output:
            if jacobian.size and numpy.abs(jacobian).max() > nondet_tol:
                raise GradcheckError("Numerical gradient for function expected to be zero")


# --- backward mode ---
def _backward_rows(output, inputs):
    """d(output)/d(input) for each input, one output element at a time: (matrices, whether
    every gradient had its input's shape, whether every one had its input's dtype)."""
    rows = [[] for _ in inputs]
    sizes_ok = types_ok = True
    for k in range(output.numel()):
        seed = numpy.zeros(output.shape, dtype=output._data.dtype)
        seed.reshape(-1)[k] = 1
        cotangent = Tensor._make(seed).to(output.device)
        grads = grad(output, inputs, cotangent, retain_graph=True, allow_unused=True)
        for col, (x, g) in enumerate(zip(inputs, grads)):
            if g is None:
                rows[col].append(numpy.zeros(x.numel()))
                continue
            if g.shape != x.shape:
                sizes_ok = False
                rows[col].append(numpy.zeros(x.numel()))
                continue
            types_ok = types_ok and g.dtype == x.dtype
            rows[col].append(_as_numpy(g).reshape(-1))
    matrices = [numpy.stack(r) if r else numpy.zeros((0, x.numel())) for r, x in zip(rows, inputs)]
    return matrices, sizes_ok, types_ok


def _backward_jacobians(output, inputs, nondet_tol, check_grad_dtypes):
    """Backward's Jacobians of one output, computed twice to check that backward gives the
    same values each time (up to nondet_tol)."""
    first, sizes_ok, types_ok = _backward_rows(output, inputs)
    second, _, _ = _backward_rows(output, inputs)
    if not types_ok and check_grad_dtypes:
        raise GradcheckError("Gradient has dtype mismatch")
    if not sizes_ok:
        raise GradcheckError("Analytical gradient has incorrect size")
    if not _within(first, second, nondet_tol):
        raise GradcheckError(
            "Backward is not reentrant, i.e., running backward with same input and grad_output "
            "multiple times gives different values, although analytical gradient matches "
            f"numerical gradient. The tolerance for nondeterminism was {nondet_tol}." + _NONDET_HELP
        )
    return first


def _within(first, second, tol):
    return all(a.size == 0 or numpy.abs(a - b).max() <= tol for a, b in zip(first, second))


# --- forward mode ---
def _forward_jacobians(func, inputs, diff_idx, positions, check_grad_dtypes):
    """Forward mode's Jacobians: for each output position and differentiable input, the
    tangents of the output when the input's tangent is each basis vector in turn. The inputs
    are passed detached (requires_grad False), every differentiable one a dual tensor."""
    from ember.ops.creation import zeros_like

    jacobians = [[[] for _ in diff_idx] for _ in positions]
    for col, i in enumerate(diff_idx):
        for j in range(inputs[i].numel()):
            with forward_ad.dual_level():
                args = list(_detached(inputs))
                for other in diff_idx:
                    tangent = zeros_like(inputs[other])
                    if other == i:
                        tangent.view(-1)[j] = 1
                    args[other] = forward_ad.make_dual(args[other], tangent)
                outs = _tuple(func(*args))
                for row, k in enumerate(positions):
                    primal, tangent = forward_ad.unpack_dual(outs[k])
                    if tangent is None:
                        jacobians[row][col].append(numpy.zeros(primal.numel()))
                        continue
                    if check_grad_dtypes and tangent.dtype != primal.dtype:
                        raise GradcheckError("Forward AD gradient has dtype mismatch.")
                    jacobians[row][col].append(_as_numpy(tangent).reshape(-1))
    return [
        [
            numpy.stack(cols, axis=1) if cols else numpy.zeros((0, 0))
            for cols in per_output  # (output numel, input numel)
        ]
        for per_output in jacobians
    ]


def _detached(inputs):
    return tuple(x.detach() if isinstance(x, Tensor) else x for x in inputs)


def _check_undefined_forward(func, inputs, diff_idx):
    """An input without a tangent must act as one with a zero tangent."""
    from ember.ops.creation import zeros_like

    for i in diff_idx:
        with forward_ad.dual_level():
            base = list(_detached(inputs))
            for other in diff_idx:
                if other != i:
                    tangent = Tensor._make(
                        numpy.random.default_rng(other).standard_normal(inputs[other].shape)
                    ).to(device=inputs[other].device, dtype=inputs[other].dtype)
                    base[other] = forward_ad.make_dual(base[other], tangent)
            with_zero = list(base)
            with_zero[i] = forward_ad.make_dual(base[i], zeros_like(inputs[i]))
            outs_zero = _tuple(func(*with_zero))
            outs_none = _tuple(func(*base))
            for k, (a, b) in enumerate(zip(outs_zero, outs_none)):
                if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
                    continue
                ta, tb = forward_ad.unpack_dual(a).tangent, forward_ad.unpack_dual(b).tangent
                if ta is not None and tb is not None and not _allclose(ta, tb):
                    raise GradcheckError(
                        f"Mismatch in tangent values for output with index: {k} when input: "
                        f"{inputs[i]} has an undefined tangent value.  Got: {ta} but expected: "
                        f"{tb}"
                    )


def _allclose(a, b):
    return numpy.allclose(_as_numpy(a), _as_numpy(b), rtol=1e-5, atol=1e-8, equal_nan=True)


# --- batched (vmap) checks ---
def _random_like(t, count, seed):
    rng = numpy.random.default_rng(seed)
    return [
        Tensor._make(rng.standard_normal(t.shape).astype(t._data.dtype)).to(t.device)
        for _ in range(count)
    ]


def _check_batched_backward(output, k, diff_inputs):
    """vmap over backward with a batch of grad_outputs equals backward for each one."""
    from ember import ops
    from ember.func import vmap

    def vjp(v):
        grads = grad(output, diff_inputs, v, retain_graph=True, allow_unused=True)
        return tuple(ops.zeros_like(x) if g is None else g for g, x in zip(grads, diff_inputs))

    cotangents = _random_like(output, 2, k)
    expected = [ops.stack(shards) for shards in zip(*(vjp(v) for v in cotangents))]
    try:
        result = vmap(vjp)(ops.stack(cotangents))
    except RuntimeError as error:
        raise GradcheckError(
            f"While computing batched gradients, got: {error}\n\n{_BATCHED_HELP}"
        ) from error
    for i, (res, exp) in enumerate(zip(result, expected)):
        if not _allclose(res, exp):
            raise GradcheckError(
                f"For output {k} and input {i}:\n\n{_BATCHED_HELP}\n\nGot:\n{res}\n\n"
                f"Expected:\n{exp}"
            )


def _check_batched_forward(func, inputs, diff_idx):
    """vmap over forward mode with a batch of tangents equals forward mode for each one."""
    from ember import ops

    for i in diff_idx:

        def jvp(tangent, i=i):
            with forward_ad.dual_level():
                args = list(_detached(inputs))
                args[i] = forward_ad.make_dual(args[i], tangent)
                tangents = []
                for out in _tuple(func(*args)):
                    if not isinstance(out, Tensor):
                        continue
                    primal, tangent_out = forward_ad.unpack_dual(out)
                    tangents.append(ops.zeros_like(primal) if tangent_out is None else tangent_out)
                return tuple(tangents)

        tangents = _random_like(inputs[i], 2, i)
        expected = [ops.stack(shards) for shards in zip(*(jvp(t) for t in tangents))]
        try:
            result = _vmap_internals._vmap(jvp)(ops.stack(tangents))
        except RuntimeError as error:
            raise GradcheckError(
                f"While computing batched gradients, got: {error}\n\n{_BATCHED_FORWARD_HELP}"
            ) from error
        for k, (res, exp) in enumerate(zip(_tuple(result), expected)):
            if not _allclose(res, exp):
                raise GradcheckError(
                    f"For output {k} and input {i}:\n\n{_BATCHED_FORWARD_HELP}\n\nGot:\n{res}"
                    f"\n\nExpected:\n{exp}"
                )


# --- backward's handling of zero and undefined gradients ---
class _UndefinedGrad(Function):
    """Identity whose backward sends no gradient (None) to its input."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return None


def _check_mul_by_grad_output(outputs, diff_inputs, check_grad_dtypes):
    """Backward with all-zero grad_outputs must give zero gradients of the right shape."""
    from ember.ops.creation import zeros_like

    grads = grad(outputs, diff_inputs, [zeros_like(o) for o in outputs], allow_unused=True)
    for g, x in zip(grads, diff_inputs):
        if g is None:
            continue
        if (_as_numpy(g) != 0).any():
            raise GradcheckError("backward not multiplied by grad_output")
        if g.shape != x.shape:
            raise GradcheckError("grad is incorrect size")
        if check_grad_dtypes and g.dtype != x.dtype:
            raise GradcheckError("grad is incorrect type")
        if g.device != x.device:
            raise GradcheckError("grad is incorrect device")


def _check_undefined_backward(func, inputs, diff_inputs):
    """Backward must cope when no gradient (or, one output at a time, none for that output)
    arrives: every input gradient is then None or zero."""
    from ember.ops.creation import zeros_like

    cases = [[_UndefinedGrad.apply(o) for o in _differentiable_outputs(func(*inputs))]]
    if len(cases[0]) > 1:
        for skip in range(len(cases[0])):
            outs = _differentiable_outputs(func(*inputs))
            cases.append([_UndefinedGrad.apply(o) if k == skip else o for k, o in enumerate(outs)])
    for outs in cases:
        try:
            grads = grad(outs, diff_inputs, [zeros_like(o) for o in outs], allow_unused=True)
        except RuntimeError as error:
            warnings.warn(_UNDEFINED_HELP, UserWarning, stacklevel=4)
            raise GradcheckError(
                "Expected backward function to handle undefined output grads. Please look at "
                '"Notes about undefined output gradients" in "tools/autograd/derivatives.yaml"'
            ) from error
        if any(g is not None and (_as_numpy(g) != 0).any() for g in grads):
            warnings.warn(_UNDEFINED_HELP, UserWarning, stacklevel=4)
            raise GradcheckError(
                "Expected all input grads to be undefined or zero when all output grads are "
                'undefined or zero. Please look at "Notes about undefined output gradients" in '
                '"tools/autograd/derivatives.yaml"'
            )


# --- comparison ---
def _compare(analytical, numerical, k, i, atol, rtol, forward):
    bad = numpy.abs(analytical - numerical) > atol + rtol * numpy.abs(numerical)
    if not bad.any():
        return
    worst = numpy.unravel_index(numpy.argmax(numpy.abs(analytical - numerical)), bad.shape)
    mode = "computed with forward mode " if forward else ""
    raise GradcheckError(
        f"Jacobian {mode}mismatch for output {k} with respect to input {i},\n"
        f"numerical:{numerical}\nanalytical:{analytical}\n"
        f"worst at (output element, input element) {tuple(int(w) for w in worst)}: "
        f"numerical {numerical[worst]:.6g}, analytical {analytical[worst]:.6g}"
    )


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
    """Same as torch.autograd.gradcheck: compare the Jacobians that backward (and, with
    check_forward_ad, forward mode) computes with central finite differences.

    Inputs that require grad are the ones differentiated (float64 is advised: others warn).
    Beyond the Jacobians it checks, as PyTorch: that backward gives the same values twice
    (up to `nondet_tol`), gives zeros for zero grad_outputs, copes with undefined output
    gradients (`check_undefined_grad`), that a function with no differentiable output does not
    change with its inputs, and, when asked, that vmap over backward (`check_batched_grad`) or
    over forward mode (`check_batched_forward_grad`) matches a loop.

    Returns True, or raises GradcheckError (returns False with raise_exception=False) naming
    the output, input and worst element. `fast_mode` runs the same full check (ember has no
    separate random-projection mode); `masked` is accepted for sparse inputs ember lacks.
    """
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    try:
        return _gradcheck(
            func,
            _tuple(inputs),
            eps=eps,
            atol=atol,
            rtol=rtol,
            nondet_tol=nondet_tol,
            check_undefined_grad=check_undefined_grad,
            check_grad_dtypes=check_grad_dtypes,
            check_batched_grad=check_batched_grad,
            check_batched_forward_grad=check_batched_forward_grad,
            check_forward_ad=check_forward_ad,
            check_backward_ad=check_backward_ad,
        )
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(func, inputs, *, eps, atol, rtol, nondet_tol, check_undefined_grad,
               check_grad_dtypes, check_batched_grad, check_batched_forward_grad,
               check_forward_ad, check_backward_ad):  # fmt: skip
    diff_idx = _check_inputs(inputs)
    diff_inputs = [inputs[i] for i in diff_idx]
    raw = _tuple(func(*inputs))
    tensors = [o for o in raw if isinstance(o, Tensor)]
    # positions, among the Tensor outputs, of the differentiable ones
    positions = [k for k, o in enumerate(tensors) if o.requires_grad]
    outputs = [tensors[k] for k in positions]

    def call():
        return func(*inputs)

    if not outputs:
        _check_numerical_zero(call, diff_inputs, eps, nondet_tol)
    else:
        numerical = _numerical(call, diff_inputs, eps)
        if check_backward_ad:
            for n, (k, out) in enumerate(zip(positions, outputs)):
                analytical = _backward_jacobians(out, diff_inputs, nondet_tol, check_grad_dtypes)
                for col, i in enumerate(diff_idx):
                    _compare(analytical[col], numerical[k][col], n, i, atol, rtol, False)
        if check_forward_ad:
            raw_positions = [k for k, o in enumerate(raw) if isinstance(o, Tensor)]
            forward = _forward_jacobians(
                func, inputs, diff_idx, [raw_positions[k] for k in positions], check_grad_dtypes
            )
            for n, k in enumerate(positions):
                for col, i in enumerate(diff_idx):
                    _compare(forward[n][col], numerical[k][col], n, i, atol, rtol, True)
    if check_forward_ad and check_undefined_grad:
        _check_undefined_forward(func, inputs, diff_idx)
    if check_batched_forward_grad:
        _check_batched_forward(func, inputs, diff_idx)
    if not check_backward_ad:
        return True
    if check_batched_grad:
        for k, out in enumerate(outputs):
            _check_batched_backward(out, k, diff_inputs)
    if outputs:
        _check_mul_by_grad_output(outputs, diff_inputs, check_grad_dtypes)
        if check_undefined_grad:
            _check_undefined_backward(func, inputs, diff_inputs)
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
    """Same as torch.autograd.gradgradcheck: gradcheck of the gradient (second order).

    The gradient `autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)` is
    checked as a function of the inputs and the grad_outputs (random ones, requiring grad,
    when not given): by backward (`check_rev_over_rev`) and/or forward mode
    (`check_fwd_over_rev`). The other options are gradcheck's.
    """
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_undefined_grad=True requires check_rev_over_rev to be True"
        )
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_rev_over_rev to be True"
        )
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
    # which arguments are differentiated, remembered here: forward mode passes them detached
    wanted = [isinstance(x, Tensor) and x.requires_grad for x in inputs + grad_outputs]

    def first_derivative(*args):
        args = [
            x.requires_grad_() if w and not x.requires_grad else x for x, w in zip(args, wanted)
        ]
        ins, cotangents = args[:n_in], args[n_in:]
        outs = _differentiable_outputs(func(*ins))
        diff = [x for x, w in zip(ins, wanted) if w]
        grads = grad(outs, diff, cotangents, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        first_derivative,
        inputs + grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        fast_mode=fast_mode,
    )


# --- PyTorch's deprecated public helpers ---
def _deprecated(name):
    warnings.warn(
        f"`{name}` was part of PyTorch's private API and not meant to be exposed. We are "
        "deprecating it and it will be removed in a future version of PyTorch. ember keeps it "
        "for programs that still call it; use gradcheck instead.",
        FutureWarning,
        stacklevel=3,
    )


def _check_grad_out(grad_out, name):
    if grad_out != 1.0:
        raise ValueError(
            f"Expected grad_out to be 1.0. {name} no longer supports values of grad_out != 1.0."
        )


def _as_tensor(matrix, like):
    """A (output numel, input numel) matrix as PyTorch's (input numel, output numel) Tensor."""
    return Tensor._make(numpy.ascontiguousarray(matrix.T)).to(device=like.device, dtype=like.dtype)


def get_numerical_jacobian(fn, inputs, target=None, eps=1e-3, grad_out=1.0):
    """Same as torch.autograd.gradcheck.get_numerical_jacobian (deprecated, warns): the
    finite-difference Jacobians of `fn`'s first output, one per target, each of shape
    (target numel, output numel). `fn` takes the inputs as one tuple; `target` defaults to
    the inputs that require grad."""
    _deprecated("get_numerical_jacobian")
    _check_grad_out(grad_out, "get_numerical_jacobian")
    inputs = _tuple(inputs)
    targets = [t for t in _tuple(inputs if target is None else target) if t.requires_grad]
    jacobians = _numerical(lambda: fn(inputs), targets, eps)
    return tuple(_as_tensor(m, t) for m, t in zip(jacobians[0], targets))


def get_analytical_jacobian(inputs, output, nondet_tol=0.0, grad_out=1.0):
    """Same as torch.autograd.gradcheck.get_analytical_jacobian (deprecated, warns): backward's
    Jacobians of `output` with respect to each input that requires grad, each of shape (input
    numel, output numel), and whether backward gave the same values twice (up to nondet_tol),
    every gradient had its input's size, and its dtype: (jacobians, reentrant, sizes_ok,
    types_ok)."""
    _deprecated("get_analytical_jacobian")
    _check_grad_out(grad_out, "get_analytical_jacobian")
    diff_inputs = [x for x in _tuple(inputs) if isinstance(x, Tensor) and x.requires_grad]
    first, sizes_ok, types_ok = _backward_rows(output, diff_inputs)
    second, _, _ = _backward_rows(output, diff_inputs)
    reentrant = _within(first, second, nondet_tol)
    jacobians = tuple(_as_tensor(m, x) for m, x in zip(first, diff_inputs))
    return jacobians, reentrant, sizes_ok, types_ok


__all__ = [
    "GradcheckError",
    "get_analytical_jacobian",
    "get_numerical_jacobian",
    "gradcheck",
    "gradgradcheck",
]

"""Every op in the table x every sample: finite differences to second order, and torch.

No per-op code lives here: an op's samples sit beside its definition (ember.ops.OPS).
"""

import inspect
import os
import pathlib

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.ops import OPS, Primitive

# EMBER_TEST_DEVICE=cuda runs the finite-difference checks on a real GPU (benchmarks/gpu_check.py)
DEVICE = os.environ.get("EMBER_TEST_DEVICE", "cpu")

CASES = [
    pytest.param(spec, sample, id=f"{spec.name}-{sample!r}")
    for spec in OPS.values()
    for sample in spec.samples
]


def sample_arrays(spec, sample, seed=0):
    """float64 arrays drawn from the op's domain, kept 0.1 away from its kinks."""
    rng = np.random.default_rng(seed)
    lo, hi = spec.domain
    arrays = []
    for shape in sample.shapes:
        a = rng.uniform(lo, hi, size=shape)
        for point in spec.avoid:
            near = np.abs(a - point) < 0.1
            a = np.where(near, point + np.where(a >= point, 0.15, -0.15), a)
        arrays.append(a)
    return arrays


def ember_inputs(arrays, dtype=ember.float64, device=None):
    return [ember.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]


def call(spec, sample, lib, inputs):
    return spec.call(lib, *inputs, **sample.kwargs)


@pytest.mark.parametrize("spec, sample", CASES)
def test_gradient_matches_finite_differences(spec, sample):
    xs = ember_inputs(sample_arrays(spec, sample), device=DEVICE)
    assert gradcheck(lambda *a: call(spec, sample, ember, a), xs, eps=spec.eps)


@pytest.mark.parametrize("spec, sample", [c for c in CASES if c.values[0].gradgrad])
def test_second_derivative_matches_finite_differences(spec, sample):
    xs = ember_inputs(sample_arrays(spec, sample), device=DEVICE)
    assert gradgradcheck(lambda *a: call(spec, sample, ember, a), xs, eps=spec.eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, sample", CASES)
def test_forward_and_vjp_match_torch(spec, sample, dtype, torch):
    arrays = sample_arrays(spec, sample)
    xs = ember_inputs(arrays, getattr(ember, dtype))
    ts = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in arrays]
    out = call(spec, sample, ember, xs)
    expected = call(spec, sample, torch, ts)
    outs = out if isinstance(out, tuple) else (out,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    tol = dict(rtol=1e-4, atol=spec.atol) if dtype == "float32" else dict(rtol=1e-7, atol=1e-9)
    for o, e in zip(outs, expecteds):
        assert o.shape == tuple(e.shape), f"{spec.name}: shape {o.shape} vs torch {e.shape}"
        assert str(o.dtype).split(".")[1] == str(e.dtype).split(".")[1]
        np.testing.assert_allclose(o.detach().numpy(), e.detach().numpy(), **tol)
    rng = np.random.default_rng(1)
    pairs = [(o, e) for o, e in zip(outs, expecteds) if e.requires_grad]
    cotangents = [rng.standard_normal(e.shape) for _, e in pairs]
    grads = ember.autograd.grad(
        [o for o, _ in pairs],
        xs,
        [ember.tensor(v, dtype=o.dtype) for (o, _), v in zip(pairs, cotangents)],
        allow_unused=True,
    )
    expected_grads = torch.autograd.grad(
        [e for _, e in pairs],
        ts,
        [torch.tensor(v, dtype=e.dtype) for (_, e), v in zip(pairs, cotangents)],
        allow_unused=True,
    )
    for i, (g, e) in enumerate(zip(grads, expected_grads)):
        if e is None:
            assert g is None or not g.numpy().any(), f"{spec.name}: input {i} has a gradient"
            continue
        if g is None:  # ember's graph has no path here; torch's path must carry zeros
            assert not e.numpy().any(), f"{spec.name}: no gradient for input {i}"
            continue
        np.testing.assert_allclose(g.numpy(), e.numpy(), **tol, err_msg=f"input {i}")


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_primitive_is_in_the_table():
    missing = [
        f"{c.__module__}.{c.__name__}"
        for c in _all_subclasses(Primitive)
        if not c.__name__.startswith("_") and not hasattr(c, "_table_name")
    ]
    assert not missing, f"add an OPS entry (ember.ops.register) for: {', '.join(missing)}"


def test_no_numpy_import_under_ops():
    ops_dir = pathlib.Path(inspect.getfile(ember.ops)).parent
    offenders = [
        p.name
        for p in ops_dir.glob("*.py")
        if any(
            line.strip().startswith(("import numpy", "from numpy", "import cupy", "from cupy"))
            for line in p.read_text().splitlines()
        )
    ]
    assert not offenders, f"ops must get their array module from ember._backend: {offenders}"


@pytest.mark.parametrize("spec, sample", CASES)
def test_op_keeps_the_device(spec, sample, fake_cuda):
    """On the (test-only) fake CUDA device every op's outputs and gradients stay on it."""
    if spec.primitive is not None and spec.primitive.moves_device:
        pytest.skip("this op moves tensors between devices")
    arrays = sample_arrays(spec, sample)
    cpu = ember_inputs(arrays)
    gpu = [ember.tensor(a, dtype=ember.float64, device="cuda", requires_grad=True) for a in arrays]
    outs_cpu, outs_gpu = call(spec, sample, ember, cpu), call(spec, sample, ember, gpu)
    outs_cpu = outs_cpu if isinstance(outs_cpu, tuple) else (outs_cpu,)
    outs_gpu = outs_gpu if isinstance(outs_gpu, tuple) else (outs_gpu,)
    for o_cpu, o_gpu in zip(outs_cpu, outs_gpu):
        assert o_gpu.device.type == "cuda", f"{spec.name} output left the device"
        np.testing.assert_allclose(o_gpu.cpu().detach().numpy(), o_cpu.detach().numpy())
    diff = [(c, g) for c, g in zip(outs_cpu, outs_gpu) if g.requires_grad]
    if not diff:
        return
    grads_cpu = ember.autograd.grad([c.sum() for c, _ in diff], cpu, allow_unused=True)
    grads_gpu = ember.autograd.grad([g.sum() for _, g in diff], gpu, allow_unused=True)
    for g_cpu, g_gpu in zip(grads_cpu, grads_gpu):
        if g_gpu is not None:
            assert g_gpu.device.type == "cuda", f"{spec.name} gradient left the device"
            np.testing.assert_allclose(g_gpu.cpu().numpy(), g_cpu.numpy())

"""Forward-mode AD for every op of the table: the tangent that `forward_ad` carries through the
op equals finite differences (float64) and PyTorch's `torch.func.jvp`."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.autograd.forward_ad as fwad
from ember.ops import OPS
from tests.ops.test_op_table import CASES, call, sample_arrays


def _backward_kernel(name):
    """The fused backward kernels (tanh_grad, lstm_backward, ...): their table entries call
    autograd to reach them, so only reverse mode applies."""
    return name.endswith(("_grad", "_backward")) or name == "max_pool_gather"


FORWARD_CASES = [c for c in CASES if not _backward_kernel(c.values[0].name)]


def _outputs(result):
    items = result if isinstance(result, tuple) else (result,)
    return [o for o in items if isinstance(o, ember.Tensor) and o.is_floating_point()]


def _directions(arrays, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape) for a in arrays]


def _ember_jvp(spec, sample, arrays, directions):
    with fwad.dual_level():
        duals = [
            fwad.make_dual(ember.tensor(a), ember.tensor(v)) for a, v in zip(arrays, directions)
        ]
        outs = _outputs(call(spec, sample, ember, duals))
        tangents = [fwad.unpack_dual(o).tangent for o in outs]
    return [o.numpy() for o in outs], [None if t is None else t.numpy() for t in tangents]


def _finite_difference(spec, sample, arrays, directions, eps=1e-6):
    def at(step):
        moved = [ember.tensor(a + step * v) for a, v in zip(arrays, directions)]
        return [o.numpy() for o in _outputs(call(spec, sample, ember, moved))]

    return [(p - m) / (2 * eps) for p, m in zip(at(eps), at(-eps))]


@pytest.mark.parametrize("spec, sample", FORWARD_CASES)
def test_tangent_matches_finite_differences(spec, sample):
    arrays = sample_arrays(spec, sample)
    directions = _directions(arrays)
    values, tangents = _ember_jvp(spec, sample, arrays, directions)
    expected = _finite_difference(spec, sample, arrays, directions, eps=spec.eps)
    assert len(tangents) == len(expected)
    for value, got, want in zip(values, tangents, expected):
        assert got is not None, f"{spec.name}: an output carries no tangent"
        finite = np.isfinite(value)  # where the value is inf, differences say nothing
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-5)


# where torch.func.jvp itself is wrong (finite differences agree with ember there)
TORCH_QUIRKS = {"scatter_reduce": "torch's forward-mode rule for reduce='prod' gives zeros"}


@pytest.mark.parametrize("spec, sample", FORWARD_CASES)
def test_tangent_matches_torch_func_jvp(spec, sample, torch):
    if spec.name in TORCH_QUIRKS and sample.kwargs.get("reduce") == "prod":
        pytest.skip(TORCH_QUIRKS[spec.name])
    arrays = sample_arrays(spec, sample)
    directions = _directions(arrays)
    values, tangents = _ember_jvp(spec, sample, arrays, directions)

    def f(*xs):
        result = call(spec, sample, torch, list(xs))
        items = result if isinstance(result, tuple) else (result,)
        return tuple(o for o in items if isinstance(o, torch.Tensor) and o.is_floating_point())

    primals = tuple(torch.tensor(a) for a in arrays)
    vectors = tuple(torch.tensor(v) for v in directions)
    try:
        _, expected = torch.func.jvp(f, primals, vectors)
    except (RuntimeError, NotImplementedError) as error:  # torch has no forward rule for it
        pytest.skip(f"torch.func.jvp: {str(error).splitlines()[0]}")
    for value, got, want in zip(values, tangents, expected):
        finite = np.isfinite(value)
        want = want.detach().numpy(force=True)  # (a ZeroTensor needs force)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6, atol=1e-8)


def test_every_op_is_checked():
    checked = {c.values[0].name for c in FORWARD_CASES}
    assert checked == {name for name in OPS if not _backward_kernel(name)}

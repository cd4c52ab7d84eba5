"""vmap of every op of the table: over a batch of 3 samples it equals the op run on each sample
and stacked (and torch.func.vmap), and it runs batched unless the op is listed below."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.func
from ember.func import _batching
from ember.ops import OPS
from tests.ops.test_op_table import CASES, call, sample_arrays

BATCH = 3


def _batch_arrays(spec, sample):
    """One array per input with the batch at dim 0: three draws from the op's domain."""
    draws = [sample_arrays(spec, sample, seed=seed) for seed in range(BATCH)]
    return [np.stack(parts) for parts in zip(*draws)]


def _tensors(result, lib):
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [o for o in items if isinstance(o, lib.Tensor)]


def _numpy(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def run_vmapped(spec, sample, batched):
    """(outputs of vmap over the batch, names of the fallbacks it used)."""
    before = dict(_batching.fallback_counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = ember.func.vmap(lambda *xs: tuple(_tensors(call(spec, sample, ember, xs), ember)))(
            *[ember.tensor(a, requires_grad=True) for a in batched]
        )
    used = {k for k, v in _batching.fallback_counts.items() if v != before.get(k, 0)}
    return [_numpy(o) for o in out], used


def per_sample(spec, sample, batched):
    rows = [
        [
            _numpy(o)
            for o in _tensors(
                call(
                    spec, sample, ember, [ember.tensor(a[i], requires_grad=True) for a in batched]
                ),
                ember,
            )
        ]
        for i in range(BATCH)
    ]
    return [np.stack(parts) for parts in zip(*rows)]


VMAP_CASES = [c for c in CASES if c.values[1].shapes]

# The ops whose vmap is not one batched call (each runs per sample somewhere, correctly): ops
# that read an array's memory (strided windows, the storage-level as_strided), update arrays
# branch on values, or write into a buffer
# they made unbatched. A new name here is a lost batching rule; a name gone is a rule gained.
FALLBACK = set(
    """as_strided batch_norm binary_cross_entropy conv1d conv2d conv3d conv_transpose1d
    conv_transpose2d conv_transpose3d diag diag_embed fold gaussian_nll_loss gru gru_cell
    gru_cell_backward isin kthvalue logsumexp lstm lstm_backward lstm_cell lstsq
    masked_fill_ masked_fill_tensor_value matrix_exp max_pool1d max_pool2d max_pool3d
    max_pool_gather max_pool_scatter median mvlgamma nanmedian polygamma rnn_relu
    rnn_relu_cell rnn_tanh rnn_tanh_cell scaled_dot_product_attention solve_triangular topk
    unfold zeta""".split()
)


@pytest.mark.parametrize("spec, sample", VMAP_CASES)
def test_vmap_equals_stacked_samples(spec, sample):
    batched = _batch_arrays(spec, sample)
    got, _ = run_vmapped(spec, sample, batched)
    expected = per_sample(spec, sample, batched)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


# where torch.func.vmap differs from torch's own per-sample results (ember equals those)
TORCH_QUIRKS = {
    ("index_select", "3x4|dim=0,index=1"): "a 0-d index: torch's rule picks one row per index "
    "entry of the whole batch, giving 3 rows a sample instead of 1"
}


@pytest.mark.parametrize("spec, sample", VMAP_CASES)
def test_vmap_equals_torch_func_vmap(spec, sample, torch):
    if (spec.name, repr(sample)) in TORCH_QUIRKS:
        pytest.skip(TORCH_QUIRKS[spec.name, repr(sample)])
    batched = _batch_arrays(spec, sample)
    got, _ = run_vmapped(spec, sample, batched)

    def f(*xs):
        return tuple(_tensors(call(spec, sample, torch, list(xs)), torch))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            expected = torch.func.vmap(f)(*[torch.tensor(a) for a in batched])
    except (
        RuntimeError,
        NotImplementedError,
        ValueError,
        IndexError,
    ) as error:  # not vmappable in torch
        pytest.skip(f"torch.func.vmap: {str(error).splitlines()[0][:100]}")
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.detach().numpy(), rtol=1e-7, atol=1e-9)


def test_fallback_set_is_as_expected():
    """Which ops run batched: every op not in FALLBACK, over every sample."""
    falling = set()
    for case in VMAP_CASES:
        spec, sample = case.values
        _, used = run_vmapped(spec, sample, _batch_arrays(spec, sample))
        if used:
            falling.add(spec.name)
    assert falling - FALLBACK == set(), "these ops lost their batching rule"
    assert FALLBACK - falling == set(), "these ops batch now: remove them from FALLBACK"


def test_every_op_is_checked():
    assert {c.values[0].name for c in VMAP_CASES} == {
        name for name, spec in OPS.items() if any(s.shapes for s in spec.samples)
    }

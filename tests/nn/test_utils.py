"""nn.utils: gradient clipping and parameter/vector conversion, against torch."""

import math

import numpy as np
import pytest

import ember
import ember.nn as nn


def _with_grads(lib, grads):
    params = []
    for g in grads:
        p = lib.nn.Parameter(lib.zeros(g.shape, dtype=lib.float64))
        p.grad = lib.tensor(g)
        params.append(p)
    return params


GRADS = [np.array([[3.0, -4.0], [1.0, 2.0]]), np.array([0.5, -12.0, 1.5])]


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, 0])
@pytest.mark.parametrize("max_norm", [1.0, 100.0])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    e = _with_grads(ember, GRADS)
    t = _with_grads(torch, GRADS)
    e_total = nn.utils.clip_grad_norm_(e, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t, max_norm, norm_type)
    assert isinstance(e_total, ember.Tensor) and e_total.shape == ()
    np.testing.assert_allclose(e_total.item(), t_total.item(), rtol=1e-12)
    for a, b in zip(e, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_single_tensor_and_nonfinite(torch):
    p = _with_grads(ember, [np.array([3.0, 4.0])])[0]
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.linalg.norm(p.grad.numpy()), 1.0, rtol=1e-5)
    bad = _with_grads(ember, [np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(ember.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch(torch):
    e = _with_grads(ember, GRADS)
    t = _with_grads(torch, GRADS)
    nn.utils.clip_grad_value_(e, 2.5)
    torch.nn.utils.clip_grad_value_(t, 2.5)
    for a, b in zip(e, t):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_parameters_vector_roundtrip(torch):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    assert vec.requires_grad
    expected = np.concatenate([p.numpy(force=True).ravel() for p in model.parameters()])
    np.testing.assert_array_equal(vec.numpy(force=True), expected)
    weight = model[0].weight
    nn.utils.vector_to_parameters(ember.arange(11, dtype=ember.float32), model.parameters())
    assert model[0].weight is weight
    assert weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert model[1].bias.tolist() == [10.0]
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], model.parameters())

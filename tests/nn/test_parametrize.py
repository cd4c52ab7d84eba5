"""nn.utils.parametrize, parametrizations.weight_norm/spectral_norm and the legacy hook-based
weight_norm/spectral_norm, against torch."""

import warnings

import numpy as np
import pytest

import ember
from ember.nn.utils import parametrize


def _twins(torch, make_theirs, make_ours):
    theirs, ours = make_theirs().double(), make_ours().double()
    ours.load_state_dict(
        {k: ember.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    return theirs, ours


def _check_grads(theirs, ours, x):
    out_t, out_e = theirs(x[0]), ours(x[1])
    np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), atol=1e-12)
    (out_t**2).sum().backward()
    (out_e**2).sum().backward()
    for name, param in theirs.named_parameters():
        mine = dict(ours.named_parameters())[name]
        np.testing.assert_allclose(mine.grad.numpy(), param.grad.numpy(), atol=1e-10, err_msg=name)


def _inputs(torch, *shape):
    x = np.random.default_rng(0).standard_normal(shape)
    return torch.tensor(x), ember.tensor(x)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_parametrized_weight_norm_matches_torch(dim, torch):
    theirs, ours = _twins(torch, lambda: torch.nn.Linear(4, 3), lambda: ember.nn.Linear(4, 3))
    torch.nn.utils.parametrizations.weight_norm(theirs, dim=dim)
    ember.nn.utils.parametrizations.weight_norm(ours, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert type(ours).__name__ == "ParametrizedLinear"
    assert parametrize.type_before_parametrizations(ours) is ember.nn.Linear
    _check_grads(theirs, ours, _inputs(torch, 5, 4))
    parametrize.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is ember.nn.Linear and list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy())


def test_parametrized_spectral_norm_normalises_the_largest_singular_value(torch):
    ours = ember.nn.Linear(6, 5).double()
    ember.nn.utils.parametrizations.spectral_norm(ours)
    theirs = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(6, 5).double())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for _ in range(20):
        ours(ember.zeros(1, 6, dtype=ember.float64))
    sigma = np.linalg.svd(ours.weight.detach().numpy(), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, abs=1e-8)
    ours.eval()
    before = ours.parametrizations.weight[0]._u.clone()
    ours(ember.zeros(1, 6, dtype=ember.float64))
    assert ours.parametrizations.weight[0]._u.tolist() == before.tolist()  # eval: no iteration


def test_a_custom_parametrization_with_right_inverse_and_assignment():
    class Symmetric(ember.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).mT

        def right_inverse(self, a):
            return a.triu()

    layer = ember.nn.Linear(3, 3)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    w = layer.weight
    assert np.allclose(w.detach().numpy(), w.detach().numpy().T)
    target = ember.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    layer.weight = target
    assert layer.weight.tolist() == target.tolist()
    assert parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(layer, "bias")
    with parametrize.cached():
        assert layer.weight is layer.weight
    assert layer.weight is not layer.weight
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        parametrize.register_parametrization(layer, "nope", Symmetric())


def test_a_parametrization_that_changes_the_shape_is_refused_unless_unsafe():
    class Flatten(ember.nn.Module):
        def forward(self, x):
            return x.flatten()

    layer = ember.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="same shape and dtype"):
        parametrize.register_parametrization(layer, "weight", Flatten())
    assert isinstance(layer.weight, ember.nn.Parameter)  # unchanged


def test_legacy_weight_norm_and_spectral_norm_match_torch(torch):
    theirs, ours = _twins(torch, lambda: torch.nn.Conv1d(2, 3, 3), lambda: ember.nn.Conv1d(2, 3, 3))
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        ember.nn.utils.weight_norm(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    _check_grads(theirs, ours, _inputs(torch, 2, 2, 7))
    ember.nn.utils.remove_weight_norm(ours)
    assert sorted(ours.state_dict()) == ["bias", "weight"]

    layer = ember.nn.utils.spectral_norm(ember.nn.Linear(6, 4).double())
    assert sorted(layer.state_dict()) == sorted(
        torch.nn.utils.spectral_norm(torch.nn.Linear(6, 4)).state_dict()
    )
    for _ in range(20):
        layer(ember.zeros(1, 6, dtype=ember.float64))
    sigma = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, abs=1e-8)
    ember.nn.utils.remove_spectral_norm(layer)
    assert sorted(layer.state_dict()) == ["bias", "weight"]

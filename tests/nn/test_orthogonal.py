"""nn.utils.parametrizations.orthogonal: every map on square, tall, wide and batched weights,
with and without trivialization; checked against torch where it is installed."""

import numpy as np
import pytest

import ember
from ember.nn.utils.parametrizations import orthogonal

MAPS = ["matrix_exp", "cayley", "householder"]
SHAPES = [(4, 4), (5, 3), (3, 5), (2, 4, 3)]


def _module(lib, shape, seed=0):
    """A module whose `weight` (float64) has `shape`: a Linear for matrices."""
    w = np.random.default_rng(seed).standard_normal(shape)
    module = lib.nn.Module()
    module.weight = lib.nn.Parameter(lib.tensor(w))
    return module


def _orthonormality_error(w):
    """max |W^T W - I| over the fewer of W's rows and columns."""
    w = np.asarray(w)
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -1, -2)
    return np.abs(np.swapaxes(w, -1, -2) @ w - np.eye(w.shape[-1])).max()


def _weight(module):
    return module.weight.detach().numpy()


@pytest.mark.parametrize("trivial", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_weight_is_orthogonal_and_stays_so_through_training(orthogonal_map, shape, trivial):
    module = orthogonal(
        _module(ember, shape), orthogonal_map=orthogonal_map, use_trivialization=trivial
    )
    assert _orthonormality_error(_weight(module)) < 1e-10
    target = ember.tensor(np.random.default_rng(1).standard_normal(shape))
    optimizer = ember.optim.SGD(module.parameters(), lr=0.1)
    before = _weight(module)
    for _ in range(3):
        optimizer.zero_grad()
        ((module.weight - target) ** 2).sum().backward()
        optimizer.step()
    assert _orthonormality_error(_weight(module)) < 1e-10
    assert np.abs(_weight(module) - before).max() > 1e-3  # it trained


def test_default_map_is_matrix_exp_for_square_and_householder_otherwise():
    square = orthogonal(_module(ember, (3, 3)))
    tall = orthogonal(_module(ember, (4, 3)))
    assert square.parametrizations.weight[0].orthogonal_map == "matrix_exp"
    assert tall.parametrizations.weight[0].orthogonal_map == "householder"


def test_linear_layer_is_orthogonal_and_keeps_its_bias():
    layer = orthogonal(ember.nn.Linear(6, 4).double())
    assert type(layer).__name__ == "ParametrizedLinear"
    assert _orthonormality_error(_weight(layer)) < 1e-10
    assert layer(ember.ones(2, 6, dtype=ember.float64)).shape == (2, 4)


@pytest.mark.parametrize("trivial", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_matches_torch_after_loading_its_parameters(orthogonal_map, shape, trivial, torch):
    theirs = torch.nn.utils.parametrizations.orthogonal(
        _module(torch, shape), orthogonal_map=orthogonal_map, use_trivialization=trivial
    )
    ours = orthogonal(
        _module(ember, shape, seed=5), orthogonal_map=orthogonal_map, use_trivialization=trivial
    )
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # a point away from the identity, so every map is exercised
    with torch.no_grad():
        original = theirs.parametrizations.weight.original
        original.add_(0.3 * torch.tensor(np.random.default_rng(2).standard_normal(shape)))
    ours.load_state_dict({k: ember.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(_weight(ours), theirs.weight.detach().numpy(), atol=1e-12)
    c = np.random.default_rng(3).standard_normal(shape)
    (theirs.weight * torch.tensor(c)).sum().backward()
    (ours.weight * ember.tensor(c)).sum().backward()
    np.testing.assert_allclose(
        ours.parametrizations.weight.original.grad.numpy(), original.grad.numpy(), atol=1e-10
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_assigning_an_orthogonal_matrix_gives_it_back(orthogonal_map, shape):
    module = orthogonal(_module(ember, shape), orthogonal_map=orthogonal_map)
    q = _weight(orthogonal(_module(ember, shape, seed=7)))
    module.weight = ember.tensor(q)
    np.testing.assert_allclose(_weight(module), q, atol=1e-12)
    assert np.abs(module.parametrizations.weight.original.detach().numpy()).max() == 1.0


@pytest.mark.parametrize("shape", SHAPES)
def test_assigning_without_trivialization_householder(shape):
    module = orthogonal(
        _module(ember, shape), orthogonal_map="householder", use_trivialization=False
    )
    q = _weight(orthogonal(_module(ember, shape, seed=7)))
    module.weight = ember.tensor(q)
    np.testing.assert_allclose(_weight(module), q, atol=1e-12)


def test_assigning_a_square_matrix_orthogonalizes_it_as_torch(torch):
    a = np.random.default_rng(4).standard_normal((4, 4))
    ours = orthogonal(_module(ember, (4, 4)))
    theirs = torch.nn.utils.parametrizations.orthogonal(_module(torch, (4, 4)))
    ours.weight = ember.tensor(a)
    with torch.no_grad():
        theirs.weight = torch.tensor(a)
    np.testing.assert_allclose(_weight(ours), theirs.weight.detach().numpy(), atol=1e-12)


def test_errors_match_torch():
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a tensor"):
        orthogonal(_module(ember, (3,)))
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp"'):
        orthogonal(_module(ember, (3, 3)), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        orthogonal(_module(ember, (3, 3)), name="kernel")
    module = orthogonal(_module(ember, (3, 3)))
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices of shape"):
        module.weight = ember.eye(4, dtype=ember.float64)
    for orthogonal_map in ("matrix_exp", "cayley"):
        module = orthogonal(
            _module(ember, (3, 3)), orthogonal_map=orthogonal_map, use_trivialization=False
        )
        with pytest.raises(NotImplementedError, match="not possible to assign"):
            module.weight = ember.eye(3, dtype=ember.float64)

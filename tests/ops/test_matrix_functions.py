"""matrix_exp and householder_product beyond the op table: PyTorch's errors, large norms,
float32, and the non-differentiable geqrf helper."""

import numpy as np
import pytest

import ember
from ember.ops.matrix_functions import _geqrf


def test_matrix_exp_of_large_and_zero_matrices_matches_torch(torch):
    a = (
        np.random.default_rng(0).standard_normal((3, 5, 5))
        * np.array([0.0, 1.0, 40.0])[:, None, None]
    )
    got = ember.linalg.matrix_exp(ember.tensor(a)).numpy()
    expected = torch.linalg.matrix_exp(torch.tensor(a)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got[0], np.eye(5))


def test_matrix_exp_keeps_float32_and_is_a_method():
    a = ember.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=ember.float32)
    out = a.matrix_exp()
    assert out.dtype == ember.float32
    np.testing.assert_allclose(
        out.numpy(), [[np.cos(1), np.sin(1)], [-np.sin(1), np.cos(1)]], rtol=1e-6
    )
    assert ember.matrix_exp(a).grad_fn is None


def test_matrix_exp_node_name():
    a = ember.eye(2, dtype=ember.float64, requires_grad=True)
    assert ember.linalg.matrix_exp(a).grad_fn.name() == "LinalgMatrixExpBackward0"


@pytest.mark.parametrize(
    "shapes, dtype, message",
    [
        (((3,), (1,)), "float64", "input must have at least 2 dimensions"),
        (((2, 3), (2,)), "float64", r"input.shape\[-2\] must be greater than or equal"),
        (((3, 2), (3,)), "float64", r"input.shape\[-1\] must be greater than or equal to tau"),
        (((3, 2), (2, 2)), "float64", "Expected tau to have one dimension less than input"),
        (((2, 3, 2), (3, 2)), "float64", "Expected batch dimensions of tau"),
    ],
)
def test_householder_product_errors_as_torch(shapes, dtype, message):
    a, tau = (ember.ones(*s, dtype=getattr(ember, dtype)) for s in shapes)
    with pytest.raises(RuntimeError, match=message):
        ember.linalg.householder_product(a, tau)
    with pytest.raises(RuntimeError, match="tau dtype Float does not match input dtype Double"):
        ember.linalg.householder_product(ember.ones(3, 2, dtype=ember.float64), ember.ones(2))


def test_matrix_exp_errors_as_torch():
    with pytest.raises(RuntimeError, match="linalg.matrix_exp: Expected a floating point"):
        ember.linalg.matrix_exp(ember.ones(3, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="must be batches of square matrices"):
        ember.linalg.matrix_exp(ember.ones(3, 2))


def test_geqrf_with_householder_product_rebuilds_q(torch):
    a = np.random.default_rng(1).standard_normal((2, 5, 3))
    h, tau = _geqrf(ember.tensor(a))
    th, ttau = torch.geqrf(torch.tensor(a))
    np.testing.assert_allclose(h.numpy(), th.numpy(), atol=1e-12)
    np.testing.assert_allclose(tau.numpy(), ttau.numpy(), atol=1e-12)
    q = ember.linalg.householder_product(h, tau).numpy()
    r = np.triu(h.numpy()[..., :3, :])
    np.testing.assert_allclose(q @ r, a, atol=1e-12)

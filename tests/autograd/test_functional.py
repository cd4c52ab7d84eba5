"""ember.autograd.functional against known derivatives and torch.autograd.functional."""

import numpy as np
import pytest

import ember
from ember.autograd import functional as F


def _close(a, b):
    np.testing.assert_allclose(
        np.asarray(a.detach().numpy()), np.asarray(b.detach().numpy()), rtol=1e-10, atol=1e-12
    )


def _same_structure(got, expected, path="result"):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), path
        for i, (g, e) in enumerate(zip(got, expected)):
            _same_structure(g, e, f"{path}[{i}]")
    else:
        assert not isinstance(got, tuple), path
        assert got.shape == tuple(expected.shape), path
        _close(got, expected)


def _both(torch, *arrays):
    return tuple(ember.tensor(a) for a in arrays), tuple(torch.tensor(a) for a in arrays)


RNG = np.random.default_rng(0)
X = RNG.standard_normal(3)
Y = RNG.standard_normal((2, 3))
V3 = RNG.standard_normal(3)


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    a = ember.tensor(RNG.standard_normal((3, 3)))
    h = F.hessian(lambda x: x @ a @ x, ember.tensor(X))
    _close(h, a + a.transpose(0, 1))


def test_hessian_of_a_cubic():
    x = ember.tensor(X)
    h = F.hessian(lambda x: (x**3).sum(), x)
    _close(h, ember.diag(6 * x))


def test_jacobian_shapes_for_tuple_inputs_and_outputs(torch):
    (ex, ey), (tx, ty) = _both(torch, X, Y)

    def f(lib):
        return lambda a, b: ((a.sin() * b).sum(), (a * a).reshape(1, 3) @ b.transpose(0, 1))

    got = F.jacobian(f(ember), (ex, ey))
    expected = torch.autograd.functional.jacobian(f(torch), (tx, ty))
    _same_structure(got, expected)
    assert got[0][1].shape == (2, 3)
    assert got[1][0].shape == (1, 2, 3)
    single = F.jacobian(lambda a: a.exp(), ex)
    _close(single, ember.diag(ex.exp()))
    one_out = F.jacobian(lambda a, b: a.sin(), (ex, ey))
    assert isinstance(one_out, tuple) and one_out[1].shape == (3, 2, 3)
    assert not one_out[1].numpy().any()  # independent input: zeros when not strict


@pytest.mark.parametrize("inputs_tuple", [False, True])
def test_hessian_structure_matches_torch(torch, inputs_tuple):
    (ex, ey), (tx, ty) = _both(torch, X, Y)
    if inputs_tuple:

        def f(a, b):
            return (a**2 * b.sum(0)).sum() * a.sum()

        _same_structure(F.hessian(f, (ex, ey)), torch.autograd.functional.hessian(f, (tx, ty)))
    else:

        def g(a):
            return (a**3).sum() * a.sum()

        _same_structure(F.hessian(g, ex), torch.autograd.functional.hessian(g, tx))


def test_vjp_jvp_hvp_vhp_match_torch(torch):
    (ex, ev), (tx, tv) = _both(torch, X, V3)
    tf = torch.autograd.functional

    def g(a):
        return (a**3).sum() * a.sin().sum()

    def pair(a):
        return a.sin() * 2, a.sum()

    _same_structure(F.vjp(lambda a: a.sin() * 2, ex, ev), tf.vjp(lambda a: a.sin() * 2, tx, tv))
    _same_structure(F.jvp(pair, ex, ev), tf.jvp(pair, tx, tv))
    _same_structure(F.hvp(g, ex, ev), tf.hvp(g, tx, tv))
    _same_structure(F.vhp(g, ex, ev), tf.vhp(g, tx, tv))
    _same_structure(F.vjp(g, ex), tf.vjp(g, tx))  # v may be None for a scalar output
    scalar_e, scalar_t = (
        ember.tensor(0.7, dtype=ember.float64),
        torch.tensor(0.7, dtype=torch.float64),
    )
    _same_structure(F.jvp(lambda a: a.exp(), scalar_e), tf.jvp(lambda a: a.exp(), scalar_t))


def test_jvp_with_tuple_inputs(torch):
    (ex, ey, ev, ew), (tx, ty, tv, tw) = _both(torch, X, Y, V3, Y * 0.5)

    def f(a, b):
        return a * b

    _same_structure(
        F.jvp(f, (ex, ey), (ev, ew)), torch.autograd.functional.jvp(f, (tx, ty), (tv, tw))
    )


def test_strict_mode_raises_for_independent_inputs():
    x, y = ember.tensor(X), ember.tensor(Y)
    with pytest.raises(
        RuntimeError, match="Output 0 of the user-provided function is independent of input 1"
    ):
        F.jacobian(lambda a, b: a.sin(), (x, y), strict=True)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        F.vjp(lambda a: ember.ones(3), x, ember.ones(3), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.vjp(lambda a, b: a.sin(), (x, y), ember.ones(3), strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function"):
        F.hessian(lambda a: a.sum() * 2.0, x, strict=True)
    # non-strict: zeros where there is no dependence
    _, grads = F.vjp(lambda a, b: a.sin(), (x, y), ember.ones(3))
    assert not grads[1].numpy().any()
    h = F.hessian(lambda a: a.sum() * 2.0, x)
    assert h.shape == (3, 3) and not h.numpy().any()


def test_create_graph_allows_differentiating_the_result():
    x = ember.tensor(X, requires_grad=True)
    jac = F.jacobian(lambda a: a**3, x, create_graph=True)
    assert jac.requires_grad
    jac.sum().backward()  # d/dx sum(diag(3 x^2)) = 6 x
    _close(x.grad, 6 * x)
    plain = F.jacobian(lambda a: a**3, x)
    assert not plain.requires_grad
    _, hv = F.hvp(lambda a: (a**3).sum(), x, ember.ones(3), create_graph=True)
    (g,) = ember.autograd.grad(hv.sum(), x)
    _close(g, ember.full((3,), 6.0, dtype=ember.float64))


def test_argument_errors():
    x = ember.tensor(X)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        F.jacobian(lambda a: a, [x])
    with pytest.raises(TypeError, match="value at index 1"):
        F.vjp(lambda a, b: a, (x, 3.0))
    with pytest.raises(RuntimeError, match="v can only be None"):
        F.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="v has invalid size: should be"):
        F.vjp(lambda a: a * 2, x, ember.ones(4))
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length"):
        F.jvp(lambda a, b: a * b, (x, x), (x,))
    with pytest.raises(RuntimeError, match="should return a single Tensor"):
        F.hessian(lambda a: (a.sum(), a.sum()), x)
    with pytest.raises(RuntimeError, match="should contain a single element"):
        F.hvp(lambda a: a * 2, x, x)
    with pytest.raises(AssertionError, match="forward-mode"):
        F.jacobian(lambda a: a, x, strategy="sideways")
    with pytest.raises(RuntimeError, match="not supported together"):
        F.jacobian(lambda a: a, x, strict=True, vectorize=True)


def test_vectorize_and_forward_mode_are_accepted():
    x = ember.tensor(X)
    expected = F.jacobian(lambda a: a.sin(), x)
    _close(F.jacobian(lambda a: a.sin(), x, vectorize=True), expected)
    _close(F.jacobian(lambda a: a.sin(), x, vectorize=True, strategy="forward-mode"), expected)
    with pytest.raises(NotImplementedError):
        F.jacobian(lambda a: a.sin(), x, strategy="forward-mode")


def test_grad_mode_is_restored_and_inputs_untouched():
    x = ember.tensor(X)
    with ember.no_grad():
        F.hessian(lambda a: (a**3).sum(), x)
        assert not ember.is_grad_enabled()
    assert not x.requires_grad and x.grad is None


def test_invalid_v_size_message_matches_torch(lib):
    x = lib.ones(3, dtype=lib.float64)
    with pytest.raises(RuntimeError, match=r"should be torch\.Size\(\[3\]\) but got torch\.Size"):
        lib.autograd.functional.vjp(lambda a: a * 2, x, lib.ones(2, dtype=lib.float64))
    with pytest.raises(RuntimeError, match=r"Entry 1 in v has invalid size"):
        lib.autograd.functional.jvp(lambda a, b: a * b, (x, x), (x, lib.ones(2)))


@pytest.mark.parametrize("shapes", [[(2, 3)], [()], [(1,), (), ()], [(2,), (3, 1), (4,)]])
def test_construct_standard_basis_for_matches_torch(torch, shapes):
    dtypes = [ember.float64, ember.float32]
    inputs = tuple(ember.zeros(s, dtype=dtypes[i % 2]) for i, s in enumerate(shapes))
    numels = tuple(t.numel() for t in inputs)
    got = F._construct_standard_basis_for(inputs, numels)
    expected = torch.autograd.functional._construct_standard_basis_for(
        tuple(torch.zeros(s) for s in shapes), numels
    )
    assert len(got) == len(expected)
    for g, e, t in zip(got, expected, inputs):
        assert g.dtype == t.dtype
        np.testing.assert_array_equal(g.numpy(), e.numpy())

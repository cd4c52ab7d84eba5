"""ember.func.jacrev and hessian against torch.func."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, assert_same_error, run_both

RNG = np.random.default_rng(2)
X = RNG.standard_normal(4)
Y = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 3))


def poly(lib, x):
    return x**3 - 2 * x**2 + 3 * x - 1


def exp_log_tanh(lib, x):
    return x.exp() * (x * x + 1).log() + x.tanh()


def matmul(lib, x):
    return (lib.tensor(Y) @ x).tanh() * (x @ lib.tensor(W))


def outer(lib, x):
    return lib.outer(x, x.sin())


FUNCTIONS = [poly, exp_log_tanh, matmul, outer]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_jacrev_matches_torch(torch, fn):
    got, expected = run_both(torch, lambda lib, F: F.jacrev(lambda x: fn(lib, x))(lib.tensor(X)))
    assert_close(got, expected)
    assert not got.requires_grad


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_jacrev_equals_jacfwd(fn):
    x = ember.tensor(X)
    f = lambda x: fn(ember, x)  # noqa: E731
    np.testing.assert_allclose(
        ember.func.jacrev(f)(x).numpy(), ember.func.jacfwd(f)(x).numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 100])
def test_jacrev_chunk_size_gives_the_same_result(torch, chunk_size):
    def run(lib, F):
        return F.jacrev(lambda x: x.exp() * x.sum(), chunk_size=chunk_size)(lib.tensor(X))

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0)])
def test_jacrev_argnums_and_pytree_output(torch, argnums):
    def run(lib, F):
        def f(a, b):
            return ((b @ a).sin(), {"s": [(a * a).sum()]})

        return F.jacrev(f, argnums)(lib.tensor(X), lib.tensor(Y))

    assert_close(*run_both(torch, run))


def test_jacrev_of_dict_input_with_aux(torch):
    def run(lib, F):
        def f(p):
            return p["w"] @ p["b"][0], {"aux": p["w"].sum()}

        return F.jacrev(f, has_aux=True)({"w": lib.tensor(Y), "b": [lib.tensor(X)]})

    assert_close(*run_both(torch, run))


def test_jacrev_of_constant_and_unused(torch):
    def run(lib, F):
        return F.jacrev(lambda a, b: (lib.ones(2, dtype=lib.float64), b * 2), argnums=(0, 1))(
            lib.tensor(X), lib.tensor(X[:2].copy())
        )

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize("fn", [poly, exp_log_tanh, matmul])
def test_hessian_matches_torch(torch, fn):
    def run(lib, F):
        return F.hessian(lambda x: fn(lib, x).sum())(lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_hessian_argnums_tuple(torch):
    def run(lib, F):
        return F.hessian(lambda a, b: (a.exp().sum() * (b @ a).sin()).sum(), argnums=(0, 1))(
            lib.tensor(X), lib.tensor(Y)
        )

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize(
    "compose",
    [
        lambda F, f: F.jacrev(F.jacrev(f)),
        lambda F, f: F.jacfwd(F.jacfwd(f)),
        lambda F, f: F.jacrev(F.jacfwd(f)),
        lambda F, f: F.jacfwd(F.jacrev(f)),
        lambda F, f: F.hessian(f),
    ],
    ids=["rev_rev", "fwd_fwd", "rev_fwd", "fwd_rev", "hessian"],
)
def test_every_second_order_composition_is_the_hessian(torch, compose):
    def run(lib, F):
        return compose(F, lambda x: (x.tanh() * (lib.tensor(Y) @ x).sum()).sum())(lib.tensor(X))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert not got.requires_grad  # nothing outside the transforms needs a graph


def test_third_order_jacobian(torch):
    def run(lib, F):
        return F.jacfwd(F.jacrev(F.jacrev(lambda x: (x.sin() * x.exp()).sum())))(lib.tensor(X))

    assert_close(*run_both(torch, run))


ERRORS = {
    "chunk_size": lambda lib, F: F.jacrev(lambda x: x, chunk_size=0)(lib.ones(3)),
    "output": lambda lib, F: F.jacrev(lambda x: 3)(lib.ones(3)),
    "aux": lambda lib, F: F.jacrev(lambda x: x, has_aux=True)(lib.ones(3)),
    "int_input": lambda lib, F: F.jacrev(lambda x: x)(lib.arange(3)),
    "int_output": lambda lib, F: F.jacrev(lambda x: x.long())(lib.ones(3)),
    "argnums": lambda lib, F: F.jacrev(lambda x: x, argnums=(0, 0))(lib.ones(3)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_torch(torch, case):
    assert_same_error(torch, ERRORS[case])

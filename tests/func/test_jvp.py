"""ember.func.jvp, linearize and jacfwd (forward mode by the double-vjp trick) against
torch.func's true forward mode."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, assert_same_error, run_both

RNG = np.random.default_rng(1)
X = RNG.standard_normal(4)
V = RNG.standard_normal(4)
Y = RNG.standard_normal((2, 4))
W = RNG.standard_normal((4, 3))


def poly(lib, x):
    return x**3 - 2 * x**2 + 3 * x - 1


def exp_log_tanh(lib, x):
    return x.exp() * (x * x + 1).log() + x.tanh()


def matmul(lib, x):
    return (x @ lib.tensor(W)).tanh()


def reductions(lib, x):
    return lib.stack([x.sum(), (x * x).mean(), x.max(), lib.logsumexp(x, dim=0)])


FUNCTIONS = [poly, exp_log_tanh, matmul, reductions]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_jvp_matches_torch(torch, fn):
    def run(lib, F):
        return F.jvp(lambda x: fn(lib, x), (lib.tensor(X),), (lib.tensor(V),))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert not got[0].requires_grad and not got[1].requires_grad


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_jacfwd_matches_torch(torch, fn):
    got, expected = run_both(torch, lambda lib, F: F.jacfwd(lambda x: fn(lib, x))(lib.tensor(X)))
    assert_close(got, expected)


@pytest.mark.filterwarnings("ignore")  # PyTorch's linearize traces with torch.fx and warns
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_linearize_matches_torch(torch, fn):
    def run(lib, F):
        out, jvp_fn = F.linearize(lambda x: fn(lib, x), lib.tensor(X))
        return out, jvp_fn(lib.tensor(V)), jvp_fn(lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_jvp_of_pytrees(torch):
    def run(lib, F):
        def f(p, y):
            return {"s": (p["a"] * y).sum(0), "t": [p["b"][0].exp(), y.sin()]}

        primals = ({"a": lib.tensor(X), "b": (lib.tensor(V),)}, lib.tensor(Y))
        tangents = ({"a": lib.tensor(V), "b": (lib.tensor(X),)}, lib.tensor(Y[::-1].copy()))
        return F.jvp(f, primals, tangents)

    assert_close(*run_both(torch, run))


def test_jvp_has_aux(torch):
    def run(lib, F):
        return F.jvp(
            lambda x: (x.sin(), {"c": x.cos()}), (lib.tensor(X),), (lib.tensor(V),), has_aux=True
        )

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert len(got) == 3


def test_jvp_of_output_that_does_not_depend_on_the_input(torch):
    def run(lib, F):
        return F.jvp(
            lambda x, y: (lib.ones(2, dtype=lib.float64), y * 2),
            (lib.tensor(X), lib.tensor(V)),
            (lib.tensor(V), lib.tensor(X)),
        )

    assert_close(*run_both(torch, run))


def test_jvp_through_integer_ops_and_detach(torch):
    def run(lib, F):
        return F.jvp(lambda x: x.detach() * x + x.round(), (lib.tensor(X),), (lib.tensor(V),))

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
def test_jacfwd_argnums_and_pytree_output(torch, argnums):
    def run(lib, F):
        def f(a, b):
            return (a[:, None] * b).sum(0), {"n": (a * a).sum()}

        return F.jacfwd(f, argnums)(lib.tensor(X), lib.tensor(Y.T.copy()))

    assert_close(*run_both(torch, run))


def test_jacfwd_of_dict_input_with_aux(torch):
    def run(lib, F):
        return F.jacfwd(lambda p: (p["w"].tanh(), p["w"].sum()), has_aux=True)({"w": lib.tensor(X)})

    assert_close(*run_both(torch, run))


def test_jacfwd_of_scalar_input_and_output(torch):
    got, expected = run_both(torch, lambda lib, F: F.jacfwd(lambda x: x.exp())(lib.tensor(0.5)))
    assert_close(got, expected)


def test_jvp_is_differentiable_in_the_tangent_and_the_primal(torch):
    def run(lib, F):
        x = lib.tensor(X, requires_grad=True)
        v = lib.tensor(V, requires_grad=True)
        _, t = F.jvp(lambda x: x.sin() * x, (x,), (v,))
        return lib.autograd.grad((t * t).sum(), (x, v))

    assert_close(*run_both(torch, run))


def test_jacfwd_randomness(torch):
    def noisy(lib):
        return lambda x: x * lib.rand(4, dtype=lib.float64)

    for lib, F in ((ember, ember.func), (torch, torch.func)):
        with pytest.raises(RuntimeError, match="randomness error mode"):
            F.jacfwd(noisy(lib))(lib.tensor(X))
    state = ember.get_rng_state()
    jac = ember.func.jacfwd(noisy(ember), randomness="same")(ember.tensor(X))
    ember.set_rng_state(state)
    expected = ember.diag(ember.rand(4, dtype=ember.float64))
    assert_close(jac, torch.tensor(expected.numpy()))


ERRORS = {
    "primals_not_tuple": lambda lib, F: F.jvp(lambda x: x, lib.ones(3), lib.ones(3)),
    "primals_list": lambda lib, F: F.jvp(lambda x: x, [lib.ones(3)], [lib.ones(3)]),
    "structure": lambda lib, F: F.jvp(lambda x: x, (lib.ones(3),), (lib.ones(3), lib.ones(3))),
    "nested_structure": lambda lib, F: F.jvp(
        lambda x: x, ((lib.ones(3), lib.ones(3)),), ([lib.ones(3), lib.ones(3)],)
    ),
    "tangent_shape": lambda lib, F: F.jvp(lambda x: x, (lib.ones(3),), (lib.ones(2),)),
    "empty": lambda lib, F: F.jvp(lambda: lib.ones(3), (), ()),
    "not_tensor": lambda lib, F: F.jvp(lambda x: x, (1.0,), (1.0,)),
    "output_not_tensor": lambda lib, F: F.jvp(lambda x: 3, (lib.ones(3),), (lib.ones(3),)),
    "aux_not_pair": lambda lib, F: F.jvp(lambda x: x, (lib.ones(3),), (lib.ones(3),), has_aux=True),
    "jacfwd_int": lambda lib, F: F.jacfwd(lambda x: x)(lib.arange(3)),
    "jacfwd_argnum": lambda lib, F: F.jacfwd(lambda x: x, argnums=2)(lib.ones(3)),
    "jacfwd_output": lambda lib, F: F.jacfwd(lambda x: 3)(lib.ones(3)),
    "jacfwd_aux": lambda lib, F: F.jacfwd(lambda x: x, has_aux=True)(lib.ones(3)),
    "jacfwd_randomness": lambda lib, F: F.jacfwd(lambda x: x, randomness="foo")(lib.ones(3)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_torch(torch, case):
    assert_same_error(torch, ERRORS[case])

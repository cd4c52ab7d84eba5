"""ember.func.grad, grad_and_value and vjp against torch.func."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, assert_same_error, run_both

RNG = np.random.default_rng(0)
X = RNG.standard_normal(4)
Y = RNG.standard_normal(4)
W = RNG.standard_normal((4, 3))
M = RNG.standard_normal((2, 4))


def poly(lib, x):
    return (x**3 - 2 * x**2 + 3 * x - 1).sum()


def exp_log_tanh(lib, x):
    return (x.exp() * (x * x + 1).log() + x.tanh()).sum()


def matmul(lib, x):
    return (x @ lib.tensor(W)).tanh().pow(2).sum()


def softmax_mix(lib, x):
    return (lib.softmax(x, dim=0) * x.sin()).sum() + x.abs().mean()


SCALAR_FUNCTIONS = [poly, exp_log_tanh, matmul, softmax_mix]


@pytest.mark.parametrize("fn", SCALAR_FUNCTIONS)
def test_grad_matches_torch(torch, fn):
    got, expected = run_both(torch, lambda lib, F: F.grad(lambda x: fn(lib, x))(lib.tensor(X)))
    assert_close(got, expected)
    assert not got.requires_grad


@pytest.mark.parametrize("fn", SCALAR_FUNCTIONS)
def test_grad_and_value_matches_torch(torch, fn):
    got, expected = run_both(
        torch, lambda lib, F: F.grad_and_value(lambda x: fn(lib, x))(lib.tensor(X))
    )
    assert_close(got, expected)
    assert not got[1].requires_grad


@pytest.mark.parametrize("fn", SCALAR_FUNCTIONS)
def test_second_derivative_by_grad_of_grad(torch, fn):
    def run(lib, F):
        x = lib.tensor(X)
        return F.grad(lambda x: F.grad(lambda x: fn(lib, x))(x).sum())(x)

    assert_close(*run_both(torch, run))


def test_grad_of_grad_of_grad_of_a_cubic():
    g3 = ember.func.grad(ember.func.grad(ember.func.grad(lambda x: x**3)))
    assert g3(ember.tensor(2.0)).item() == 6.0


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1, (-2,)])
def test_argnums(torch, argnums):
    def run(lib, F):
        x, y = lib.tensor(X), lib.tensor(Y)
        return F.grad(lambda a, b: (a.sin() * b.exp() + a * a * b).sum(), argnums)(x, y)

    assert_close(*run_both(torch, run))


def test_grad_of_pytree_inputs(torch):
    def run(lib, F):
        params = {"w": lib.tensor(W), "b": (lib.tensor(Y[:3]), [lib.tensor(2.0)])}

        def loss(p, x):
            return ((x @ p["w"] + p["b"][0]).tanh() * p["b"][1][0]).sum()

        return F.grad(loss)(params, lib.tensor(X))

    got, expected = run_both(torch, run)
    assert_close(got, expected)


def test_same_tensor_at_two_argnums_is_two_variables(torch):
    def run(lib, F):
        x = lib.tensor(X)
        return F.grad(lambda a, b: (a * b.exp()).sum(), argnums=(0, 1))(x, x)

    assert_close(*run_both(torch, run))


def test_has_aux(torch):
    def run(lib, F):
        def f(x):
            y = x.sin()
            return y.sum(), {"y": y, "pair": (x.cos(), y * 2)}

        return F.grad(f, has_aux=True)(lib.tensor(X)), F.grad_and_value(f, has_aux=True)(
            lib.tensor(X)
        )

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert not got[0][1]["y"].requires_grad


def test_unused_input_gets_zeros(torch):
    def run(lib, F):
        return F.grad(lambda a, b: (b * 2).sum(), argnums=(0, 1))(lib.tensor(X), lib.tensor(Y))

    assert_close(*run_both(torch, run))


def test_output_without_graph_gets_zeros(torch):
    def run(lib, F):
        return F.grad(lambda x: lib.tensor(3.0) + 0 * x.detach().sum())(lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_inputs_that_require_grad_keep_the_outer_graph(torch):
    def run(lib, F):
        x = lib.tensor(X, requires_grad=True)
        g, value = F.grad_and_value(lambda x: (x**3).sum())(x)
        assert g.requires_grad and value.requires_grad
        (g * lib.tensor(Y)).sum().backward()
        return g, value, x.grad

    assert_close(*run_both(torch, run))


def test_captured_outer_tensor_keeps_its_graph(torch):
    def run(lib, F):
        w = lib.tensor(Y, requires_grad=True)
        g = F.grad(lambda x: (x * x * w).sum())(lib.tensor(X))
        assert g.requires_grad
        return lib.autograd.grad(g.sum(), w)

    assert_close(*run_both(torch, run))


def test_result_needing_only_local_graph_is_detached(torch):
    def run(lib, F):
        w = lib.tensor(Y, requires_grad=True)
        g = F.grad(lambda x: (x * x).sum() + w.sum())(lib.tensor(X))
        return g.requires_grad

    got, expected = run_both(torch, run)
    assert got is expected is False


def test_outer_no_grad_does_not_reach_inside(torch):
    def run(lib, F):
        x = lib.tensor(X, requires_grad=True)
        with lib.no_grad():
            g = F.grad(F.grad(lambda x: (x**4).sum() * 1.0, argnums=0))(lib.tensor(2.0))
            h = F.grad(lambda x: (x**3).sum())(x)
        return g, h, h.requires_grad

    got, expected = run_both(torch, run)
    assert_close(got, expected)


def test_inner_no_grad_is_obeyed(torch):
    def run(lib, F):
        def f(x):
            with lib.no_grad():
                c = x * 2
            return (c * x).sum()

        return F.grad(f)(lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_kwargs_are_passed_and_not_differentiated(torch):
    def run(lib, F):
        return F.grad(lambda x, scale=1.0: (x * x).sum() * scale)(lib.tensor(X), scale=3.0)

    assert_close(*run_both(torch, run))


# --- vjp ---


def test_vjp_matches_torch(torch):
    def run(lib, F):
        x, y = lib.tensor(X), lib.tensor(M)
        out, vjp_fn = F.vjp(lambda a, b: (b @ a.exp(), a * a), x, y)
        ct = (lib.tensor(Y[:2]), lib.tensor(X[::-1].copy()))
        return out, vjp_fn(ct), vjp_fn(ct)  # callable twice

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert not got[0][0].requires_grad


def test_vjp_with_pytree_primals_and_aux(torch):
    def run(lib, F):
        p = {"a": lib.tensor(X), "b": [lib.tensor(Y)]}
        out, vjp_fn, aux = F.vjp(
            lambda p: ((p["a"] * p["b"][0]).tanh(), p["a"].sum()), p, has_aux=True
        )
        return out, vjp_fn(lib.tensor(M[0])), aux

    assert_close(*run_both(torch, run))


def test_vjp_of_unused_primal_is_zero(torch):
    def run(lib, F):
        _, vjp_fn = F.vjp(lambda a, b: b.sin(), lib.tensor(X), lib.tensor(Y))
        return vjp_fn(lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_vjp_fn_is_differentiable_in_the_cotangent(torch):
    def run(lib, F):
        _, vjp_fn = F.vjp(lambda a: a.exp() * a, lib.tensor(X))
        u = lib.zeros(4, dtype=lib.float64, requires_grad=True)
        (g,) = vjp_fn(u)
        return lib.autograd.grad(g, u, lib.tensor(Y))  # = J @ Y (the jvp)

    assert_close(*run_both(torch, run))


def test_vjp_no_primals(torch):
    def run(lib, F):
        out, vjp_fn = F.vjp(lambda: lib.ones(2, dtype=lib.float64))
        return out, vjp_fn(lib.ones(2, dtype=lib.float64))

    assert_close(*run_both(torch, run))


# --- errors, as PyTorch words them ---

ERRORS = {
    "not_scalar": lambda lib, F: F.grad(lambda x: x * 2)(lib.ones(3)),
    "not_tensor": lambda lib, F: F.grad(lambda x: 3.0)(lib.ones(3)),
    "tuple_output": lambda lib, F: F.grad(lambda x: (x.sum(), x))(lib.ones(3)),
    "aux_not_pair": lambda lib, F: F.grad(lambda x: x.sum(), has_aux=True)(lib.ones(3)),
    "aux_list": lambda lib, F: F.grad(lambda x: [x.sum(), x], has_aux=True)(lib.ones(3)),
    "aux_not_tensor": lambda lib, F: F.grad(lambda x: (x.sum(), 1), has_aux=True)(lib.ones(3)),
    "argnum_range": lambda lib, F: F.grad(lambda x: x.sum(), argnums=1)(lib.ones(3)),
    "argnum_float": lambda lib, F: F.grad(lambda x: x.sum(), argnums=1.0)(lib.ones(3)),
    "argnum_list": lambda lib, F: F.grad(lambda x: x.sum(), argnums=[0])(lib.ones(3)),
    "argnum_empty": lambda lib, F: F.grad(lambda x: x.sum(), argnums=())(lib.ones(3)),
    "argnum_dup": lambda lib, F: F.grad(lambda x, y: x.sum(), argnums=(0, 0))(
        lib.ones(3), lib.ones(3)
    ),
    "argnum_dup_negative": lambda lib, F: F.grad(lambda x, y: x.sum(), argnums=(0, -2))(
        lib.ones(3), lib.ones(3)
    ),
    "argnum_tuple_float": lambda lib, F: F.grad(lambda x, y: x.sum(), argnums=(0, 1.0))(
        lib.ones(3), lib.ones(3)
    ),
    "no_args": lambda lib, F: F.grad(lambda: lib.ones(()))(),
    "int_input": lambda lib, F: F.grad(lambda x: x.sum())(lib.arange(3)),
    "float_input": lambda lib, F: F.grad(lambda x: x)(3.0),
    "vjp_not_tensor": lambda lib, F: F.vjp(lambda x: 3, lib.ones(3)),
    "vjp_aux": lambda lib, F: F.vjp(lambda x: x, lib.ones(3), has_aux=True),
    "vjp_primal": lambda lib, F: F.vjp(lambda x: x, 3.0),
    "vjp_structure": lambda lib, F: F.vjp(lambda x: (x, x), lib.ones(3))[1](
        [lib.ones(3), lib.ones(3)]
    ),
    "vjp_structure_single": lambda lib, F: F.vjp(lambda x: x, lib.ones(3))[1]((lib.ones(3),)),
    "vjp_int_output": lambda lib, F: F.vjp(lambda x: x.long(), lib.ones(3))[1](lib.ones(3)),
    "vjp_cotangent_type": lambda lib, F: F.vjp(lambda x: x, lib.ones(3))[1](3.0),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_torch(torch, case):
    assert_same_error(torch, ERRORS[case])


def test_vjp_cotangent_shape_error():
    _, vjp_fn = ember.func.vjp(lambda x: x * 2, ember.ones(3))
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape"):
        vjp_fn(ember.ones(2))


def test_grad_keeps_the_function_name():
    def loss(x):
        return x.sum()

    assert ember.func.grad(loss).__name__ == "loss"

"""Nested and composed transforms: per-sample gradients, Hessian-vector products, closures
over an outer transform's variables; against torch.func and against plain loops."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, run_both

RNG = np.random.default_rng(6)
BATCH = RNG.standard_normal((6, 3))
TARGET = RNG.standard_normal((6, 2))
X = RNG.standard_normal(3)
V = RNG.standard_normal(3)


def model_and_params(lib):
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()
    rng = np.random.default_rng(7)
    params = {
        name: lib.tensor(rng.standard_normal(tuple(p.shape)))
        for name, p in model.named_parameters()
    }
    return model, params


def per_sample_loss(lib, F, model):
    def loss(params, x, t):
        out = F.functional_call(model, params, (x.unsqueeze(0),))
        return ((out.squeeze(0) - t) ** 2).sum()

    return loss


def test_per_sample_gradients_of_a_linear_model(torch):
    def run(lib, F):
        w = lib.tensor(RNG.standard_normal((3, 2)) if lib is None else np.ones((3, 2)) * 0.3)
        params = {"w": w, "b": lib.tensor(np.array([0.1, -0.2]))}

        def loss(p, x):
            return ((x @ p["w"] + p["b"]).tanh() ** 2).sum()

        return F.vmap(F.grad(loss), in_dims=(None, 0))(params, lib.tensor(BATCH))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    assert got["w"].shape == (6, 3, 2)
    assert not got["w"].requires_grad
    # the same as a Python loop over the samples
    params = {"w": ember.tensor(np.ones((3, 2)) * 0.3), "b": ember.tensor(np.array([0.1, -0.2]))}
    for i in range(6):
        w = params["w"].detach().requires_grad_()
        b = params["b"].detach().requires_grad_()
        ((ember.tensor(BATCH[i]) @ w + b).tanh() ** 2).sum().backward()
        np.testing.assert_allclose(got["w"][i].numpy(), w.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(got["b"][i].numpy(), b.grad.numpy(), rtol=1e-12)


def test_per_sample_gradients_of_an_mlp_via_functional_call(torch):
    def run(lib, F):
        model, params = model_and_params(lib)
        loss = per_sample_loss(lib, F, model)
        return F.vmap(F.grad(loss), in_dims=(None, 0, 0))(
            params, lib.tensor(BATCH), lib.tensor(TARGET)
        )

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    model, params = model_and_params(ember)
    for i in range(6):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        ember.func.functional_call(model, leaves, (ember.tensor(BATCH[i : i + 1]),))
        out = ember.func.functional_call(model, leaves, (ember.tensor(BATCH[i : i + 1]),))
        ((out.squeeze(0) - ember.tensor(TARGET[i])) ** 2).sum().backward()
        for name, leaf in leaves.items():
            np.testing.assert_allclose(got[name][i].numpy(), leaf.grad.numpy(), rtol=1e-12)


def test_ensemble_of_models_by_vmap_over_stacked_parameters(torch):
    def run(lib, F):
        model, params = model_and_params(lib)
        stacked = {k: lib.stack([v, v * 0.5, -v]) for k, v in params.items()}
        return F.vmap(lambda p, x: F.functional_call(model, p, (x,)), in_dims=(0, None))(
            stacked, lib.tensor(BATCH)
        )

    assert_close(*run_both(torch, run))


def test_grad_of_vmap(torch):
    def run(lib, F):
        w = lib.tensor(V)
        return F.grad(lambda w: F.vmap(lambda x: (x * w).sin().sum())(lib.tensor(BATCH)).sum())(w)

    assert_close(*run_both(torch, run))


def test_vmap_of_vmap_of_grad(torch):
    def run(lib, F):
        g = F.grad(lambda a, b: (a.exp() * b).sum())
        return F.vmap(F.vmap(g, in_dims=(0, None)), in_dims=(None, 0))(
            lib.tensor(BATCH), lib.tensor(BATCH[:2].copy())
        )

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd", "hessian"])
def test_vmap_of_jacobians(torch, jac):
    def run(lib, F):
        return F.vmap(getattr(F, jac)(lambda x: (x.sin() * x.sum()).sum()))(lib.tensor(BATCH))

    assert_close(*run_both(torch, run))


def test_hessian_vector_product_by_jvp_of_grad(torch):
    def run(lib, F):
        f = lambda x: (x.tanh() * x.exp()).sum()  # noqa: E731
        return F.jvp(F.grad(f), (lib.tensor(X),), (lib.tensor(V),))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    hess = ember.func.hessian(lambda x: (x.tanh() * x.exp()).sum())(ember.tensor(X))
    np.testing.assert_allclose(got[1].numpy(), (hess @ ember.tensor(V)).numpy(), rtol=1e-12)


def test_vjp_of_grad_and_grad_of_jvp(torch):
    def run(lib, F):
        f = lambda x: (x**3 * x.sin()).sum()  # noqa: E731
        _, vjp_fn = F.vjp(F.grad(f), lib.tensor(X))
        hvp = vjp_fn(lib.tensor(V))
        g = F.grad(lambda x: F.jvp(f, (x,), (lib.tensor(V),))[1])(lib.tensor(X))
        return hvp, g

    assert_close(*run_both(torch, run))


def test_inner_transform_over_a_captured_outer_variable(torch):
    def run(lib, F):
        y0 = lib.tensor(V)

        def outer(x):
            inner = F.grad(lambda y: (x * y**2).sum())(y0)  # = 2 x y0, depends on x
            return (inner * x).sum()  # = 2 y0 . x^2

        return F.grad(outer)(lib.tensor(X)), F.jacrev(F.jacfwd(outer))(lib.tensor(X))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    np.testing.assert_allclose(got[0].numpy(), 4 * V * X, rtol=1e-12)


def test_grad_of_grad_with_argnums_tuple_and_closure(torch):
    def run(lib, F):
        def f(a, b):
            return (a.sin() * b.cos()).sum() * (a * b).sum()

        def g(a, b):
            ga, gb = F.grad(f, argnums=(0, 1))(a, b)
            return (ga * gb).sum()

        return F.grad(g, argnums=(0, 1))(lib.tensor(X), lib.tensor(V))

    assert_close(*run_both(torch, run))


def test_transforms_compose_with_ordinary_autograd(torch):
    def run(lib, F):
        x = lib.tensor(X, requires_grad=True)
        h = F.hessian(lambda x: (x.exp() * x.sin()).sum())(x)
        (third,) = lib.autograd.grad(h.sum(), x)
        return h, third

    assert_close(*run_both(torch, run))


def test_vmap_of_linearize_and_jvp(torch):
    def run(lib, F):
        def column(v):
            return F.jvp(lambda x: x.sin() * x.sum(), (lib.tensor(X),), (v,))[1]

        return F.vmap(column)(lib.eye(3, dtype=lib.float64))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    jac = ember.func.jacfwd(lambda x: x.sin() * x.sum())(ember.tensor(X))
    np.testing.assert_allclose(got.numpy(), jac.numpy().T, rtol=1e-12)


def test_namedtuple_inputs_and_outputs(torch):
    def run(lib, F):
        from collections import namedtuple

        Pair = namedtuple("Pair", "a b")

        def f(p):
            return Pair(p.a * p.b, (p.a.exp() * p.b).sum())

        p = Pair(lib.tensor(X), lib.tensor(V))
        jac = F.jacrev(f)(p)
        return (
            tuple(jac),
            tuple(tuple(block) for block in jac),
            F.vmap(f)(Pair(*(lib.tensor(BATCH),) * 2)),
        )

    got, expected = run_both(torch, run)
    assert_close(got, expected)


def test_transforms_leave_no_graph_behind_under_no_grad(torch):
    def run(lib, F):
        x = lib.tensor(X, requires_grad=True)
        with lib.no_grad():
            out, vjp_fn = F.vjp(lambda x: x.sin(), x)
            (g,) = vjp_fn(lib.tensor(V))
            j = F.jacfwd(F.jacrev(lambda x: (x**3).sum()))(x)
        return out, g, j, [t.requires_grad for t in (out, g, j)]

    got, expected = run_both(torch, run)
    assert_close(got, expected)

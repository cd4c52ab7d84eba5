"""ember.func.vmap (a loop over the batch) against torch.func.vmap."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, assert_same_error, run_both

RNG = np.random.default_rng(3)
B = RNG.standard_normal((5, 3))
C = RNG.standard_normal((3, 5))
W = RNG.standard_normal((3, 2))
V = RNG.standard_normal(3)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x.sum(),
        lambda lib, x: (x**3 - x).exp().log1p(),
        lambda lib, x: (x @ lib.tensor(W)).tanh(),
        lambda lib, x: lib.outer(x, x),
        lambda lib, x: lib.ones(4, dtype=lib.float64),
    ],
    ids=["sum", "elementwise", "matmul", "outer", "unbatched_output"],
)
def test_vmap_matches_torch(torch, fn):
    got, expected = run_both(torch, lambda lib, F: F.vmap(lambda x: fn(lib, x))(lib.tensor(B)))
    assert_close(got, expected)


@pytest.mark.parametrize(
    "in_dims", [0, (0, None), (1, 0), (-1, None), (None, 0)], ids=lambda d: repr(d)
)
def test_in_dims(torch, in_dims):
    def run(lib, F):
        args = {0: (B, B), (0, None): (B, V), (1, 0): (C, B), (-1, None): (C, V)}
        args[(None, 0)] = (V, B)
        a, b = (lib.tensor(x) for x in args[in_dims])
        return F.vmap(lambda x, y: x * y.sin() + y.sum(), in_dims=in_dims)(a, b)

    assert_close(*run_both(torch, run))


@pytest.mark.parametrize(
    "out_dims",
    [0, 1, -1, (1, 0), [0, None], {"a": 1, "b": 0}],
    ids=lambda d: repr(d),
)
def test_out_dims(torch, out_dims):
    def run(lib, F):
        w = lib.tensor(V)
        if isinstance(out_dims, dict):
            return F.vmap(lambda x: {"a": lib.outer(x, x), "b": x.sum()}, out_dims=out_dims)(
                lib.tensor(B)
            )
        if isinstance(out_dims, list):
            return F.vmap(lambda x: [x * 2, w], out_dims=out_dims)(lib.tensor(B))
        if isinstance(out_dims, tuple):
            return F.vmap(lambda x: (lib.outer(x, w), x.sum()), out_dims=out_dims)(lib.tensor(B))
        return F.vmap(lambda x: lib.outer(x, w), out_dims=out_dims)(lib.tensor(B))

    assert_close(*run_both(torch, run))


def test_pytree_inputs_with_nested_in_dims(torch):
    def run(lib, F):
        def f(p, xs):
            return p["w"] @ xs[0] + p["b"] * xs[1]

        params = {"w": lib.tensor(W.T.copy()), "b": lib.tensor(B[:, :2].copy())}
        xs = [lib.tensor(B), lib.tensor(2.0)]
        return F.vmap(f, in_dims=({"w": None, "b": 0}, [0, None]))(params, xs)

    assert_close(*run_both(torch, run))


def test_non_tensor_arguments_and_kwargs(torch):
    def run(lib, F):
        return F.vmap(lambda x, n, scale=1.0: x * n * scale, in_dims=(0, None))(
            lib.tensor(B), 3, scale=lib.tensor(V)
        )

    assert_close(*run_both(torch, run))


def test_non_tensor_output_with_out_dims_none(torch):
    got, expected = run_both(
        torch, lambda lib, F: F.vmap(lambda x: (x * 2, 3), out_dims=(0, None))(lib.tensor(B))
    )
    assert_close(got, expected)


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 5, 7])
def test_chunk_size_gives_the_same_result(torch, chunk_size):
    def run(lib, F):
        return F.vmap(lambda x: x.exp() @ lib.tensor(W), chunk_size=chunk_size)(lib.tensor(B))

    assert_close(*run_both(torch, run))


def test_empty_batch(torch):
    def run(lib, F):
        x = lib.zeros(0, 3, dtype=lib.float64)
        return F.vmap(lambda x: (x.sum(), lib.outer(x, x)), out_dims=(0, 1))(x)

    assert_close(*run_both(torch, run))


def test_vmap_of_vmap(torch):
    def run(lib, F):
        x, y = lib.tensor(B), lib.tensor(C)
        inner = F.vmap(lambda a, b: a * b, in_dims=(None, 0))
        return F.vmap(inner, in_dims=(0, 1), out_dims=1)(x, y)

    assert_close(*run_both(torch, run))


def test_gradients_flow_through_vmap(torch):
    def run(lib, F):
        x = lib.tensor(B, requires_grad=True)
        w = lib.tensor(W, requires_grad=True)
        out = F.vmap(lambda r: (r @ w).tanh().sum())(x)
        return lib.autograd.grad((out * out).sum(), (x, w))

    assert_close(*run_both(torch, run))


def test_randomness():
    x = ember.tensor(B)
    noisy = lambda r: r * 0 + ember.rand(3, dtype=ember.float64)  # noqa: E731
    state = ember.get_rng_state()
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ember.func.vmap(noisy)(x)
    assert ember.get_rng_state() == state  # the failed call took nothing from the stream
    same = ember.func.vmap(noisy, randomness="same")(x)
    assert all(ember.equal(row, same[0]) for row in same)
    ember.set_rng_state(state)
    assert ember.equal(same[0], ember.rand(3, dtype=ember.float64))
    different = ember.func.vmap(noisy, randomness="different")(x)
    assert len({tuple(row.tolist()) for row in different}) == 5
    assert ember.func.vmap(lambda r: r * 2)(x).shape == (5, 3)  # no draw, no error


def test_dropout_in_training_mode_is_random():
    layer = ember.nn.Dropout(0.5)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ember.func.vmap(layer)(ember.ones(4, 6))
    layer.eval()
    assert ember.equal(ember.func.vmap(layer)(ember.ones(4, 6)), ember.ones(4, 6))


ERRORS = {
    "sizes": lambda lib, F: F.vmap(lambda a, b: a + b)(lib.ones(2, 3), lib.ones(3, 3)),
    "non_tensor": lambda lib, F: F.vmap(lambda a, b: a)(lib.ones(2, 3), 3.0),
    "none_input": lambda lib, F: F.vmap(lambda a, b: a)(lib.ones(2, 3), None),
    "in_dim_range": lambda lib, F: F.vmap(lambda a: a, in_dims=2)(lib.ones(2, 3)),
    "zero_dim": lambda lib, F: F.vmap(lambda a: a)(lib.ones(())),
    "in_dims_length": lambda lib, F: F.vmap(lambda a: a, in_dims=(0, 0))(lib.ones(2, 3)),
    "in_dims_list": lambda lib, F: F.vmap(lambda a: a, in_dims=[0])(lib.ones(2, 3)),
    "in_dims_float": lambda lib, F: F.vmap(lambda a: a, in_dims=0.5)(lib.ones(2, 3)),
    "in_dim_float": lambda lib, F: F.vmap(lambda a: a, in_dims=(0.5,))(lib.ones(2, 3)),
    "in_dims_none": lambda lib, F: F.vmap(lambda a: a, in_dims=None)(lib.ones(2, 3)),
    "nothing_batched": lambda lib, F: F.vmap(lambda a: a, in_dims=(None,))(lib.ones(2, 3)),
    "no_inputs": lambda lib, F: F.vmap(lambda: lib.ones(2))(),
    "dict_in_dims": lambda lib, F: F.vmap(lambda d: d["a"], in_dims=({"a": 0},))(
        {"a": lib.ones(2, 3), "b": lib.ones(3)}
    ),
    "returns_int": lambda lib, F: F.vmap(lambda a: 3)(lib.ones(2, 3)),
    "returns_none": lambda lib, F: F.vmap(lambda a: (a, None))(lib.ones(2, 3)),
    "batched_out_dim_none": lambda lib, F: F.vmap(lambda a: a, out_dims=None)(
        lib.arange(6.0).reshape(2, 3)
    ),
    "out_dim_range": lambda lib, F: F.vmap(lambda a: a, out_dims=2)(lib.ones(2, 3)),
    "out_dims_structure": lambda lib, F: F.vmap(lambda a: a, out_dims=(0, 1))(lib.ones(2, 3)),
    "out_dims_list": lambda lib, F: F.vmap(lambda a: a, out_dims=[1])(lib.ones(2, 3)),
    "out_dims_float": lambda lib, F: F.vmap(lambda a: a, out_dims=0.5)(lib.ones(2, 3)),
    "out_dim_float": lambda lib, F: F.vmap(lambda a: (a, a), out_dims=(1, 0.5))(lib.ones(2, 3)),
    "randomness_flag": lambda lib, F: F.vmap(lambda a: a, randomness="x"),
    "chunk_size": lambda lib, F: F.vmap(lambda a: a, chunk_size=0),
    "chunk_size_negative": lambda lib, F: F.vmap(lambda a: a, chunk_size=-1),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_torch(torch, case):
    assert_same_error(torch, ERRORS[case])


def test_named_function_in_messages():
    def scale(a):
        return 2

    with pytest.raises(ValueError, match=r"vmap\(scale, \.\.\.\): `scale` must only return"):
        ember.func.vmap(scale)(ember.ones(2))


# --- batched execution: one call on the whole batch ---
def _mlp_loss(params, x, y):
    h = ember.tanh(x @ params["w1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    return -(out.log_softmax(0) * y).sum()


def _mlp(seed=0, batch=8):
    rng = np.random.default_rng(seed)
    params = {
        "w1": ember.tensor(rng.standard_normal((5, 7))),
        "b1": ember.tensor(rng.standard_normal(7)),
        "w2": ember.tensor(rng.standard_normal((7, 3))),
        "b2": ember.tensor(rng.standard_normal(3)),
    }
    x = ember.tensor(rng.standard_normal((batch, 5)))
    y = ember.tensor(np.eye(3)[rng.integers(0, 3, batch)])  # one-hot targets
    return params, x, y


def _no_fallback(call):
    from ember.func import _batching

    before = dict(_batching.fallback_counts)
    result = call()
    used = {k for k, v in _batching.fallback_counts.items() if v != before.get(k, 0)}
    assert not used, f"fell back: {used}"
    return result


def test_per_sample_gradients_run_batched_and_equal_a_loop():
    params, x, y = _mlp()
    got = _no_fallback(
        lambda: ember.func.vmap(ember.func.grad(_mlp_loss), in_dims=(None, 0, 0))(params, x, y)
    )
    for i in range(x.shape[0]):
        expected = ember.func.grad(_mlp_loss)(params, x[i], y[i])
        for key in params:
            np.testing.assert_allclose(got[key][i].numpy(), expected[key].numpy(), rtol=1e-12)


def test_per_sample_gradients_match_torch(torch):
    params, x, y = _mlp(seed=1)
    got = ember.func.vmap(ember.func.grad(_mlp_loss), in_dims=(None, 0, 0))(params, x, y)

    def torch_loss(p, xi, yi):
        h = torch.tanh(xi @ p["w1"] + p["b1"])
        out = h @ p["w2"] + p["b2"]
        return -(out.log_softmax(0) * yi).sum()

    tp = {k: torch.tensor(v.numpy()) for k, v in params.items()}
    expected = torch.func.vmap(torch.func.grad(torch_loss), in_dims=(None, 0, 0))(
        tp, torch.tensor(x.numpy()), torch.tensor(y.numpy())
    )
    assert_close(got, expected)


def test_gradient_of_vmap_runs_batched():
    x = ember.tensor(B, requires_grad=True)
    out = _no_fallback(lambda: ember.func.vmap(lambda r: (r.sin() * r).sum())(x))
    (grad,) = ember.autograd.grad(out.sum(), x)
    np.testing.assert_allclose(grad.numpy(), np.sin(B) + B * np.cos(B), rtol=1e-12)


def test_nested_vmap_and_chunks_run_batched(torch):
    def run(lib, F):
        inner = F.vmap(lambda a, b: (a * b).softmax(0), in_dims=(None, 0))
        return F.vmap(inner, in_dims=(0, 1), out_dims=1, chunk_size=2)(lib.tensor(B), lib.tensor(C))

    got = _no_fallback(lambda: run(ember, ember.func))
    assert_close(got, run(torch, torch.func))


@pytest.fixture
def fresh_warnings():
    """Fallback warnings come once per process; these tests want to see them."""
    from ember.func import _batching

    _batching._warned.clear()


def test_a_call_without_a_rule_loops_and_warns_with_its_name(fresh_warnings):
    x = ember.tensor(B)
    with pytest.warns(UserWarning, match=r"batching rule for numpy\.searchsorted"):
        got = ember.func.vmap(lambda r: ember.searchsorted(r.sort().values, r))(x)
    expected = ember.stack([ember.searchsorted(r.sort().values, r) for r in x])
    assert ember.equal(got, expected)


def test_writing_a_batch_into_an_unbatched_buffer_loops(fresh_warnings):
    x = ember.tensor(B[:, :3])
    index = ember.tensor([0, 0, 2])
    with pytest.warns(UserWarning, match="once per sample"):
        got = ember.func.vmap(lambda r: ember.zeros(3, dtype=r.dtype).index_add(0, index, r))(x)
    expected = ember.stack([ember.zeros(3, dtype=x.dtype).index_add(0, index, r) for r in x])
    assert ember.allclose(got, expected)


def test_data_dependent_control_flow_runs_per_sample(fresh_warnings):
    x = ember.tensor(B)
    with pytest.warns(UserWarning, match="once per sample"):
        got = ember.func.vmap(lambda r: r * 2 if r.sum() > 0 else -r)(x)
    expected = ember.stack([r * 2 if r.sum() > 0 else -r for r in x])
    assert ember.equal(got, expected)


def test_captured_tensor_requiring_grad_gets_the_summed_gradient(fresh_warnings):
    w = ember.tensor(W, requires_grad=True)
    x = ember.tensor(B)
    with pytest.warns(UserWarning, match="captured tensor that requires grad"):
        out = ember.func.vmap(lambda r: (r @ w).tanh().sum())(x)
    out.sum().backward()
    expected = (1 - np.tanh(B @ W) ** 2).T @ B
    np.testing.assert_allclose(w.grad.numpy(), expected.T, rtol=1e-12)

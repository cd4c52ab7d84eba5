"""RNN, LSTM, GRU and their cells against torch: same weights, same inputs -> same everything."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

CLASSES = {
    "RNN": RNN,
    "LSTM": LSTM,
    "GRU": GRU,
    "RNNCell": RNNCell,
    "LSTMCell": LSTMCell,
    "GRUCell": GRUCell,
}
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-7, atol=1e-9)}


def pair(torch, name, args, kwargs, dtype="float32"):
    """The same layer in ember and torch, ember's weights copied into torch via numpy."""
    emod = CLASSES[name](*args, **kwargs).to(getattr(ember, dtype))
    tmod = getattr(torch.nn, name)(*args, **kwargs).to(getattr(torch, dtype))
    state = {k: torch.tensor(np.array(v.numpy())) for k, v in emod.state_dict().items()}
    tmod.load_state_dict(state)
    return emod, tmod


def leaves(torch, arrays, dtype):
    e = [ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=True) for a in arrays]
    t = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in arrays]
    return e, t


def close(actual, expected, dtype, what):
    a, e = actual.detach().numpy(), expected.detach().numpy()
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    np.testing.assert_allclose(a, e, err_msg=what, **TOL[dtype])


def flat_outputs(out):
    """(output, h_n) or (output, (h_n, c_n)) or a cell's h / (h, c), as a flat list."""
    if not isinstance(out, tuple):
        return [out]
    flat = []
    for o in out:
        flat.extend(o if isinstance(o, tuple) else (o,))
    return flat


def compare(torch, emod, tmod, inputs, dtype, rng, call=None):
    """Forward both on `inputs` (arrays; None passes through), backward random cotangents on
    every output; compare outputs and the gradients of every input and parameter."""
    call = call or (lambda mod, xs: mod(*xs))
    arrays = [a for a in inputs if a is not None and not isinstance(a, tuple)]
    e_leaves, t_leaves = leaves(torch, arrays, dtype)

    def assemble(tensors):
        it = iter(tensors)
        out = []
        for a in inputs:
            if a is None:
                out.append(None)
            elif isinstance(a, tuple):  # an (h0, c0) pair, given by index into `arrays`
                out.append(tuple(tensors[i] for i in a))
            else:
                out.append(next(it))
        return out

    e_out = flat_outputs(call(emod, assemble(e_leaves)))
    t_out = flat_outputs(call(tmod, assemble(t_leaves)))
    assert len(e_out) == len(t_out)
    for k, (e, t) in enumerate(zip(e_out, t_out)):
        close(e, t, dtype, f"output {k}")
        assert str(e.dtype).split(".")[1] == dtype
    cotangents = [rng.standard_normal(tuple(t.shape)) for t in t_out]
    e_loss = sum((e * ember.tensor(c, dtype=e.dtype)).sum() for e, c in zip(e_out, cotangents))
    t_loss = sum((t * torch.tensor(c, dtype=t.dtype)).sum() for t, c in zip(t_out, cotangents))
    e_loss.backward()
    t_loss.backward()
    for k, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        close(e.grad, t.grad, dtype, f"input {k} gradient")
    t_params = dict(tmod.named_parameters())
    for name, p in emod.named_parameters():
        close(p.grad, t_params[name].grad, dtype, f"{name} gradient")
        assert str(p.grad.dtype).split(".")[1] == dtype


SEQUENCE_CONFIGS = [
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"batch_first": True, "bias": False}),
    ("LSTM", {"num_layers": 2, "batch_first": True}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False, "bidirectional": True}),
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"bidirectional": True, "batch_first": True, "bias": False}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("name, kwargs", SEQUENCE_CONFIGS)
def test_sequence_layers_match_torch(torch, name, kwargs, with_state, dtype):
    rng = np.random.default_rng(1)
    steps, batch, features, hidden = 5, 3, 4, 6
    emod, tmod = pair(torch, name, (features, hidden), kwargs, dtype)
    batch_first = kwargs.get("batch_first", False)
    x = rng.standard_normal((batch, steps, features) if batch_first else (steps, batch, features))
    inputs = [x]
    if with_state:
        states = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        h0 = rng.standard_normal((states, batch, hidden))
        if name == "LSTM":
            c0 = rng.standard_normal((states, batch, hidden))
            inputs = [x, h0, c0]
            call = lambda mod, xs: mod(xs[0], (xs[1], xs[2]))  # noqa: E731
        else:
            inputs = [x, h0]
            call = None
    else:
        call = None
    compare(torch, emod, tmod, inputs, dtype, rng, call)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_unbatched_input(torch, name):
    rng = np.random.default_rng(2)
    emod, tmod = pair(torch, name, (3, 4), {"num_layers": 2, "bidirectional": True})
    x, h0 = rng.standard_normal((5, 3)), rng.standard_normal((4, 4))
    if name == "LSTM":
        c0 = rng.standard_normal((4, 4))
        compare(
            torch,
            emod,
            tmod,
            [x, h0, c0],
            "float32",
            rng,
            lambda mod, xs: mod(xs[0], (xs[1], xs[2])),
        )
    else:
        compare(torch, emod, tmod, [x, h0], "float32", rng)
    out, _ = emod(ember.tensor(x, dtype=ember.float32))
    assert out.shape == (5, 8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("LSTMCell", {}),
        ("LSTMCell", {"bias": False}),
        ("GRUCell", {}),
        ("GRUCell", {"bias": False}),
        ("RNNCell", {}),
        ("RNNCell", {"nonlinearity": "relu"}),
    ],
)
def test_cells_match_torch(torch, name, kwargs, dtype):
    rng = np.random.default_rng(3)
    emod, tmod = pair(torch, name, (4, 5), kwargs, dtype)
    x, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    compare(torch, emod, tmod, [x], dtype, rng)  # no state: zeros
    if name == "LSTMCell":
        c = rng.standard_normal((3, 5))
        compare(torch, emod, tmod, [x, h, c], dtype, rng, lambda m, xs: m(xs[0], (xs[1], xs[2])))
        compare(
            torch,
            emod,
            tmod,
            [x[0], h[0], c[0]],
            dtype,
            rng,
            lambda m, xs: m(xs[0], (xs[1], xs[2])),
        )  # unbatched
    else:
        compare(torch, emod, tmod, [x, h], dtype, rng)
        compare(torch, emod, tmod, [x[0], h[0]], dtype, rng)  # unbatched


def test_a_cell_unrolled_by_hand_matches_torch(torch):
    rng = np.random.default_rng(4)
    emod, tmod = pair(torch, "LSTMCell", (3, 4), {}, "float64")
    xs = rng.standard_normal((6, 2, 3))

    def unroll(mod, tensors):
        x = tensors[0]
        h, c = mod(x[0])
        outs = [h]
        for t in range(1, x.shape[0]):
            h, c = mod(x[t], (h, c))
            outs.append(h)
        return outs[-1], c

    compare(torch, emod, tmod, [xs], "float64", rng, unroll)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("LSTM", {"num_layers": 2, "bidirectional": True}),
        ("LSTM", {"proj_size": 0, "bias": False}),
        ("GRU", {"num_layers": 3}),
        ("RNN", {"nonlinearity": "relu", "bidirectional": True}),
        ("LSTMCell", {}),
        ("GRUCell", {"bias": False}),
        ("RNNCell", {"nonlinearity": "relu"}),
    ],
)
def test_parameters_state_dict_and_repr_match_torch(torch, name, kwargs):
    emod = CLASSES[name](3, 5, **kwargs)
    tmod = getattr(torch.nn, name)(3, 5, **kwargs)
    e_params = [(n, tuple(p.shape)) for n, p in emod.named_parameters()]
    t_params = [(n, tuple(p.shape)) for n, p in tmod.named_parameters()]
    assert e_params == t_params
    assert list(emod.state_dict()) == list(tmod.state_dict())
    assert repr(emod) == repr(tmod)
    if not name.endswith("Cell"):
        assert emod._flat_weights_names == tmod._flat_weights_names
        assert [[tuple(p.shape) for p in ws] for ws in emod.all_weights] == [
            [tuple(p.shape) for p in ws] for ws in tmod.all_weights
        ]


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(name):
    hidden = 64
    mod = CLASSES[name](32, hidden)
    bound = 1 / math.sqrt(hidden)
    values = np.concatenate([p.detach().numpy().ravel() for p in mod.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound
    assert abs(values.mean()) < 0.05 * bound
    np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.05)
    # every parameter is drawn, none left at zero
    assert all(np.abs(p.detach().numpy()).max() > bound / 2 for p in mod.parameters())


def _functional(mod, names):
    """The module's forward as a function of (input, *parameters) for gradcheck."""

    def fn(x, *params):
        saved = {n: mod._parameters[n] for n in names}
        try:
            for n, p in zip(names, params):
                mod._parameters[n] = p
            out = mod(x)
        finally:
            mod._parameters.update(saved)
        return flat_outputs(out)[0]

    return fn


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("LSTM", {"bidirectional": True}),
        ("GRU", {"num_layers": 2}),
        ("RNN", {"bidirectional": True}),
        ("LSTMCell", {}),
        ("GRUCell", {}),
    ],
)
def test_gradcheck_and_gradgradcheck_in_float64(name, kwargs):
    mod = CLASSES[name](2, 2, **kwargs).double()
    names = [n for n, _ in mod.named_parameters()]
    shape = (2, 2) if name.endswith("Cell") else (3, 2, 2)
    x = ember.randn(*shape, dtype=ember.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in mod.parameters()]
    fn = _functional(mod, names)
    assert gradcheck(fn, [x, *params])
    assert gradgradcheck(fn, [x, *params])


def test_double_backward_matches_torch(torch):
    """A gradient penalty: d/dparams of |d out / d x|^2 goes through the backward's backward."""
    rng = np.random.default_rng(5)
    emod, tmod = pair(torch, "LSTM", (3, 4), {"bidirectional": True}, "float64")
    x = rng.standard_normal((4, 2, 3))
    results = []
    for lib, mod in ((ember, emod), (torch, tmod)):
        xt = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        out, (h, c) = mod(xt)
        loss = (out * out).sum() + (c * h).sum()
        (g,) = lib.autograd.grad(loss, xt, create_graph=True)
        (g * g).sum().backward()
        results.append([xt.grad] + [p.grad for p in mod.parameters()])
    for e, t in zip(*results):
        close(e, t, "float64", "second-order gradient")


def test_dropout_between_layers():
    mod = LSTM(3, 4, num_layers=2, dropout=0.5)
    x = ember.randn(6, 2, 3)
    mod.eval()
    a, _ = mod(x)
    b, _ = mod(x)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())  # no dropout in eval mode
    mod.train()
    c, _ = mod(x)
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        LSTM(3, 4, dropout=0.2)


def test_float32_stays_float32():
    mod = GRU(3, 4, num_layers=2)
    x = ember.randn(5, 2, 3, requires_grad=True)
    out, h = mod(x)
    assert out.dtype == ember.float32 and h.dtype == ember.float32
    out.sum().backward()
    assert x.grad.dtype == ember.float32
    assert all(p.grad.dtype == ember.float32 for p in mod.parameters())


def test_loads_a_torch_state_dict_and_moves_dtype(torch):
    tmod = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    emod = LSTM(3, 4, num_layers=2, bidirectional=True)
    emod.load_state_dict(
        {k: ember.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()}
    )
    emod = emod.double()
    x = np.random.default_rng(6).standard_normal((5, 2, 3))
    out, (h, c) = emod(ember.tensor(x))
    expected, (th, tc) = tmod.double()(torch.tensor(x))
    close(out, expected, "float64", "output")
    close(c, tc, "float64", "c_n")
    assert emod._flat_weights[0] is emod.weight_ih_l0


def test_constructor_errors_match_torch(torch):
    for kwargs in ({"dropout": 1.5}, {"dropout": True}, {"num_layers": 0}, {"bias": 1}):
        with pytest.raises((ValueError, TypeError)) as expected:
            torch.nn.LSTM(3, 4, **kwargs)
        with pytest.raises(type(expected.value)) as got:
            LSTM(3, 4, **kwargs)
        assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        GRU(3, 0)


def test_forward_errors_match_torch(torch):
    cases = [
        ("LSTM", (3, 4), lambda lib: (lib.zeros(5, 2, 2),)),  # wrong feature size
        (
            "LSTM",
            (3, 4),
            lambda lib: (lib.zeros(5, 2, 3), (lib.zeros(2, 2, 4), lib.zeros(1, 2, 4))),
        ),
        (
            "LSTM",
            (3, 4),
            lambda lib: (lib.zeros(5, 2, 3), (lib.zeros(1, 2, 4), lib.zeros(1, 3, 4))),
        ),
        ("GRU", (3, 4), lambda lib: (lib.zeros(5, 2, 3), lib.zeros(1, 3, 4))),
        ("GRU", (3, 4), lambda lib: (lib.zeros(5, 2, 3), lib.zeros(2, 4))),
        ("RNN", (3, 4), lambda lib: (lib.zeros(2, 5, 2, 3),)),
        ("RNN", (3, 4), lambda lib: (lib.zeros(5, 3), lib.zeros(1, 1, 4))),
        ("LSTM", (3, 4), lambda lib: (lib.zeros(5, 2, 3, dtype=lib.float64),)),
        ("GRUCell", (3, 4), lambda lib: (lib.zeros(2, 3), lib.zeros(3, 4))),
        ("GRUCell", (3, 4), lambda lib: (lib.zeros(2, 5),)),
        ("LSTMCell", (3, 4), lambda lib: (lib.zeros(2, 2, 3),)),
        ("RNNCell", (3, 4), lambda lib: (lib.zeros(2, 3), lib.zeros(2, 5))),
    ]
    for name, args, make in cases:
        with pytest.raises(Exception) as expected:
            getattr(torch.nn, name)(*args)(*make(torch))
        with pytest.raises(type(expected.value)) as got:
            CLASSES[name](*args)(*make(ember))
        wanted = str(expected.value).replace("torch.", "ember.")
        assert str(got.value) == wanted, name


def test_cuda_free_module_moves_and_flat_weights_follow():
    mod = RNN(2, 3)
    mod.weight_hh_l0 = ember.nn.Parameter(ember.zeros(3, 3))
    assert mod._flat_weights[1] is mod.weight_hh_l0
    x = ember.ones(4, 1, 2)
    out, h = mod(x)
    expected = np.tanh(
        x.numpy()[0] @ mod.weight_ih_l0.detach().numpy().T
        + mod.bias_ih_l0.detach().numpy()
        + mod.bias_hh_l0.detach().numpy()
    )
    np.testing.assert_allclose(out.detach().numpy()[1], expected, rtol=1e-6)


def test_no_warnings_in_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = LSTM(3, 4, num_layers=2, dropout=0.1)(ember.randn(5, 2, 3))
        out.sum().backward()

"""Optimizer trajectories against torch.optim, state_dicts, and PyTorch's argument errors."""

import numpy as np
import pytest

import ember
from tests import fake_cuda as fake_device

STEPS = 25
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-5, atol=2e-6)}

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.02, amsgrad=True)),
    ("Adam", dict(lr=0.02, weight_decay=0.1, betas=(0.8, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.02, maximize=True, amsgrad=True)),
    ("Adam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.02)),
    ("AdamW", dict(lr=0.02, amsgrad=True, weight_decay=0.3)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.2), maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1)),
]


def _data():
    rng = np.random.default_rng(1)
    return {
        "A": rng.standard_normal((8, 3)),
        "Y": rng.standard_normal((8, 2)),
        "W": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(2),
    }


def _loss(A, Y, W, b, sign):
    """Least squares plus a quartic term, so the curvature changes along the path."""
    return sign * (((A @ W + b - Y) ** 2).mean() + 0.1 * (W**4).sum())


def _params(lib, dtype, data):
    dt = getattr(lib, dtype)
    W = lib.tensor(data["W"], dtype=dt, requires_grad=True)
    b = lib.tensor(data["b"], dtype=dt, requires_grad=True)
    return W, b


def _snapshot(*params):
    return [np.array(p.detach().numpy(), copy=True) for p in params]


def _trajectory(lib, name, kwargs, dtype, groups=False, steps=STEPS):
    data = _data()
    dt = getattr(lib, dtype)
    A, Y = lib.tensor(data["A"], dtype=dt), lib.tensor(data["Y"], dtype=dt)
    W, b = _params(lib, dtype, data)
    params = [{"params": [W]}, {"params": b, "lr": 0.03}] if groups else [W, b]
    opt = getattr(lib.optim, name)(params, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(A, Y, W, b, sign).backward()
        opt.step()
        out.append(_snapshot(W, b))
    return out, opt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_torch(name, kwargs, dtype, torch):
    ours, _ = _trajectory(ember, name, kwargs, dtype)
    theirs, _ = _trajectory(torch, name, kwargs, dtype)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype
            np.testing.assert_allclose(x, y, **TOL[dtype], err_msg=f"step {step}")
    assert not np.allclose(ours[-1][0], _data()["W"])  # the parameters did move


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "NAdam"])
def test_param_groups_with_their_own_lr_match_torch(name, torch):
    kwargs = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    ours, opt = _trajectory(ember, name, kwargs, "float64", groups=True)
    theirs, topt = _trajectory(torch, name, kwargs, "float64", groups=True)
    np.testing.assert_allclose(ours[-1][1], theirs[-1][1], rtol=1e-9)
    np.testing.assert_allclose(ours[-1][0], theirs[-1][0], rtol=1e-9)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.03]


LBFGS_CASES = [
    dict(),
    dict(lr=0.5, history_size=3, max_iter=5),
    dict(line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe", history_size=2, max_iter=4, max_eval=6),
    dict(tolerance_grad=1e-3, tolerance_change=1e-4),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", LBFGS_CASES, ids=str)
def test_lbfgs_matches_torch(kwargs, dtype, torch):
    def run(lib):
        data = _data()
        dt = getattr(lib, dtype)
        A, Y = lib.tensor(data["A"], dtype=dt), lib.tensor(data["Y"], dtype=dt)
        W, b = _params(lib, dtype, data)
        opt = lib.optim.LBFGS([W, b], **kwargs)
        calls = []

        def closure():
            opt.zero_grad()
            loss = _loss(A, Y, W, b, 1.0)
            loss.backward()
            calls.append(float(loss.detach()))
            return loss

        losses = [float(opt.step(closure).detach()) for _ in range(4)]
        state = opt.state[W]
        return _snapshot(W, b), losses, calls, state["n_iter"], state["func_evals"]

    (ours, our_losses, our_calls, n_iter, evals) = run(ember)
    (theirs, their_losses, their_calls, t_iter, t_evals) = run(torch)
    if dtype == "float64":
        tol = TOL[dtype]
        assert (n_iter, evals) == (t_iter, t_evals)
        np.testing.assert_allclose(our_calls, their_calls, **tol)
    else:
        # float32 losses differ by an ulp before any step (different summation orders); at the
        # optimum that noise decides when a loop stops, and the flat valley only pins the
        # parameters to about sqrt(float32 eps)
        tol = dict(rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(our_calls[:8], their_calls[:8], rtol=1e-5)
    np.testing.assert_allclose(our_losses, their_losses, **tol)
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x, y, **tol)


def test_lbfgs_refuses_param_groups_and_unknown_line_search():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    v = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        ember.optim.LBFGS([{"params": [w]}, {"params": [v]}])
    opt = ember.optim.LBFGS([w], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


def test_step_bumps_version_and_builds_no_graph():
    w = ember.tensor([1.0, -2.0], requires_grad=True)
    opt = ember.optim.Adam([w], lr=0.1)
    (w**2).sum().backward()
    version = w._version
    opt.step()
    assert w._version > version
    assert w.grad_fn is None and w.is_leaf and w.requires_grad
    assert opt.state[w]["exp_avg"].grad_fn is None


def test_params_without_grad_are_skipped():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    v = ember.tensor([3.0], requires_grad=True)
    opt = ember.optim.Adam([w, v], lr=0.1)
    (w**2).sum().backward()
    opt.step()
    assert v.tolist() == [3.0]
    assert v not in opt.state
    assert w.tolist() != [1.0, 2.0]


def test_closure_is_called_with_grad_enabled_and_loss_returned():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = ember.optim.SGD([w], lr=0.1)

    def closure():
        assert ember.is_grad_enabled()
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(w.tolist(), [0.8, 1.6])


def test_zero_grad_to_none_and_to_zero():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = ember.optim.SGD([w], lr=0.1)
    (w**2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and w.grad.tolist() == [0.0, 0.0]
    (w**2).sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]
    opt.zero_grad()
    assert w.grad is None


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
        ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        ("SGD", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero"),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum"),
        ("Adam", dict(lr=-0.5), "Invalid learning rate: -0.5"),
        ("Adam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("Adam", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        ("AdamW", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        ("RMSprop", dict(alpha=-1), "Invalid alpha value: -1"),
        ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
        ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
        ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
        ("NAdam", dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
        ("LBFGS", dict(lr=-2), "Invalid learning rate: -2"),
    ],
)
def test_invalid_hyperparameters_raise_like_torch(name, kwargs, message, torch):
    texts = []
    for lib in (ember, torch):
        w = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(ValueError, match=message.replace("(", r"\(")) as info:
            getattr(lib.optim, name)([w], **kwargs)
        texts.append(str(info.value))
    assert texts[0] == texts[1]


def test_parameter_list_errors():
    w = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        ember.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        ember.optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        ember.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        ember.optim.SGD([w, w], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        ember.optim.SGD([w, 3.0], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        ember.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        ember.optim.SGD([{"params": {w}}], lr=0.1)


def test_required_lr_and_add_param_group():
    from ember.optim.optimizer import Optimizer, required

    w = ember.tensor([1.0], requires_grad=True)
    v = ember.tensor([2.0], requires_grad=True)

    class Plain(Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, {"lr": lr})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization"):
        Plain([w])
    opt = ember.optim.SGD([w], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": v, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["params"] == [v]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_state_dict_layout_matches_torch(name, kwargs, torch):
    _, opt = _trajectory(ember, name, kwargs, "float32", groups=True, steps=3)
    _, topt = _trajectory(torch, name, kwargs, "float32", groups=True, steps=3)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert list(ours["state"]) == list(theirs["state"])
    for idx, state in theirs["state"].items():
        assert list(ours["state"][idx]) == list(state)
        for key, value in state.items():
            mine = ours["state"][idx][key]
            assert mine.dtype.name == str(value.dtype).removeprefix("torch.")
            assert tuple(mine.shape) == tuple(value.shape)
            np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=2e-5, atol=1e-6)


def _torch_to_ember(value, torch):
    if isinstance(value, torch.Tensor):
        return ember.tensor(value.numpy())
    if isinstance(value, dict):
        return {k: _torch_to_ember(v, torch) for k, v in value.items()}
    if isinstance(value, list):
        return [_torch_to_ember(v, torch) for v in value]
    return value


@pytest.mark.parametrize("name, kwargs", CASES[::3], ids=[f"{n}-{k}" for n, k in CASES[::3]])
def test_resuming_from_a_torch_state_dict_continues_torch_trajectory(name, kwargs, torch):
    data = _data()
    sign = -1.0 if kwargs.get("maximize") else 1.0

    def setup(lib):
        A, Y = lib.tensor(data["A"]), lib.tensor(data["Y"])
        W, b = _params(lib, "float64", data)
        return A, Y, W, b

    def run(lib, opt, A, Y, W, b, steps):
        for _ in range(steps):
            opt.zero_grad()
            _loss(A, Y, W, b, sign).backward()
            opt.step()

    tA, tY, tW, tb = setup(torch)
    topt = getattr(torch.optim, name)([tW, tb], **kwargs)
    run(torch, topt, tA, tY, tW, tb, 5)
    saved = _torch_to_ember(topt.state_dict(), torch)
    A, Y, W, b = setup(ember)
    with ember.no_grad():
        W.copy_(ember.tensor(tW.detach().numpy()))
        b.copy_(ember.tensor(tb.detach().numpy()))
    opt = getattr(ember.optim, name)([W, b], **kwargs)
    opt.load_state_dict(saved)
    run(torch, topt, tA, tY, tW, tb, 5)
    run(ember, opt, A, Y, W, b, 5)
    # ASGD's eta is a float32 tensor in torch's running state; loading casts it to the
    # parameters' float64 (in torch too), so the continued runs round it differently
    rtol = 1e-7 if name == "ASGD" else 1e-9
    np.testing.assert_allclose(W.detach().numpy(), tW.detach().numpy(), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(b.detach().numpy(), tb.detach().numpy(), rtol=rtol, atol=1e-12)


def test_load_state_dict_copies_state_and_casts_to_param_dtype():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = ember.optim.SGD([w], lr=0.1, momentum=0.9)
    (w**2).sum().backward()
    opt.step()
    sd = opt.state_dict()
    w2 = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    opt2 = ember.optim.SGD([w2], lr=0.5, momentum=0.1)
    opt2.load_state_dict(sd)
    buf = opt2.state[w2]["momentum_buffer"]
    assert buf.dtype == ember.float64
    assert buf is not sd["state"][0]["momentum_buffer"]
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["params"] == [w2]
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt2.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt2.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}]})


def test_adagrad_creates_state_at_construction(torch):
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = ember.optim.Adagrad([w], initial_accumulator_value=0.5)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    topt = torch.optim.Adagrad([tw], initial_accumulator_value=0.5)
    assert list(opt.state_dict()["state"][0]) == list(topt.state_dict()["state"][0])
    assert opt.state[w]["sum"].tolist() == [0.5, 0.5]


def test_repr_lists_each_group(torch):
    w = ember.tensor([1.0], requires_grad=True)
    tw = torch.tensor([1.0], requires_grad=True)
    assert repr(ember.optim.Adam([w], lr=0.1)) == repr(torch.optim.Adam([tw], lr=0.1))


def test_optimizer_runs_on_the_fake_cuda_device():
    fake_device.install()
    try:
        w = ember.tensor([1.0, -2.0], requires_grad=True, device="cuda")
        opt = ember.optim.Adam([w], lr=0.1, amsgrad=True)
        (w**2).sum().backward()
        opt.step()
        assert opt.state[w]["exp_avg"].device.type == "cuda"
        assert opt.state[w]["step"].device.type == "cpu"
        assert w.device.type == "cuda"
    finally:
        fake_device.remove()

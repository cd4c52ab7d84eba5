"""ember.compile: replays give eager's results to the bit, guards record anew, check=True and
fallbacks catch what a plan cannot do."""

import itertools
import warnings

import numpy as np
import pytest

import ember
from benchmarks import seed_mlp, workloads
from ember import nn, optim
from ember._compile import compile
from ember._compile._trace import Traced


def _cells(step):
    """The objects a workload's step function closes over, by name."""
    return {n: c.cell_contents for n, c in zip(step.__code__.co_freevars, step.__closure__)}


def _bits(array):
    return None if array is None else (array.shape, array.dtype.str, array.tobytes())


def _state(tensors):
    return [(_bits(t._data), _bits(None if t._grad is None else t._grad._data)) for t in tensors]


def _assert_plain(tensors):
    """After compiled calls, every tensor holds a plain ndarray again."""
    for t in tensors:
        assert t._data.__class__ is np.ndarray
        if t._grad is not None:
            assert t._grad._data.__class__ is np.ndarray


def _compare(make, steps=6, tensors_of=None):
    """Run `steps` calls of an eager and a compiled copy of a step; states must match bitwise
    after every call. Returns the CompiledFunction."""
    eager_step, eager_tensors = make()
    step, tensors = make()
    compiled = compile(step)
    for i in range(steps):
        out_e = eager_step()
        out_c = compiled()
        assert _state(eager_tensors) == _state(tensors), f"call {i}"
        if isinstance(out_e, ember.Tensor):
            assert _bits(out_e._data) == _bits(out_c._data), f"output of call {i}"
    _assert_plain(tensors)
    return compiled


# --- W1-W4: bit-identical to eager ---
def test_w1_seed_mlp_matches_eager_bitwise():
    def make():
        c = seed_mlp.contenders(torch=None)
        cells = _cells(c["ember"])
        return c["ember"], [cells[n] for n in ("x", "y", "w1", "w2")]

    compiled = _compare(make)
    assert compiled.recordings == 1 and compiled.replays >= 4
    assert compiled.eager_reason is None


def test_w1_without_grads_at_start_records_twice():
    # the first call creates .grad; from the second on, grads accumulate in place
    def make():
        rng = np.random.default_rng(0)
        x, y = ember.tensor(rng.standard_normal((6, 5))), ember.tensor(rng.standard_normal((6, 2)))
        w1 = ember.tensor(rng.standard_normal((5, 4)), requires_grad=True)
        w2 = ember.tensor(rng.standard_normal((4, 2)), requires_grad=True)

        def step():
            loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
            loss.backward()
            w1.data -= 1e-3 * w1.grad.data
            w2.data -= 1e-3 * w2.grad.data
            w1.grad.data.zero_()
            w2.grad.data.zero_()
            return loss

        return step, [w1, w2]

    compiled = _compare(make)
    assert compiled.recordings == 2 and compiled.replays >= 3


def test_w2_mlp_sgd_matches_eager_bitwise():
    def make():
        step = workloads.w2_mnist_mlp(None, batch=8, sizes=(12, 16, 8, 5))["ember"]
        return step, list(_cells(step)["model"].parameters())

    compiled = _compare(make)
    assert compiled.replays >= 3 and compiled.eager_reason is None


def test_w3_op_chain_matches_eager_bitwise():
    def make():
        step = workloads.w3_per_op(None, n_ops=30, size=4)["ember"]
        return step, [_cells(step)["x"]]

    compiled = _compare(make)
    assert compiled.replays >= 3


def test_w4_small_cnn_matches_eager_bitwise():
    def make():
        step = workloads.w4_small_cnn(None, batch=2)["ember"]
        return step, list(_cells(step)["model"].parameters())

    compiled = _compare(make, steps=5)
    assert compiled.replays >= 2 and compiled.eager_reason is None


def _mlp_step(seed=0, opt_cls=optim.SGD, dropout=False, **opt_kwargs):
    ember.manual_seed(seed)
    layers = [nn.Linear(6, 8), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    model = nn.Sequential(*layers, nn.Linear(8, 3))
    opt = opt_cls(model.parameters(), **opt_kwargs)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, model, opt


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return ember.tensor(rng.standard_normal((n, 6)).astype(np.float32)), ember.tensor(
        rng.integers(0, 3, n)
    )


def _compare_with_args(batches, **kwargs):
    eager, model_e, _ = _mlp_step(**kwargs)
    step, model, _ = _mlp_step(**kwargs)
    compiled = compile(step)
    for i, (x, y) in enumerate(batches):
        ember.manual_seed(100 + i)
        loss_e = eager(x, y)
        ember.manual_seed(100 + i)
        loss_c = compiled(x, y)
        assert _bits(loss_e._data) == _bits(loss_c._data), f"loss of call {i}"
        assert _state(model_e.parameters()) == _state(model.parameters()), f"call {i}"
    _assert_plain(model.parameters())
    return compiled, model


def test_batches_as_arguments_and_returned_loss():
    batches = [_batch(8, seed) for seed in range(6)]
    compiled, _ = _compare_with_args(batches)
    assert compiled.replays >= 3


def test_returned_tensors_are_new_each_call():
    step, _, _ = _mlp_step()
    compiled = compile(step)
    losses = [compiled(*_batch(8, seed)) for seed in range(5)]
    assert compiled.replays >= 2
    assert len({id(loss._data) for loss in losses}) == 5
    assert len({loss.item() for loss in losses}) == 5  # not one buffer overwritten each call
    assert all(loss.grad_fn is None for loss in losses[3:])  # (call 2 was checked eagerly)


def test_momentum_sgd_and_dropout_match_eager():
    batches = [_batch(8, seed) for seed in range(6)]
    compiled, _ = _compare_with_args(batches, dropout=True, lr=0.1, momentum=0.9)
    assert compiled.replays >= 2 and compiled.eager_reason is None


def test_replay_runs_no_ops_and_no_backward(monkeypatch):
    from ember.autograd import engine
    from ember.ops import _primitive

    step, _, _ = _mlp_step()
    compiled = compile(step)
    for seed in range(3):
        compiled(*_batch(8, seed))
    calls = []
    original = _primitive.Primitive.__dict__["apply"].__func__
    monkeypatch.setattr(engine, "execute", lambda *a, **k: calls.append("backward"))
    monkeypatch.setattr(
        _primitive.Primitive,
        "apply",
        classmethod(lambda cls, *a, **k: calls.append(cls.__name__) or original(cls, *a, **k)),
    )
    replays = compiled.replays
    compiled(*_batch(8, 5))
    assert compiled.replays == replays + 1
    assert calls == []


# --- guards ---
def test_new_input_shape_records_a_new_plan():
    batches = [_batch(8, 0), _batch(8, 1), _batch(8, 2), _batch(5, 3), _batch(5, 4), _batch(8, 5)]
    compiled, _ = _compare_with_args(batches)
    shapes = {key[0][1][1] for key in compiled.plans}  # the first argument's shape
    assert shapes == {(8, 6), (5, 6)}


def test_changed_learning_rate_is_seen():
    eager, model_e, opt_e = _mlp_step()
    step, model, opt = _mlp_step()
    compiled = compile(step)
    for i in range(6):
        if i == 3:
            for o in (opt_e, opt):
                o.param_groups[0]["lr"] = 0.5
        batch = _batch(8, i)
        eager(*batch)
        compiled(*batch)
        assert _state(model_e.parameters()) == _state(model.parameters()), f"call {i}"
    assert compiled.recordings >= 3


def test_replaced_parameter_data_is_seen():
    eager, model_e, _ = _mlp_step()
    step, model, _ = _mlp_step()
    compiled = compile(step)
    for i in range(6):
        if i == 3:
            for m in (model_e, model):
                m[0].weight.data = ember.ones(8, 6)
        batch = _batch(8, i)
        eager(*batch)
        compiled(*batch)
        assert _state(model_e.parameters()) == _state(model.parameters()), f"call {i}"


def test_eval_mode_is_a_guard():
    step, model, _ = _mlp_step(dropout=True)
    compiled = compile(step)
    for i in range(3):
        compiled(*_batch(8, i))
    recordings = compiled.recordings
    model.eval()
    compiled(*_batch(8, 3))
    assert compiled.recordings == recordings + 1


# --- check=True ---
def test_check_catches_a_broken_plan():
    step, model, _ = _mlp_step()
    compiled = compile(step, check=True)
    compiled(*_batch(8, 0))
    compiled(*_batch(8, 1))  # (the plan for "has .grad" is recorded here)
    weight = model[0].weight

    def broken(run):
        def replay(*arrays):
            out = run(*arrays)
            weight._data += 1e-3
            return out

        return replay

    for plans in compiled.plans.values():
        for plan in plans:
            plan.run = broken(plan.run)
    with pytest.raises(RuntimeError, match="differed from eager"):
        compiled(*_batch(8, 2))


def _flipping_step():
    w = ember.ones(3, requires_grad=True)
    flips = itertools.cycle([True, False])  # Python state compile cannot see

    def step():
        loss = (w * 2).sum()
        if next(flips):
            loss = loss * 3
        loss.backward()
        with ember.no_grad():
            w.sub_(0.1 * w.grad)
        w.grad.zero_()
        return loss

    return step, w


def test_check_catches_changed_control_flow():
    step, _ = _flipping_step()
    compiled = compile(step, check=True)
    compiled()
    compiled()
    with pytest.raises(RuntimeError, match="differed from eager"):
        compiled()


def test_changed_control_flow_falls_back_to_eager_without_check():
    step, w = _flipping_step()
    eager, w_e = _flipping_step()
    compiled = compile(step)
    with pytest.warns(UserWarning, match="runs the step eagerly"):
        for _ in range(6):
            assert _bits(compiled()._data) == _bits(eager()._data)
    assert _bits(w._data) == _bits(w_e._data)
    assert compiled.eager_reason is not None


# --- what falls back to eager ---
def _unsupported_steps():
    def item_after_update():
        w = ember.ones(3, requires_grad=True)

        def step():
            loss = (w * w).sum()
            loss.backward()
            with ember.no_grad():
                w.sub_(0.1 * w.grad)
            w.grad.zero_()
            return loss.item()

        return step, w

    def global_random():
        w = ember.ones(3, requires_grad=True)

        def step():
            noise = ember.from_numpy(np.random.standard_normal(3).astype(np.float32))
            loss = (w * noise).sum()
            loss.backward()
            with ember.no_grad():
                w.sub_(0.1 * w.grad)
            w.grad.zero_()

        return step, w

    def adam():
        step, model, _ = _mlp_step(opt_cls=optim.Adam, lr=0.01)
        x, y = _batch(8, 0)
        return (lambda: step(x, y)), model[0].weight

    return {"item_after_update": item_after_update, "global_random": global_random, "adam": adam}


@pytest.mark.parametrize("name", sorted(_unsupported_steps()))
def test_unsupported_falls_back_with_one_warning(name):
    make = _unsupported_steps()[name]
    eager, w_e = make()
    np.random.seed(0)
    step, w = make()
    compiled = compile(step)
    states = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seed in range(5):
            np.random.seed(seed)
            compiled()
            states.append(_bits(w._data))
    assert len([c for c in caught if "runs the step eagerly" in str(c.message)]) == 1
    assert compiled.replays == 0
    for seed in range(5):
        np.random.seed(seed)
        eager()
        assert _bits(w_e._data) == states[seed]


def test_value_read_before_updates_is_a_guard():
    # a data-dependent branch before any write: replayed while the branch goes the same way
    w = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w_e = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def make(w):
        def step(x):
            scale = 2.0 if bool((x > 0).all()) else -1.0
            loss = (w * x * scale).sum()
            loss.backward()
            with ember.no_grad():
                w.sub_(0.1 * w.grad)
            w.grad.zero_()

        return step

    compiled, eager = compile(make(w)), make(w_e)
    xs = [ember.tensor(v) for v in ([1.0, 2, 3], [2.0, 1, 1], [1.0, 1, 1], [-1.0, 1, 1])]
    for x in [*xs, *xs]:
        compiled(x)
        eager(x)
        assert _bits(w._data) == _bits(w_e._data)
    assert compiled.replays >= 3 and compiled.recordings == 3 and compiled.eager_reason is None


def test_decorator_and_nested_compiled_functions():
    w = ember.ones(4, requires_grad=True)

    @compile
    def inner(x):
        return (w * x).sum()  # its caller backpropagates: a replay would cut the graph

    @compile(check=True)
    def outer(x):
        loss = inner(x)
        loss.backward()
        return loss

    with pytest.warns(UserWarning, match="autograd graph outlives the step"):
        for _ in range(6):  # two recordings, three replays checked against eager, one plain
            loss = outer(ember.ones(4))
    assert loss.item() == 4.0
    assert w.grad.tolist() == [6.0] * 4
    assert outer.replays == 1 and inner.replays == 0 and isinstance(outer, type(inner))


def test_recording_leaves_no_traced_arrays_behind():
    step, model, opt = _mlp_step(lr=0.1, momentum=0.9)
    compiled = compile(step)
    for seed in range(4):
        loss = compiled(*_batch(8, seed))
    assert loss._data.__class__ is np.ndarray
    for state in opt.state.values():
        for v in state.values():
            assert not isinstance(getattr(v, "_data", None), Traced)
    _assert_plain(model.parameters())


def test_same_tensor_twice_as_argument_is_part_of_the_key():
    w = ember.ones(3, requires_grad=True)

    def step(a, b):
        loss = (w * a * b).sum()
        loss.backward()
        return loss

    compiled = compile(step)
    x = ember.tensor([1.0, 2.0, 3.0])
    for _ in range(4):
        compiled(x, x)
    assert compiled.replays >= 1
    y = ember.tensor([5.0, 6.0, 7.0])
    assert compiled(x, y).item() == 5.0 + 12.0 + 21.0


def test_numpy_generator_draws_fall_back():
    rng = np.random.default_rng(0)
    w = ember.ones(3, requires_grad=True)

    def step():
        noise = ember.from_numpy(rng.standard_normal(3))
        (w * noise).sum().backward()

    compiled = compile(step)
    with pytest.warns(UserWarning, match="NumPy random generator"):
        for _ in range(3):
            compiled()
    assert compiled.replays == 0


def test_numpy_array_the_step_wraps_is_read_on_every_call():
    data = np.ones(3, dtype=np.float32)
    w = ember.ones(3, requires_grad=True)

    def step():
        x = ember.from_numpy(data) * 2  # nothing here depends on a tensor: still recomputed
        loss = (w * x).sum()
        loss.backward()
        return loss

    compiled = compile(step)
    for i in range(5):
        data[:] = i  # changed in place between calls
        assert compiled().item() == 6.0 * i
    assert compiled.replays >= 1
    data_before = data
    data = np.full(3, 10, dtype=np.float32)  # rebound: the guard sees a new array
    assert compiled().item() == 60.0
    assert data_before is not data


def test_numpy_code_inside_the_step_falls_back():
    data = np.ones(3, dtype=np.float32)
    w = ember.ones(3, requires_grad=True)

    def step():
        data[...] += 1  # plain NumPy on plain arrays: nothing to record
        (w * ember.from_numpy(data)).sum().backward()

    compiled = compile(step)
    with pytest.warns(UserWarning, match="compile cannot see"):
        compiled()


# --- every op in the table, forward and backward, through a compiled step ---
def _op_step(spec, sample):
    rng = np.random.default_rng(0)
    xs = []
    for shape in sample.shapes:
        a = rng.uniform(*spec.domain, size=shape)
        for point in spec.avoid:
            near = np.abs(a - point) < 0.1
            a = np.where(near, point + np.where(a >= point, 0.15, -0.15), a)
        xs.append(ember.tensor(a, dtype=ember.float32, requires_grad=True))

    def step():
        out = spec.call(ember, *xs, **sample.kwargs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        total = sum((o * o).sum() for o in outs if isinstance(o, ember.Tensor) and o.requires_grad)
        if isinstance(total, ember.Tensor):
            total.backward()
        with ember.no_grad():
            for x in xs:
                if x.grad is not None:
                    x.sub_(0.01 * x.grad)

    return step, xs


def _op_names():
    from ember.ops import OPS

    return sorted(OPS)


# ops whose implementations make arrays whose shapes depend on the values (numpy.unique,
# boolean-mask indexing with a computed mask): a step using them runs eagerly
_VALUE_SHAPED_OPS = {
    "unique",
    "unique_consecutive",
    "masked_select",
    "nonzero",
    "index_fill",
    "index_fill_tensor_value",
    "masked_fill_",
    "masked_fill_tensor_value",
}


# ops whose Python loop runs a value-dependent number of times (matrix_exp squares once per
# doubling of the matrix's norm): while that count moves the step is recorded again; the
# results must still equal eager's
_VALUE_LOOPED_OPS = {"matrix_exp"}


@pytest.mark.parametrize("name", _op_names())
def test_every_op_replays_like_eager(name):
    from ember.ops import OPS

    spec = OPS[name]
    for sample in spec.samples:
        (eager, xs_e), (step, xs) = _op_step(spec, sample), _op_step(spec, sample)
        compiled = compile(step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(4):
                ember.manual_seed(i)
                eager()
                ember.manual_seed(i)
                compiled()
                assert _state(xs_e) == _state(xs), f"{sample!r}, call {i}"
        if compiled.eager_reason is None:
            assert compiled.replays >= 1 or name in _VALUE_LOOPED_OPS, sample
        else:
            assert name in _VALUE_SHAPED_OPS, compiled.eager_reason


def test_cuda_tensors_run_eagerly_with_a_warning(fake_cuda):
    def make():
        rng = np.random.default_rng(0)
        x = ember.tensor(rng.standard_normal((4, 3)).astype(np.float32)).cuda()
        w = ember.tensor(rng.standard_normal((3, 2)).astype(np.float32)).cuda()
        w.requires_grad_()

        def step():
            loss = x.mm(w).pow(2).sum()
            loss.backward()
            w.data -= 0.1 * w.grad.data
            w.grad.data.zero_()
            return loss

        return step, w

    (eager, w_e), (step, w) = make(), make()
    compiled = compile(step)
    with pytest.warns(UserWarning, match="runs the step eagerly"):
        for _ in range(4):
            assert _bits(eager()._data) == _bits(compiled()._data)
    assert _bits(w._data) == _bits(w_e._data) and w.device.type == "cuda"
    assert compiled.replays == 0


def test_compile_bench_runs(capsys):
    from benchmarks import compile_bench

    results = compile_bench.main(["--only", "W1", "--rounds", "1", "--inner", "1", "--runs", "1"])
    assert set(results["W1"]) == {"eager", "compiled", "numpy", "numpy+grad"}
    assert "compiled/numpy" in capsys.readouterr().out


def test_in_place_writes_into_arguments_are_replayed():
    w = ember.ones(3, requires_grad=True)

    def step(x):
        with ember.no_grad():
            x.mul_(2)  # the caller's tensor changes, call after call
        loss = (w * x).sum()
        loss.backward()
        return loss

    compiled = compile(step)
    for i in range(5):
        x = ember.tensor([1.0, 2.0, float(i)])
        assert compiled(x).item() == 2.0 * (3.0 + i)
        assert x.tolist() == [2.0, 4.0, 2.0 * i]
    assert compiled.replays >= 1


def test_w4_with_selects_large_enough_for_the_bit_mask_form():
    """At batch 8, ReLU's backward and max pooling select over more than 8192 elements: the
    eager step runs the bit-mask select, the recording sees where(), and the replay takes the
    bit-mask form again; every replay matches eager bit for bit."""

    def make():
        step = workloads.w4_small_cnn(None, batch=8)["ember"]
        return step, list(_cells(step)["model"].parameters())

    compiled = _compare(make, steps=5)
    assert compiled.replays >= 2 and compiled.eager_reason is None

"""Threads: grad mode is per thread, and two threads training their own models get results
bit-identical to training the same models one after the other."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import ember


@pytest.fixture
def fast_switching():
    """Switch threads often, so the two workers interleave inside every step."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(*targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    if errors:
        raise errors[0]


def test_grad_mode_is_thread_local(fast_switching):
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def quiet():
        with ember.no_grad():
            inside.set()
            checked.wait(10)
            seen["quiet"] = ember.is_grad_enabled()
            x = ember.ones(2, requires_grad=True)
            seen["quiet_records"] = (x * 2).requires_grad

    def loud():
        inside.wait(10)
        seen["loud"] = ember.is_grad_enabled()
        x = ember.ones(2, requires_grad=True)
        seen["loud_records"] = (x * 2).requires_grad
        checked.set()

    _run_threads(quiet, loud)
    assert seen == {"quiet": False, "quiet_records": False, "loud": True, "loud_records": True}
    assert ember.is_grad_enabled()


def test_new_thread_starts_with_grad_enabled():
    seen = []
    with ember.no_grad():
        _run_threads(lambda: seen.append(ember.is_grad_enabled()))
        assert not ember.is_grad_enabled()
    assert seen == [True]


def test_set_grad_enabled_in_a_thread_stays_there():
    def off():
        ember.set_grad_enabled(False)

    _run_threads(off)
    assert ember.is_grad_enabled()


def _data(seed):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((16, 8)),
        "y": rng.standard_normal((16, 3)),
        "w1": rng.standard_normal((8, 12)) * 0.3,
        "w2": rng.standard_normal((12, 3)) * 0.3,
    }


def _train_plain(data, steps=150, lr=0.01):
    """The seed's loop on plain tensors: manual SGD under no_grad."""
    x, y = ember.tensor(data["x"]), ember.tensor(data["y"])
    w1 = ember.tensor(data["w1"], requires_grad=True)
    w2 = ember.tensor(data["w2"], requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = (x.mm(w1).clamp(min=0).mm(w2).tanh() - y).pow(2).mean()
        loss.backward()
        with ember.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
        losses.append(loss.item())
    return [w1.detach().numpy().copy(), w2.detach().numpy().copy(), np.array(losses)]


def _train_module(data, steps=150):
    """nn.Linear + optim.SGD with momentum, weights copied in from `data`."""
    model = ember.nn.Sequential(ember.nn.Linear(8, 12), ember.nn.ReLU(), ember.nn.Linear(12, 3))
    model = model.double()
    with ember.no_grad():
        model[0].weight.copy_(ember.tensor(data["w1"].T))
        model[2].weight.copy_(ember.tensor(data["w2"].T))
        model[0].bias.zero_()
        model[2].bias.zero_()
    opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = ember.tensor(data["x"]), ember.tensor(data["y"])
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ember.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [p.detach().numpy().copy() for p in model.parameters()] + [np.array(losses)]


@pytest.mark.parametrize("train", [_train_plain, _train_module], ids=["plain", "nn_optim"])
def test_two_threads_train_like_one_at_a_time(train, fast_switching):
    datasets = [_data(1), _data(2)]
    alone = [train(d) for d in datasets]
    together = [None, None]
    start = threading.Barrier(2)

    def worker(i):
        def run():
            start.wait(10)
            together[i] = train(datasets[i])

        return run

    _run_threads(worker(0), worker(1))
    for a, b in zip(alone, together):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert u.dtype == v.dtype and np.array_equal(u, v), "thread results differ"
    assert not np.array_equal(alone[0][-1], alone[1][-1])  # they did train different models


def test_concurrent_backward_on_a_shared_leaf_loses_nothing(fast_switching):
    # NumPy releases the GIL inside a large in-place add, so unlocked accumulation races;
    # PyTorch locks each leaf's accumulation. 8 MB gradients make the race show every time.
    w = ember.ones(1000, 1000, dtype=ember.float64, requires_grad=True)
    start = threading.Barrier(4)

    def worker():
        start.wait(10)
        for _ in range(20):
            (w * 1.0).sum().backward()

    _run_threads(*[worker] * 4)
    assert w.grad.numpy().min() == 80.0 and w.grad.numpy().max() == 80.0


ROUNDS = 5  # passes over the table per thread


def _op_table_results(cases, with_grad):
    """Every op-table case's forward (and, with grad, the input gradients), as NumPy arrays."""
    from tests.ops.test_op_table import call, sample_arrays

    results = []
    for spec, sample in cases:
        arrays = sample_arrays(spec, sample)
        inputs = [ember.tensor(a, requires_grad=with_grad) for a in arrays]
        try:
            with ember.set_grad_enabled(with_grad):
                out = call(spec, sample, ember, inputs)
                outs = out if isinstance(out, tuple) else (out,)
                got = [o.detach().numpy().copy() for o in outs if isinstance(o, ember.Tensor)]
                if with_grad:
                    diff = [o for o in outs if isinstance(o, ember.Tensor) and o.requires_grad]
                    if diff:
                        total = sum((o * o).sum() for o in diff)
                        grads = ember.autograd.grad(total, inputs, allow_unused=True)
                        got += [g.numpy().copy() for g in grads if g is not None]
        except Exception as e:  # noqa: BLE001 - an error must be the same error every time
            got = [repr(e)]
        results.append(got)
    return results


def _same(a, b):
    return len(a) == len(b) and all(
        x == y if isinstance(x, str) else np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b)
    )


@pytest.mark.parametrize("with_grad", [False, True], ids=["no_graph", "graph"])
def test_the_whole_op_table_from_four_threads_matches_one_thread(with_grad, fast_switching):
    from ember.ops import OPS

    cases = [(spec, sample) for spec in OPS.values() for sample in spec.samples]
    first = _op_table_results(cases, with_grad)
    second = _op_table_results(cases, with_grad)
    # random ops (dropout, ...) draw new numbers each time: only deterministic cases count
    kept = [i for i in range(len(cases)) if _same(first[i], second[i])]
    assert len(kept) > 0.9 * len(cases)
    cases = [cases[i] for i in kept]
    expected = [first[i] for i in kept]
    seen = [None] * 4

    def worker(k):
        def run():
            seen[k] = []
            for r in range(ROUNDS):
                order = list(range(len(cases)))
                shift = (k * len(cases)) // 4 + r
                order = order[shift:] + order[:shift]  # each thread starts elsewhere
                got = _op_table_results([cases[i] for i in order], with_grad)
                seen[k].append(dict(zip(order, got)))

        return run

    _run_threads(*(worker(k) for k in range(4)))
    wrong = [
        f"{cases[i][0].name}[{cases[i][1]!r}] in thread {k}"
        for k in range(4)
        for results in seen[k]
        for i in range(len(cases))
        if not _same(results[i], expected[i])
    ]
    assert not wrong, f"{len(wrong)} results differ from one thread's: {wrong[:10]}"


def test_unrecorded_forwards_each_get_their_own_ctx():
    from ember.ops import Primitive

    ctxs = []

    class Probe(Primitive):
        @staticmethod
        def forward(ctx, x):
            ctxs.append(ctx)
            ctx.seen = x.copy()
            return x * 2

    Probe.apply(ember.ones(2))
    Probe.apply(ember.ones(2))
    assert ctxs[0] is not ctxs[1]

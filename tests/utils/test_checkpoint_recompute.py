"""Non-reentrant checkpointing as PyTorch does it: the function's own graph with its saved
tensors recomputed on demand, once per backward pass, stopping early; nested checkpoints;
the determinism checks; GraphExecGroup. Counts and errors are compared with PyTorch."""

from __future__ import annotations

import collections
import weakref

import pytest

import ember


def _ck(lib):
    return lambda fn, *args, **kw: lib.utils.checkpoint.checkpoint(
        fn, *args, use_reentrant=False, **kw
    )


def _runs_of_clone(lib, **kw):
    """How often the clone at the end of a checkpointed function runs in forward and
    backward: clone saves nothing, so with early stop the rerun ends before reaching it."""
    counter = [0]

    def clone(x):
        counter[0] += 1
        return x.clone()

    def fn(x):
        return clone(x.sin().cos())

    a = lib.tensor(1.0, requires_grad=True)
    _ck(lib)(fn, a, **kw).backward()
    return counter[0]


@pytest.mark.parametrize("early_stop", [True, False, None])
def test_early_stop_counts_match_pytorch(early_stop, torch):
    kw = {} if early_stop is None else {"early_stop": early_stop}
    counts = [_runs_of_clone(lib, **kw) for lib in (torch, ember)]
    assert counts[1] == counts[0] == (2 if early_stop is False else 1)


def test_set_checkpoint_early_stop_applies_at_forward_time(torch):
    for lib in (torch, ember):
        with lib.utils.checkpoint.set_checkpoint_early_stop(False):
            # the context ends before backward: the forward's setting still holds
            assert _runs_of_clone(lib, early_stop=True) == 2


def _hook_calls(lib):
    counter = [0]
    a = lib.tensor(1.0, requires_grad=True)
    out = _ck(lib)(lambda x: x.sin().cos().sin(), a)
    out.grad_fn.next_functions[0][0].register_hook(lambda *_: counter.__setitem__(0, 1))
    out.backward()
    return counter[0]


def test_hooks_on_the_function_graph_fire(torch):
    assert _hook_calls(ember) == _hook_calls(torch) == 1


def _backward_in_hook(lib):
    a = lib.tensor(1.0, requires_grad=True)
    x, out = _ck(lib)(lambda t: (t.sin().cos(), t.sin().cos().sin()), a)
    out.grad_fn.register_hook(lambda *_: x.backward(retain_graph=True))
    out.backward(retain_graph=True)
    return a.grad.item()


def test_backward_inside_a_node_hook_finishes(torch):
    assert abs(_backward_in_hook(ember) - _backward_in_hook(torch)) < 1e-6


def _grad(lib, fn):
    def wrapper(x):
        with lib.enable_grad():
            (g,) = lib.autograd.grad(fn(x), x, create_graph=True)
        return g

    return wrapper


def test_nested_checkpoints_and_higher_derivatives_match_plain():
    x = ember.tensor(0.7, requires_grad=True)
    ck = _ck(ember)

    def f(t):
        return t.sin().exp().sin()

    def c(fn):
        return lambda t: ck(fn, t)

    g = lambda fn: _grad(ember, fn)  # noqa: E731
    plain = g(g(f))(x)
    for variant in (g(c(g(f))), c(g(g(c(f)))), g(c(g(c(f)))), g(g(c(c(f))))):
        assert abs(variant(x).item() - plain.item()) < 1e-6


def _alive_nodes(fn):
    """Nodes of fn(a)'s graph still alive once the caller lets go of everything."""

    class Mark:
        pass

    def scope():
        a = ember.randn((), requires_grad=True)
        out = fn(a)
        refs, seen, queue = [], {out.grad_fn}, collections.deque([out.grad_fn])
        while queue:
            node = queue.popleft()
            mark = Mark()
            node.metadata["mark"] = mark
            refs.append(weakref.ref(mark))
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return refs

    return [r for r in scope() if r() is not None]


def test_checkpointed_graph_dies_with_its_output():
    ck = _ck(ember)
    f = lambda t: t.sin().cos().sin()  # noqa: E731 - ops that save their inputs
    assert _alive_nodes(lambda t: ck(f, t)) == []
    assert _alive_nodes(lambda t: ck(lambda u: ck(f, u), t)) == []
    assert _alive_nodes(lambda t: ck(f, ck(f, t))) == []


def _read_twice(lib):
    second_read = []

    class Twice(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, x * 2)
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            x, _ = ctx.saved_tensors
            with pytest.raises(RuntimeError, match="already unpacked once") as info:
                ctx.saved_tensors  # noqa: B018
            second_read.append(info.value)
            return grad * 3

    a = lib.tensor(1.0, requires_grad=True)
    _ck(lib)(lambda t: Twice.apply(t * 1.0), a).backward()
    return a.grad.item(), len(second_read)


def test_custom_function_reads_saved_tensors_once_per_pass(torch):
    assert _read_twice(ember) == _read_twice(torch) == (3.0, 1)


def _changing(first, then):
    calls = [0]

    def fn(x):
        calls[0] += 1
        return first(x) if calls[0] == 1 else then(x)

    return fn


def test_non_determinism_is_detected_as_pytorch(torch):
    for lib in (torch, ember):
        three = lambda x: x.sin().exp().sin()  # noqa: E731
        two = lambda x: x.sin().exp()  # noqa: E731
        other = lambda x, lib=lib: x.sin() * lib.tensor([1.0, 2.0])  # noqa: E731
        a = lib.randn(1, requires_grad=True)
        ck = _ck(lib)
        with pytest.raises(RuntimeError, match="A different number of tensors was saved"):
            ck(_changing(three, two), a).backward()
        with lib.utils.checkpoint.set_checkpoint_early_stop(False):
            out = ck(_changing(two, three), a)
        with pytest.raises(RuntimeError, match="trying to save more tensors during recomp"):
            out.backward()
        ck(_changing(two, three), a).backward()  # early stop: never reaches the extra one
        with pytest.raises(RuntimeError, match="tensors have different metadata"):
            ck(_changing(two, other), a).backward()
        ck(_changing(two, other), a, determinism_check="none").sum().backward()


def test_debug_mode_explains(torch):
    for lib in (torch, ember):
        a = lib.randn(1, requires_grad=True)
        ck, module = _ck(lib), lib.utils.checkpoint
        two = lambda x: x.sin().exp()  # noqa: E731
        other = lambda x, lib=lib: x.sin() * lib.tensor([1.0, 2.0])  # noqa: E731
        debug_words = "because you passed `debug=True`"
        with pytest.raises(RuntimeError, match=debug_words):
            ck(_changing(two, other), a, debug=True).backward()
        with (
            pytest.raises(RuntimeError, match=debug_words),
            module.set_checkpoint_debug_enabled(True),
        ):
            ck(_changing(two, other), a).backward()
        with pytest.raises(RuntimeError, match="different metadata") as info:
            with module.set_checkpoint_debug_enabled(False):
                ck(_changing(two, other), a, debug=True).backward()
        assert debug_words not in str(info.value)


def test_error_carries_pytorch_compile_advice():
    a = ember.randn(1, requires_grad=True)
    fn = _changing(lambda x: x**2 + x**3 + x**4, lambda x: x**2 + x**3)
    with pytest.raises(RuntimeError) as info:
        _ck(ember)(fn, a).backward()
    assert "torch._dynamo.mark_dynamic()" in str(info.value)


def _group_runs(lib, grouped):
    counter = [0]

    def fn(x):
        counter[0] += 1
        y = x.sin().cos()
        return y, y.sin().cos()

    x = lib.randn(3, 3, requires_grad=True)
    y, z = _ck(lib)(fn, x)
    group = lib.utils.checkpoint.GraphExecGroup() if grouped else None
    with group if grouped else lib.enable_grad():
        (gy,) = lib.autograd.grad(z, (y,), grad_outputs=(lib.ones(3, 3),))
        lib.autograd.grad(y, (x,), grad_outputs=(gy,))
    return counter[0]


@pytest.mark.parametrize("grouped", [True, False])
def test_graph_exec_group_recomputes_once_as_pytorch(grouped, torch):
    assert _group_runs(ember, grouped) == _group_runs(torch, grouped) == (2 if grouped else 3)


def test_graph_exec_group_refuses_overlapping_backwards(torch):
    for lib in (torch, ember):
        out = _ck(lib)(lambda t: t.sin().cos(), lib.randn(3, requires_grad=True))
        with lib.utils.checkpoint.GraphExecGroup():
            out.sum().backward(retain_graph=True)
            with pytest.raises(RuntimeError, match="Performing two backward calls that overlap"):
                out.sum().backward()
        with pytest.raises(RuntimeError, match="cannot be nested"):
            with lib.utils.checkpoint.GraphExecGroup(), lib.utils.checkpoint.GraphExecGroup():
                pass

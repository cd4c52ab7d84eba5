"""ember.utils.checkpoint against torch.utils.checkpoint: same gradients as without
checkpointing, in both modes, and PyTorch's warnings and errors."""

import gc
import warnings
import weakref

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils.checkpoint import (
    CheckpointError,
    checkpoint,
    checkpoint_sequential,
    set_checkpoint_early_stop,
)

MODES = [True, False]  # use_reentrant


def close(a, b):
    a = a.detach().numpy() if hasattr(a, "detach") else a
    b = b.detach().numpy() if hasattr(b, "detach") else b
    single = np.float32 in (np.asarray(a).dtype, np.asarray(b).dtype)
    np.testing.assert_allclose(a, b, rtol=1e-5 if single else 1e-10, atol=1e-7 if single else 1e-12)


def arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def mlp_pair(torch, dropout=0.0):
    """The same float64 MLP in ember and in torch."""
    e = nn.Sequential(
        nn.Linear(4, 8), nn.Tanh(), nn.Dropout(dropout), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
    ).double()
    t = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.Tanh(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(8, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    ).double()
    for pe, pt in zip(e.parameters(), t.parameters()):
        pe.data = ember.tensor(pt.detach().numpy().copy())
    return e, t


def grads(params):
    return [None if p.grad is None else p.grad.numpy().copy() for p in params]


def assert_same_grads(a, b):
    assert len(a) == len(b)
    for ga, gb in zip(a, b):
        assert (ga is None) == (gb is None)
        if ga is not None:
            close(ga, gb)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_mlp_gradients_match_torch(torch, use_reentrant):
    em, tm = mlp_pair(torch)
    (xn,) = arrays(1, (5, 4))
    xe = ember.tensor(xn, requires_grad=True)
    xt = torch.tensor(xn, requires_grad=True)
    ye = checkpoint(em, xe * 2, use_reentrant=use_reentrant)
    yt = torch.utils.checkpoint.checkpoint(tm, xt * 2, use_reentrant=use_reentrant)
    close(ye, yt)
    ye.pow(2).sum().backward()
    yt.pow(2).sum().backward()
    close(xe.grad, xt.grad)
    assert_same_grads(grads(em.parameters()), [p.grad.numpy() for p in tm.parameters()])


def dropout_run(model, x, how, preserve=True):
    """Gradients of one loss through `model`, checkpointed or not, from the same seed."""
    ember.manual_seed(7)
    model.zero_grad()
    x.grad = None
    inp = x * 1.0
    if how == "plain":
        y = model(inp)
    else:
        y = checkpoint(model, inp, use_reentrant=how, preserve_rng_state=preserve)
    y.sum().backward()
    after = ember.rand(3).numpy()  # the random stream after backward
    return [x.grad.numpy().copy(), *grads(model.parameters())], after


@pytest.mark.parametrize("use_reentrant", MODES)
def test_dropout_mask_replays(torch, use_reentrant):
    em, _ = mlp_pair(torch, dropout=0.5)
    x = ember.randn(6, 4, dtype=ember.float64, requires_grad=True)
    plain, after_plain = dropout_run(em, x, "plain")
    ck, after_ck = dropout_run(em, x, use_reentrant)
    assert_same_grads(ck, plain)
    close(after_ck, after_plain)  # the recompute hands back the random state it found


@pytest.mark.parametrize("use_reentrant", MODES)
def test_preserve_rng_state_false_draws_a_new_mask(torch, use_reentrant):
    em, _ = mlp_pair(torch, dropout=0.5)
    x = ember.randn(6, 4, dtype=ember.float64, requires_grad=True)
    plain, _ = dropout_run(em, x, "plain")
    ck, _ = dropout_run(em, x, use_reentrant, preserve=False)
    assert not np.allclose(ck[0], plain[0])


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")  # reentrant outer
@pytest.mark.parametrize("outer", MODES)
@pytest.mark.parametrize("inner", MODES)
def test_nested_checkpoints(torch, outer, inner):
    wn, xn = arrays(2, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w = lib.tensor(wn, requires_grad=True)
        x = lib.tensor(xn, requires_grad=True)

        def leaf(a, w=w):
            return (a * w).sin()

        def middle(a, ck=ck):
            return ck(leaf, a * 2, use_reentrant=inner).cos() * a

        def top(a, ck=ck):
            return ck(middle, a + 1, use_reentrant=inner).exp()

        y = ck(top, x, use_reentrant=outer)
        y.sum().backward()
        results.append((y, x.grad, w.grad))
    for e, t in zip(*results):
        close(e, t)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_several_outputs_and_non_tensors(torch, use_reentrant):
    wn, xn = arrays(3, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w = lib.tensor(wn, requires_grad=True)
        x = lib.tensor(xn, requires_grad=True)

        def f(a, w=w):
            return a * w, "tag", None, a.sin(), 3, a.detach() + 1

        out = ck(f, x, use_reentrant=use_reentrant)
        assert out[1:3] == ("tag", None) and out[4] == 3
        (out[0].sum() + out[3].pow(2).sum()).backward()
        results.append((out[5].requires_grad, x.grad, w.grad, out[0], out[3]))
    assert results[0][0] == results[1][0]  # reentrant: every tensor output requires grad
    for e, t in zip(results[0][1:], results[1][1:]):
        close(e, t)


def test_nested_structures_without_reentrant(torch):
    an, bn, cn = arrays(4, (3,), (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        a, b, c = (lib.tensor(v, requires_grad=True) for v in (an, bn, cn))

        def f(pair, table, scale=1.0):
            return [pair[0] * pair[1], {"k": table["v"].exp() * scale}]

        out = ck(f, (a, b), {"v": c}, scale=2.5, use_reentrant=False)
        (out[0].sum() + out[1]["k"].sum()).backward()
        results.append((a.grad, b.grad, c.grad, out[1]["k"]))
    for e, t in zip(*results):
        close(e, t)


def test_kwargs_tensors_get_gradients(torch):
    xn, bn = arrays(5, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x, b = lib.tensor(xn, requires_grad=True), lib.tensor(bn, requires_grad=True)
        ck(lambda a, bias: (a + bias).tanh(), x, bias=b, use_reentrant=False).sum().backward()
        results.append((x.grad, b.grad))
    for e, t in zip(*results):
        close(e, t)


def test_reentrant_refuses_kwargs_context_fn_and_debug(torch):
    x = ember.ones(2, requires_grad=True)
    xt = torch.ones(2, requires_grad=True)
    cases = [
        dict(bias=x),
        dict(context_fn=lambda: None),
        dict(debug=True),
    ]
    for kw in cases:
        with pytest.raises(ValueError) as expected:
            torch.utils.checkpoint.checkpoint(lambda a, **k: a, xt, use_reentrant=True, **kw)
        with pytest.raises(ValueError) as got:
            checkpoint(lambda a, **k: a, x, use_reentrant=True, **kw)
        assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_inputs_without_grad(torch, use_reentrant):
    wn, zn = arrays(6, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w = lib.tensor(wn, requires_grad=True)
        z = lib.tensor(zn)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = ck(lambda a, w=w: a * w, z, use_reentrant=use_reentrant)
        messages = [str(m.message) for m in caught]
        if y.requires_grad:
            y.sum().backward()
        results.append((y.requires_grad, messages, w.grad))
    (e_req, e_msg, e_grad), (t_req, t_msg, t_grad) = results
    assert e_req == t_req  # reentrant: no input requires grad, so w gets nothing
    assert e_msg == t_msg
    assert (e_grad is None) == (t_grad is None)
    if t_grad is not None:
        close(e_grad, t_grad)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_some_inputs_without_grad(torch, use_reentrant):
    xn, mn = arrays(7, (4,), (4,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.tensor(xn, requires_grad=True)
        mask = lib.tensor(mn) > 0
        idx = lib.tensor([2, 0])
        y = ck(lambda a, m, i: (a * m)[i].sin(), x, mask, idx, use_reentrant=use_reentrant)
        y.sum().backward()
        results.append(x.grad)
    close(*results)


@pytest.mark.parametrize("use_reentrant", MODES)
@pytest.mark.parametrize("segments", [1, 2, 3])
def test_checkpoint_sequential_matches_torch(torch, use_reentrant, segments):
    em, tm = mlp_pair(torch)
    (xn,) = arrays(8, (5, 4))
    xe = ember.tensor(xn, requires_grad=True)
    xt = torch.tensor(xn, requires_grad=True)
    ye = checkpoint_sequential(em, segments, xe, use_reentrant=use_reentrant)
    yt = torch.utils.checkpoint.checkpoint_sequential(tm, segments, xt, use_reentrant)
    close(ye, yt)
    ye.pow(2).sum().backward()
    yt.pow(2).sum().backward()
    close(xe.grad, xt.grad)
    assert_same_grads(grads(em.parameters()), [p.grad.numpy() for p in tm.parameters()])


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_sequential_with_dropout_and_a_list(torch, use_reentrant):
    em, _ = mlp_pair(torch, dropout=0.5)
    x = ember.randn(6, 4, dtype=ember.float64, requires_grad=True)
    plain, _ = dropout_run(em, x, "plain")
    ember.manual_seed(7)
    em.zero_grad()
    x.grad = None
    layers = list(em.children())
    checkpoint_sequential(layers, 3, x * 1.0, use_reentrant=use_reentrant).sum().backward()
    assert_same_grads([x.grad.numpy(), *grads(em.parameters())], plain)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential(layers, 2, x, use_reentrant=use_reentrant, foo=1)


def test_use_reentrant_must_be_explicit(torch):
    x = ember.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        y = checkpoint(lambda a: a * 2, x)
    assert y.grad_fn.name() == "CheckpointFunctionBackward"  # True, as torch 2.13
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint_sequential(nn.Sequential(nn.Tanh()), 1, x)
    xt = torch.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        yt = torch.utils.checkpoint.checkpoint(lambda a: a * 2, xt)
    assert type(yt.grad_fn).__name__ == "CheckpointFunctionBackward"


def test_reentrant_refuses_autograd_grad_and_inputs(torch):
    messages = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as by_grad:
            lib.autograd.grad(ck(lambda a: a.sin(), x, use_reentrant=True).sum(), x)
        with pytest.raises(RuntimeError) as by_inputs:
            ck(lambda a: a.sin(), x, use_reentrant=True).sum().backward(inputs=[x])
        messages += [str(by_grad.value), str(by_inputs.value)]
    assert len(set(messages)) == 1  # PyTorch's wording, both ways


def test_reentrant_inside_non_reentrant(torch):
    wn, xn = arrays(9, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w, x = lib.tensor(wn, requires_grad=True), lib.tensor(xn, requires_grad=True)

        def outer(a, ck=ck, w=w):
            return ck(lambda b: (b * w).sin(), a * 2, use_reentrant=True).cos()

        ck(outer, x, use_reentrant=False).sum().backward()  # a plain backward: allowed
        results.append((x.grad, w.grad))
        with pytest.raises(RuntimeError, match="incompatible with .grad()"):
            lib.autograd.grad(ck(outer, x, use_reentrant=False).sum(), [x, w])
    for e, t in zip(*results):
        close(e, t)


def test_non_reentrant_supports_grad_inputs_and_create_graph(torch):
    wn, xn = arrays(10, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w, x0 = lib.tensor(wn, requires_grad=True), lib.tensor(xn, requires_grad=True)
        f = lambda a, w=w: (a * w).sin() * a  # noqa: E731
        gx, gw = lib.autograd.grad(ck(f, x0 * 1.5, use_reentrant=False).sum(), [x0, w])
        ck(f, x0 * 1.5, use_reentrant=False).sum().backward(inputs=[x0])
        assert w.grad is None
        # a gradient penalty: the checkpointed gradient is itself differentiated
        (g,) = lib.autograd.grad(ck(f, x0 * 1.5, use_reentrant=False).sum(), x0, create_graph=True)
        hx, hw = lib.autograd.grad(g.pow(2).sum(), [x0, w])
        results.append((gx, gw, x0.grad, hx, hw))
    for e, t in zip(*results):
        close(e, t)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_shared_weights_across_steps(torch, use_reentrant):
    """An RNN-like loop: the same parameter inside every checkpoint and upstream of each
    input (counted once per use, never twice)."""
    wn, xn = arrays(11, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w, h = lib.tensor(wn, requires_grad=True), lib.tensor(xn, requires_grad=True)
        x = h
        for _ in range(4):
            h = ck(lambda a, w=w: (a * w).tanh() + a, h, use_reentrant=use_reentrant)
        h.sum().backward()
        results.append((x.grad, w.grad))
    for e, t in zip(*results):
        close(e, t)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_captured_tensor_with_history(torch, use_reentrant):
    wn, xn = arrays(12, (3,), (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        w, x = lib.tensor(wn, requires_grad=True), lib.tensor(xn, requires_grad=True)
        h = w.exp()  # not an argument: reached through the closure
        y = ck(lambda a, h=h: (a * h).sin(), x, use_reentrant=use_reentrant)
        y.sum().backward()
        first = (x.grad, w.grad)
        # when the surrounding loss also backpropagates through h, pass h as an argument
        x.grad = w.grad = None
        h = w.exp()
        y = ck(lambda a, b: (a * b).sin(), x, h, use_reentrant=use_reentrant)
        (y.sum() + h.sum()).backward()
        results.append((*first, x.grad, w.grad))
    for e, t in zip(*results):
        close(e, t)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_an_input_passed_twice(torch, use_reentrant):
    (xn,) = arrays(13, (3,))
    results = []
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.tensor(xn, requires_grad=True)
        ck(lambda a, b: a.sin() * b.exp(), x, x, use_reentrant=use_reentrant).sum().backward()
        results.append(x.grad)
    close(*results)


def test_returning_an_input(torch):
    x = ember.ones(2, requires_grad=True)
    assert checkpoint(lambda a: a, x, use_reentrant=False) is x  # as torch
    y = checkpoint(lambda a: a, x, use_reentrant=True)
    assert y is not x and y.grad_fn.name() == "CheckpointFunctionBackward"
    xt = torch.ones(2, requires_grad=True)
    assert torch.utils.checkpoint.checkpoint(lambda a: a, xt, use_reentrant=False) is xt


@pytest.mark.parametrize("use_reentrant", MODES)
def test_under_no_grad(use_reentrant):
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = checkpoint(lambda a: a * 3, x, use_reentrant=use_reentrant)
    assert not y.requires_grad
    close(y, np.full(2, 3.0))


@pytest.mark.parametrize("use_reentrant", MODES)
def test_second_backward_needs_retain_graph(torch, use_reentrant):
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.ones(3, requires_grad=True)
        y = ck(lambda a: a.sin(), x * 2, use_reentrant=use_reentrant).sum()
        y.backward(retain_graph=True)
        y.backward()
        close(x.grad, 4 * np.cos(np.full(3, 2.0)))
        y = ck(lambda a: a.sin(), x * 2, use_reentrant=use_reentrant).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


@pytest.mark.parametrize("use_reentrant", MODES)
def test_input_changed_in_place_raises(torch, use_reentrant):
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.ones(3, requires_grad=True) * 1
        y = ck(lambda a: a.sin(), x, use_reentrant=use_reentrant)
        x.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_reentrant_needs_an_output_that_requires_grad(torch):
    for lib, ck in ((ember, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        x = lib.ones(3, requires_grad=True)
        y = ck(lambda a: a.detach() * 2, x, use_reentrant=True)
        with pytest.raises(RuntimeError, match="none of output has requires_grad=True"):
            y.sum().backward()


def test_context_fn_wraps_forward_and_recompute(torch):
    import contextlib

    seen = []

    @contextlib.contextmanager
    def tag(name):
        seen.append(name)
        yield

    x = ember.ones(3, requires_grad=True)
    y = checkpoint(
        lambda a: a.sin(),
        x,
        use_reentrant=False,
        context_fn=lambda: (tag("forward"), tag("recompute")),
    )
    assert seen == ["forward"]
    y.sum().backward()
    assert seen == ["forward", "recompute"]


def test_determinism_check(torch):
    calls = []

    def grows(a):
        calls.append(1)
        return a[: len(calls) + 1].sin()

    x = ember.ones(4, requires_grad=True)
    y = checkpoint(grows, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="different metadata"):
        y.sum().backward()
    assert issubclass(CheckpointError, RuntimeError)
    with pytest.raises(ValueError) as got:
        checkpoint(grows, x, use_reentrant=False, determinism_check="bytes")
    with pytest.raises(ValueError) as expected:
        torch.utils.checkpoint.checkpoint(
            grows, torch.ones(4), use_reentrant=False, determinism_check="bytes"
        )
    assert str(got.value) == str(expected.value)
    calls.clear()
    same = checkpoint(lambda a: a.exp(), x, use_reentrant=False, determinism_check="none")
    same.sum().backward()
    close(x.grad, np.exp(np.ones(4)))


def test_early_stop_is_accepted():
    x = ember.ones(3, requires_grad=True)
    with set_checkpoint_early_stop(False):
        checkpoint(lambda a: a.sin(), x, use_reentrant=False, early_stop=False).sum().backward()
    close(x.grad, np.cos(np.ones(3)))


@pytest.mark.parametrize("use_reentrant", MODES)
def test_intermediates_are_not_kept(use_reentrant):
    inside = []

    def f(a):
        h = a.exp()
        inside.append(weakref.ref(h))
        return h.sin()

    x = ember.ones(3, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=use_reentrant)
    gc.collect()
    assert inside[0]() is None  # exp's output is not held for backward
    y.sum().backward()
    close(x.grad, np.cos(np.exp(np.ones(3))) * np.exp(np.ones(3)))
    plain = f(x)
    assert inside[-1]() is not None and plain.requires_grad  # without checkpoint it is


def test_non_reentrant_under_saved_tensor_hooks(torch):
    """Saved-tensor hooks may hand back copies of what was saved (ember's
    allow_mutation_on_saved_tensors does): the checkpoint still sends the gradients of
    captured parameters to the parameters themselves."""
    em, tm = mlp_pair(torch)
    (xn,) = arrays(14, (5, 4))
    results = []
    for lib, model, ck in (
        (ember, em, checkpoint),
        (torch, tm, torch.utils.checkpoint.checkpoint),
    ):
        x = lib.tensor(xn, requires_grad=True)
        with lib.autograd.graph.allow_mutation_on_saved_tensors():
            y = ck(model, x * 2, use_reentrant=False)
            y.pow(2).sum().backward()
        results.append([x.grad] + [p.grad for p in model.parameters()])
    for e, t in zip(*results):
        close(e, t)

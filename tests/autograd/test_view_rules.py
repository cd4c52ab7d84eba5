"""Views and in-place ops: which changes are refused, how a stale view follows its base, and
the Tensor attributes around them. Each `lib` case runs the same code on ember and PyTorch."""

import numpy as np
import pytest

import ember

MULTI = "This view is the output of a function that returns multiple views"
NO_GRAD = "A view was created in no_grad mode and is being modified inplace with grad mode"


def values(t):
    return np.array(t.detach().tolist())


@pytest.mark.parametrize("split", ["split", "chunk", "unbind"])
def test_a_view_among_several_outputs_is_not_changed_in_place(lib, split):
    b = lib.ones(3, 3, requires_grad=True) * 2
    pieces = {
        "split": lambda: b.split(1),
        "chunk": lambda: b.chunk(3),
        "unbind": lambda: b.unbind(),
    }[split]()
    with pytest.raises(RuntimeError, match=MULTI):
        pieces[0].mul_(pieces[1])
    assert values(b).tolist() == [[2.0] * 3] * 3  # refused before anything changed
    b.mul_(2)  # through the base: using a piece afterwards raises
    with pytest.raises(RuntimeError, match="its base or another view of its base has been"):
        pieces[0].sum().backward()


def test_a_view_made_in_no_grad_is_not_changed_in_place_with_grad(lib):
    a = lib.ones(3, requires_grad=True)
    base = a * 1
    with lib.no_grad():
        v = base[:2]
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    with pytest.raises(RuntimeError, match=NO_GRAD):
        v.mul_(2)
    with lib.no_grad():
        v.mul_(2)  # both inside the block: allowed, and its grad_fn can no longer be made
    assert values(base).tolist() == [2.0, 2.0, 1.0]
    with pytest.raises(RuntimeError, match="its base or another view of its base"):
        _ = v.grad_fn
    assert repr(v) == "tensor([2., 2.], grad_fn=<Invalid>)"


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_a_view_of_such_a_view_is_refused_too(lib, mode):
    x = lib.zeros(2)
    with getattr(lib, mode)():
        y = x.view(2)
    y.requires_grad_(True)
    z = y.view(2)
    where = "no_grad block" if mode == "no_grad" else "inference_mode block"
    message = f"is a view of a view .* is being .* inside the {where}"
    with pytest.raises(RuntimeError, match=message):
        z /= 2


def test_a_view_of_a_leaf_that_requires_grad(lib):
    x = lib.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x.view_as(x).add_(1)
    a = lib.zeros(3)
    b = a[:]
    a.requires_grad = True  # b was made before: it is still a view of a leaf that requires grad
    assert b.requires_grad
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        b.add_(5)


def _grads_after_base_change(lib, make_view):
    a = lib.arange(1.0, 7.0, dtype=lib.float64).reshape(3, 2).requires_grad_(True)
    b = a * 1
    v = make_view(b)
    b.mul_(3)  # v now holds three times its old values
    (v * v).sum().backward()
    return a.grad.tolist()


@pytest.mark.parametrize(
    "make_view",
    [
        lambda b: b[:1].expand(3, 2),
        lambda b: b.diagonal(),
        lambda b: b.t(),
        lambda b: b[1],
    ],
    ids=["expand", "diagonal", "t", "index"],
)
def test_a_view_made_before_its_base_changed_follows_the_change(torch, make_view):
    assert _grads_after_base_change(ember, make_view) == _grads_after_base_change(torch, make_view)


def test_in_place_on_a_view_without_a_write_back_of_its_own(torch):
    results = []
    for lib in (ember, torch):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([5.0, -1.0], dtype=lib.float64, requires_grad=True)
        b = a * 2
        b.diagonal().mul_(w)
        (b * b).sum().backward()
        results.append((values(b), a.grad.tolist(), w.grad.tolist()))
    (ours_b, ours_a, ours_w), (theirs_b, theirs_a, theirs_w) = results
    np.testing.assert_allclose(ours_b, theirs_b)
    assert ours_a == theirs_a and ours_w == theirs_w


def test_a_view_that_needed_no_grad_follows_its_base_into_the_graph(lib):
    r = lib.tensor([2.0], requires_grad=True)
    x = lib.ones(5)
    v = x[1:3]
    assert not v.requires_grad and v.grad_fn is None
    x.add_(r)  # the base now depends on r, and so does v
    assert v.requires_grad
    (v * 3).sum().backward()
    assert r.grad.tolist() == [6.0]


def test_hooks_and_retained_grads_after_in_place_on_a_view(lib):
    fired = []
    base = lib.tensor([1.0], requires_grad=True) * 1
    view, sibling = base[:], base[:]
    view.register_hook(lambda g: fired.append("old view node"))
    sibling.register_hook(lambda g: fired.append("old sibling node"))
    view.retain_grad()
    sibling.retain_grad()
    view.mul_(2)
    assert sibling.grad_fn is not None  # reading it re-makes it from the changed base
    sibling.register_hook(lambda g: fired.append("new sibling node"))
    (view + sibling).sum().backward()
    assert fired == ["new sibling node"]  # hooks on the replaced nodes never run
    assert view.grad.tolist() == [1.0] and sibling.grad.tolist() == [1.0]


def test_views_in_inference_mode(lib):
    with lib.inference_mode():
        c = lib.ones(2, 3, requires_grad=True)
    out = c.view(-1)  # a view of an inference tensor: an inference tensor, no view
    assert lib.is_inference(out) and not out.requires_grad and not out._is_view()

    a = lib.ones(2, 3, requires_grad=True) * 1
    with lib.inference_mode():
        v = a.view(-1)  # a view of a normal tensor: normal, requires grad, a leaf
        assert not lib.is_inference(v) and v.requires_grad and v._is_view() and v.is_leaf
    with pytest.raises(RuntimeError, match="created in inference mode and is being modified"):
        v.add_(2)
    a.add_(2)
    with pytest.raises(RuntimeError, match="inference mode and its base or another view"):
        _ = v.grad_fn


def test_tensor_attributes(lib):
    x = lib.randn(2, 2, requires_grad=True)
    for name in ("data", "requires_grad", "_grad_fn", "_backward_hooks"):
        with pytest.raises(RuntimeError):
            delattr(x, name)
    with pytest.raises(TypeError):
        x.data = None
    with pytest.raises(RuntimeError, match="must be floating point"):
        x.data = lib.tensor([1, 2])
    x.data = lib.zeros(3)
    assert x.shape == (3,) and x.requires_grad
    with pytest.raises(RuntimeError, match="Use tensor.detach"):
        x.numpy()
    with lib.no_grad():
        assert x.numpy().tolist() == [0.0, 0.0, 0.0]


def test_backward_hooks_attribute():
    calls = []
    x = ember.ones(2, requires_grad=True)
    assert x._backward_hooks is None
    x._backward_hooks = {}
    x._backward_hooks["double"] = lambda g: calls.append(g.tolist()) or g * 2
    (x * 3).sum().backward()
    assert calls == [[3.0, 3.0]] and x.grad.tolist() == [6.0, 6.0]
    with pytest.raises(TypeError):
        x._backward_hooks = [print]


def test_an_integer_index_of_a_1d_tensor_is_a_0d_view(lib):
    """x[1] of a 1-d tensor is a view in PyTorch; NumPy's x[1] is a scalar copy, so an
    in-place op on it used to change nothing."""
    x = lib.zeros(3)
    x[1].fill_(3)
    x.select(0, 2).add_(5)
    assert x.tolist() == [0.0, 3.0, 5.0]
    w = lib.ones(3, requires_grad=True)
    v = w * 1
    v[1].mul_(4)
    v.sum().backward()
    assert w.grad.tolist() == [1.0, 4.0, 1.0]


def test_unsafe_split_pieces_may_change_in_place(lib):
    base = lib.ones(4, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="returns multiple views"):
        base.split(2)[0].mul_(2)
    first, second = lib.unsafe_split(base, 2)
    first.mul_(3)
    (first.sum() + second.sum()).backward()  # both pieces reach base's graph


def test_a_view_returned_by_a_custom_forward_may_not_change_in_place(lib):
    class Narrow(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.narrow(0, 0, 2)

        @staticmethod
        def backward(ctx, grad):
            return lib.cat([grad, grad.new_zeros(2)])

    out = Narrow.apply(lib.ones(4, requires_grad=True) * 1)
    with pytest.raises(RuntimeError, match="inside a custom Function"):
        out.mul_(2)

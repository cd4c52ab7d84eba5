"""autograd.Function's rules, each case run in ember and in PyTorch: backward/vjp, saved tensors
read once, gradient materialization, mark_dirty and inputs returned as outputs, forward-mode
jvp checks, and the small helpers of torch.autograd's namespace."""

from __future__ import annotations

import warnings

import pytest

import ember


def _fn(lib, forward, backward=None, jvp=None, **attrs):
    """A custom Function class from plain functions (a static method for each one given)."""
    body = {"forward": staticmethod(forward), **attrs}
    if backward is not None:
        body["backward"] = staticmethod(backward)
    if jvp is not None:
        body["jvp"] = staticmethod(jvp)
    return type("Fn", (lib.autograd.Function,), body)


def test_backward_or_vjp_but_not_both(lib):
    x = lib.tensor([1.0], requires_grad=True)
    none = _fn(lib, lambda ctx, a: a.clone())
    with pytest.raises(NotImplementedError, match="must implement either the backward or vjp"):
        none.apply(x).sum().backward()
    both = _fn(lib, lambda ctx, a: a.clone(), lambda ctx, g: g, vjp=staticmethod(lambda c, g: g))
    with pytest.raises(RuntimeError, match="Implementing both 'backward' and 'vjp'"):
        both.apply(x).sum().backward()
    only_vjp = _fn(lib, lambda ctx, a: a * 2, vjp=staticmethod(lambda ctx, g: g * 2))
    only_vjp.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0]
    with pytest.raises(NotImplementedError, match="must implement the forward"):
        _fn(lib, lib.autograd.Function.forward).apply(x)


def test_saved_tensors_read_once_when_asked(lib):
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x

    def save(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    once = _fn(lib, save, backward, clear_saved_tensors_on_access=True)
    x = lib.tensor([3.0], requires_grad=True)
    y = once.apply(x)
    y.sum().backward(retain_graph=True)
    assert x.grad.tolist() == [3.0]
    with pytest.raises(RuntimeError, match="can only be accessed once"):
        _ = y.grad_fn.saved_tensors

    def twice(ctx, g):
        _ = ctx.saved_tensors
        return ctx.saved_tensors[0] * g

    with pytest.raises(RuntimeError, match="can only be accessed once"):
        _fn(lib, save, twice, clear_saved_tensors_on_access=True).apply(x).sum().backward()


def test_saved_variables_is_deprecated(lib):
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * 2

    fn = _fn(lib, forward, lambda ctx, g: g * 2 + 0 * ctx.saved_variables[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn.apply(lib.tensor([1.0], requires_grad=True)).sum().backward()
    assert any("saved_variables" in str(w.message) for w in caught)


def test_materialize_grads_settings(lib):
    seen = []

    def forward(ctx, a):
        ctx.set_materialize_grads(False)
        return a * 2, a * 3

    def backward(ctx, g1, g2):
        seen.append(g2)
        return g1 * 2

    x = lib.tensor([1.0], requires_grad=True)
    _fn(lib, forward, backward).apply(x)[0].sum().backward()
    assert seen == [None]

    def forward_nd(ctx, a):
        out = a.clone()
        ctx.mark_non_differentiable(out)
        ctx._materialize_non_diff_grads = False
        return a * 2, out, a * 3

    def backward_nd(ctx, g1, g2, g3):
        seen.append((g2, g3.tolist()))
        return g1 * 2

    _fn(lib, forward_nd, backward_nd).apply(x)[0].sum().backward()
    assert seen[1] == (None, [0.0])  # the unused differentiable output still gets zeros


def test_returning_an_input_gives_a_view_of_it(lib):
    same = _fn(lib, lambda ctx, a: a, lambda ctx, g: g * 5)
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    base = x.clone()
    y = same.apply(base)
    assert y is not base and y._base is base
    assert y.grad_fn is not base.grad_fn
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]
    with lib.no_grad():
        z = same.apply(base)
    assert z is not base and not z.requires_grad


def test_integer_outputs_are_not_differentiable(lib):
    fn = _fn(lib, lambda ctx, a: (a * 2, a.argmax()), lambda ctx, g, _: g * 2)
    y, index = fn.apply(lib.tensor([1.0, 3.0], requires_grad=True))
    assert y.requires_grad and not index.requires_grad


def _add_in_place(ctx, a, b):
    a.add_(b)
    ctx.mark_dirty(a)
    return a


def test_mark_dirty_returns_the_input_itself(lib):
    fn = _fn(lib, _add_in_place, lambda ctx, g: (g * 2, g * 3))
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([1.0, 1.0], requires_grad=True)
    a = x.clone()
    version = a._version
    out = fn.apply(a, b)
    assert out is a and a.grad_fn.__class__ is fn._backward_cls
    assert a._version == version + 2  # add_ and mark_dirty
    out.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [3.0, 3.0]
    plain = lib.ones(2)
    assert fn.apply(plain, b) is plain and plain.requires_grad


def test_mark_dirty_on_a_view_updates_its_base(lib):
    fn = _fn(lib, _add_in_place, lambda ctx, g: (g * 2, g * 3))
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = lib.tensor([1.0], requires_grad=True)
    base = x.clone()
    view = base[:1]
    assert fn.apply(view, b) is view
    assert base.tolist() == [2.0, 2.0, 3.0]
    (base * lib.tensor([10.0, 20.0, 30.0])).sum().backward()
    assert x.grad.tolist() == [20.0, 20.0, 30.0]
    assert b.grad.tolist() == [30.0]


def test_mark_dirty_errors(lib):
    fn = _fn(lib, _add_in_place, lambda ctx, g: (g, g))
    leaf = lib.tensor([1.0, 2.0], requires_grad=True)
    one = lib.ones(2)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad has been used"):
        fn.apply(leaf, one)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        fn.apply(leaf.view_as(leaf), one)

    def two_outputs(ctx, a, b):
        a.add_(b)
        ctx.mark_dirty(a)
        return a, a + b

    with pytest.raises(RuntimeError, match="cannot return more than one Tensor"):
        _fn(lib, two_outputs, lambda ctx, g1, g2: (g1, g2)).apply(leaf.clone()[:1], one[:1])

    def not_returned(ctx, a, b):
        a.add_(b)
        ctx.mark_dirty(a)
        return a.clone()

    with pytest.raises(RuntimeError, match="were not returned as output"):
        _fn(lib, not_returned, lambda ctx, g: (g, g)).apply(leaf.clone(), one)

    def not_input_view(ctx, a, b):
        out = a.clone().view_as(a)
        ctx.mark_dirty(out)
        return out

    with pytest.raises(RuntimeError, match="received a tensor that was not an input"):
        _fn(lib, not_input_view, lambda ctx, g: (g, g)).apply(leaf.clone(), one)

    def not_input(ctx, a, b):
        out = a * 3
        ctx.mark_dirty(out)
        return out

    with pytest.warns(UserWarning, match="not an input"):
        _fn(lib, not_input, lambda ctx, g: (g, g)).apply(leaf.clone(), one)


def test_inplace_function_and_backward_cls(lib):
    class AddTo(lib.autograd.function.InplaceFunction):
        @staticmethod
        def forward(ctx, a, b):
            ctx.mark_dirty(a)
            return a.add_(b), b + 2

        @staticmethod
        def backward(ctx, ga, gb):
            return ga, ga + gb

    x = lib.zeros(2)
    y = lib.ones(2, requires_grad=True)
    q, _ = AddTo.apply(x, y)
    assert q is x and q.grad_fn.__class__ is AddTo._backward_cls
    q.sum().backward()
    assert y.grad.tolist() == [1.0, 1.0]
    assert AddTo(inplace=True).inplace


def test_vmap_defaults(lib):
    fn = _fn(lib, lambda ctx, a: a * 2, lambda ctx, g: g * 2)
    assert fn.generate_vmap_rule is False
    assert hasattr(fn, "vmap")


def test_a_custom_function_under_ember_vmap():
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    fn = _fn(ember, forward, lambda ctx, g: 2 * ctx.saved_tensors[0] * g)
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert ember.func.vmap(fn.apply)(x).tolist() == [[1.0, 4.0], [9.0, 16.0]]


def test_once_differentiable_gradients_refuse_a_second_derivative(lib):
    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, g):
            assert not lib.is_grad_enabled()
            return 2 * ctx.saved_tensors[0] * g

    x = lib.tensor([1.0, 2.0], requires_grad=True)
    v = lib.ones(2, requires_grad=True)
    (g,) = lib.autograd.grad(Square.apply(x), x, v, create_graph=True)
    assert g.requires_grad and type(g.grad_fn).__name__ == "Error"
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()


# --- forward mode ---


def test_jvp_of_an_input_returned_as_is_must_be_a_view(lib):
    fw = lib.autograd.forward_ad

    def make(rule):
        return _fn(lib, lambda ctx, x, y: (x + y, x), jvp=lambda ctx, xt, yt: (xt + yt, rule(xt)))

    a = lib.tensor(1.0, dtype=lib.float64)
    t = lib.tensor(1.0, dtype=lib.float64)
    b = lib.tensor(2.0, dtype=lib.float64)
    with fw.dual_level():
        dual = fw.make_dual(a, t)
        _, out = make(lambda xt: xt.view_as(xt)).apply(dual, b)
        assert fw.unpack_dual(out).tangent._base is t
        for rule in (lambda xt: xt, lambda xt: xt * 2):
            with pytest.raises(RuntimeError, match="jvp is not returning a view"):
                make(rule).apply(dual, b)


def test_jvp_of_a_view_must_view_the_input_tangent(lib):
    fw = lib.autograd.forward_ad

    def make(rule):
        return _fn(lib, lambda ctx, x: x.narrow(0, 0, 2), jvp=lambda ctx, xt: rule(xt))

    primal = lib.ones(4, dtype=lib.float64)
    with fw.dual_level():
        dual = fw.make_dual(primal, lib.arange(4.0, dtype=lib.float64))
        out = make(lambda xt: xt.narrow(0, 0, 2)).apply(dual)
        assert fw.unpack_dual(out).tangent.tolist() == [0.0, 1.0]
        with pytest.raises(RuntimeError, match="jvp is not returning a view"):
            make(lambda xt: xt.narrow(0, 0, 2).clone()).apply(dual)
        with pytest.raises(RuntimeError, match="not returning a view of the given grad input"):
            make(lambda xt: xt.narrow(0, 0, 2).clone().view_as(xt[:2])).apply(dual)


def test_jvp_of_an_inplace_function_must_change_the_tangent_in_place(lib):
    fw = lib.autograd.forward_ad

    def forward(ctx, x):
        x.mul_(2)
        ctx.mark_dirty(x)
        return x

    def good(ctx, xt):
        return xt.mul_(2)

    with fw.dual_level():
        tangent = lib.ones(2)
        dual = fw.make_dual(lib.ones(2), tangent)
        out = _fn(lib, forward, jvp=good).apply(dual)
        assert out is dual and fw.unpack_dual(out).tangent is tangent
        assert tangent.tolist() == [2.0, 2.0]
        with pytest.raises(RuntimeError, match="must modify the corresponding gradient inplace"):
            _fn(lib, forward, jvp=lambda ctx, xt: xt).apply(dual)
        with pytest.raises(RuntimeError, match="not returning the forward mode gradients as-is"):
            _fn(lib, forward, jvp=lambda ctx, xt: xt.clone().mul_(2).mul_(2)).apply(dual)


def test_jvp_and_non_differentiable_outputs(lib):
    fw = lib.autograd.forward_ad

    def forward(ctx, x, y):
        out = y.clone()
        ctx.mark_non_differentiable(out)
        return x.clone(), out

    seen = []

    def jvp(ctx, xt, yt):
        seen.append(yt)
        return xt, None

    x, y = lib.tensor(2.0), lib.tensor(3.0)
    with fw.dual_level():
        dual = fw.make_dual(x, lib.tensor(1.0))
        _, second = _fn(lib, forward, jvp=jvp).apply(dual, y)
        assert fw.unpack_dual(second).tangent is None
        assert seen[0].tolist() == 0.0  # an input without a tangent gets zeros
        _fn(lib, forward, jvp=jvp).apply(dual, lib.tensor(3))
        assert seen[1] is None  # an integer input gets None
        with pytest.raises(RuntimeError, match="You should return None at that position"):
            _fn(lib, forward, jvp=lambda ctx, xt, yt: (xt, xt.clone())).apply(dual, y)
        with pytest.raises(RuntimeError, match="invalid number of forward gradients"):
            _fn(lib, forward, jvp=lambda ctx, xt, yt: (xt,)).apply(dual, y)


def test_save_for_forward_is_what_jvp_reads(lib):
    fw = lib.autograd.forward_ad
    seen = []

    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x, y)
        return x * y

    def jvp(ctx, xt, yt):
        x, y = ctx.saved_tensors
        seen.append(len(ctx.saved_tensors))
        return y * xt + x * yt

    def vjp(ctx, g):
        seen.append(len(ctx.saved_tensors))
        return g, g

    fn = _fn(lib, forward, vjp, jvp)
    a = lib.tensor(3.0, requires_grad=True)
    b = lib.tensor(5.0, requires_grad=True)
    with fw.dual_level():
        out = fn.apply(fw.make_dual(a, lib.tensor(1.0)), b)
        assert fw.unpack_dual(out).tangent.item() == 5.0
        out.backward()
    assert seen == [2, 1]


def test_calculate_shape_and_preserve_version_counter(lib):
    out = lib.ones(10, 5, requires_grad=True)
    assert lib.autograd._calculate_shape(out, lib.ones(5, 10), False) == ((10, 5), (5, 10))
    assert lib.autograd._calculate_shape(out, lib.ones(3, 5, 10), True) == ((10, 5), (5, 10))
    x = lib.ones(2, requires_grad=True).clone()
    x.add_(1)
    with lib.autograd._unsafe_preserve_version_counter(x):
        x.mul_(2)
    assert x._version == 1
    y = lib.ones(2)
    with lib.autograd._unsafe_preserve_version_counter((x, y)):
        x.mul_(2)
        y.mul_(3)
    assert (x._version, y._version) == (1, 0)

"""What a node saved for backward, seen from Python: grad_fn._saved_<name>, _raw_saved_<name>
(SavedTensor and its hooks), and allow_mutation_on_saved_tensors' bookkeeping."""

from __future__ import annotations

import pytest

import ember


def test_saved_values_are_named_after_the_op_arguments(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = a * b
    assert c.grad_fn._saved_self is a
    assert c.grad_fn._saved_other is b
    e = lib.exp(a)
    assert e.grad_fn._saved_result is not e
    assert e.grad_fn._saved_result.tolist() == e.tolist()
    assert e.grad_fn._saved_result.grad_fn is e.grad_fn
    p = a**3
    assert p.grad_fn._saved_self is a
    assert p.grad_fn._saved_exponent == 3
    s = lib.sin(a)
    assert s.grad_fn._saved_self is a
    assert lib.stack([a, b], dim=1).grad_fn._saved_dim == 1


def test_operand_not_saved_when_the_other_needs_no_grad(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0])
    y = a * b
    assert y.grad_fn._saved_self is None  # only needed for b's gradient
    assert y.grad_fn._saved_other is b


def test_unknown_saved_name_is_an_attribute_error(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AttributeError, match="_saved_nothing"):
        _ = (a * a).grad_fn._saved_nothing


def test_saved_values_are_freed_by_backward(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y = a * a
    raw = y.grad_fn._raw_saved_self
    y.sum().backward()
    with pytest.raises(RuntimeError, match="after they have already been freed"):
        _ = y.grad_fn._saved_self
    assert raw.data is None
    with pytest.raises(RuntimeError, match="after it has been freed"):
        y.grad_fn._raw_saved_self.register_hooks(lambda x: x, lambda x: x)


def test_saved_output_shares_the_version_counter(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.exp(a)
    unpacked = b.grad_fn._saved_result
    with lib.no_grad():
        b += 1
    assert unpacked._version == b._version
    assert unpacked.tolist() == b.tolist()


def test_raw_saved_tensor_data_and_hook(lib):
    a = lib.tensor(2.0, requires_grad=True)

    def unpack(x):
        return x

    with lib.autograd.graph.saved_tensors_hooks(lambda x: x, unpack):
        b = a**2
    c = b.exp()
    d = c**2
    assert b.grad_fn._raw_saved_self.data is a
    assert b.grad_fn._raw_saved_self.unpack_hook is unpack
    assert c.grad_fn._raw_saved_result.data is not c  # an output comes back detached
    assert c.grad_fn._raw_saved_result.unpack_hook is None
    assert d.grad_fn._raw_saved_self.data is c


def test_register_hooks_on_one_saved_value(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y = a * a
    y.grad_fn._raw_saved_self.register_hooks(lambda x: 2 * x, lambda x: x)
    assert y.grad_fn._saved_self.tolist() == [2.0, 4.0]
    assert y.grad_fn._saved_other is a
    y.sum().backward()
    assert a.grad.tolist() == [3.0, 6.0]  # grad * (2a) + grad * a


def test_register_hooks_keeps_the_graph_position(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    a = x + 1
    y = a**3
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    assert y.grad_fn._saved_self.grad_fn is a.grad_fn
    (g,) = lib.autograd.grad(y.sum(), (x,), create_graph=True)
    g.sum().backward()
    assert x.grad.tolist() == [12.0, 18.0]  # 6 (x + 1)


def test_register_hooks_on_a_leaf_accumulates_into_it(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y = a**3
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    (g,) = lib.autograd.grad(y.sum(), (a,), create_graph=True)
    g.sum().backward()
    assert a.grad.tolist() == [6.0, 12.0]


def test_register_hooks_errors(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([1.0, 2.0])
    raw = (a * a).grad_fn._raw_saved_self
    with pytest.raises(TypeError, match="incompatible function arguments"):
        raw.register_hooks(lambda x: x)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        raw.register_hooks(1, 1)
    raw.register_hooks(lambda x: x, lambda x: x)
    with pytest.raises(RuntimeError, match="already been set"):
        raw.register_hooks(lambda x: x, lambda x: x)
    with pytest.raises(RuntimeError, match="None is forbidden"):
        (a * b).grad_fn._raw_saved_self.register_hooks(lambda x: x, lambda x: x)


def test_unpack_hook_must_return_a_tensor(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y = a * a
    y.grad_fn._raw_saved_self.register_hooks(lambda x: x, lambda x: 1)
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor"):
        _ = y.grad_fn._saved_self


def test_pack_hook_may_not_modify_its_input(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)

    def inc(x):
        x += 1
        return x

    with lib.autograd.graph.saved_tensors_hooks(inc, lambda x: x):
        with pytest.raises(RuntimeError, match="pack hook is modifying its input in place"):
            lib.exp(a)
    y = lib.exp(a)
    with pytest.raises(RuntimeError, match="pack hook is modifying its input in place"):
        y.grad_fn._raw_saved_result.register_hooks(inc, lambda x: x)


def test_saved_tensor_cannot_be_constructed():
    with pytest.raises(RuntimeError, match="SavedTensor object from Python is forbidden"):
        ember.autograd.SavedTensor()


def test_custom_function_saved_tensors(lib):
    class Keep(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y = Keep.apply(a)
    raw = y.grad_fn._raw_saved_tensors
    assert len(raw) == 2 and raw[0].data is a
    with pytest.raises(RuntimeError, match="None is forbidden"):
        raw[1].register_hooks(lambda x: x, lambda x: x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="after they have already been freed"):
        _ = y.grad_fn._raw_saved_tensors


def test_custom_function_that_saves_nothing(lib):
    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Double.apply(lib.tensor([1.0], requires_grad=True))
    assert y.grad_fn._raw_saved_tensors == ()
    assert y.grad_fn.saved_tensors == ()


def test_hooks_entered_inside_unpack_do_not_leak(lib):
    entered = []

    def unpack(x):
        ctx = lib.autograd.graph.saved_tensors_hooks(lambda t: 1 / 0, lambda t: t)
        ctx.__enter__()
        entered.append(ctx)
        return x

    x = lib.tensor([1.0, 2.0], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(lambda t: t, unpack):
        y = x.sin()
    y.sum().backward()
    assert entered
    lib.exp(x)  # no pack hook is left in force


def test_mutation_context_tracks_saved_and_changed_tensors(lib):
    with lib.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
        a = lib.tensor([1.0, 2.0], requires_grad=True).clone()
        out = (a**2).sum()
        assert len(ctx.tid_to_weakhandle) == 1
        assert len(ctx.cloned) == 0
        a.sin_()
        assert len(ctx.cloned) == 1
        out.backward()
        assert len(ctx.cloned) == 0
        b = a**2
        c = a**2  # the same tensor at the same version is held once
        a.sin_()
        assert len(ctx.cloned) == 1
        del b, c
        assert len(ctx.cloned) == 0
    assert len(ctx.tid_to_weakhandle) == 0


def test_mutation_context_uses_the_saved_values(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    with lib.autograd.graph.allow_mutation_on_saved_tensors():
        b = x.clone()
        out = (b**2).sum()
        b.mul_(10)
        out.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_mutation_context_backward_outside_and_nesting(lib):
    with lib.autograd.graph.allow_mutation_on_saved_tensors():
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        out = (a**2).sum()
        with pytest.raises(RuntimeError, match="cannot be nested"):
            with lib.autograd.graph.allow_mutation_on_saved_tensors():
                pass
    with pytest.raises(AssertionError, match="Trying to backward outside"):
        out.backward()
    with lib.autograd.graph.allow_mutation_on_saved_tensors():
        with pytest.raises(AssertionError, match="Trying to backward outside"):
            out.backward()


def test_saved_output_is_named_result_under_default_hooks(lib):
    with lib.autograd.graph.saved_tensors_hooks(lambda x: x, lambda x: x):
        a = lib.randn(5, requires_grad=True)
        y = lib.exp(a)
        assert y.grad_fn._saved_result.tolist() == y.tolist()
        y.sum().backward()
    assert a.grad.tolist() == y.tolist()

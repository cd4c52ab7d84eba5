"""Forward-mode AD (ember.autograd.forward_ad): dual tensors, levels, custom Functions' jvp,
in-place ops, and mixing with reverse mode; against PyTorch."""

from __future__ import annotations

import pytest

import ember


def fwad(lib):
    return lib.autograd.forward_ad


def test_a_dual_tensor_carries_its_tangent_through_ops(lib):
    fw = fwad(lib)
    with fw.dual_level():
        x = fw.make_dual(lib.tensor([0.5, 1.0]), lib.tensor([1.0, 2.0]))
        y = (x * x).sin().sum()
        primal, tangent = fw.unpack_dual(y)
        assert fw.unpack_dual(x).tangent.tolist() == [1.0, 2.0]
    # d/dt sum(sin(x^2)) along v = sum(cos(x^2) * 2x * v)
    import math

    expected = sum(math.cos(a * a) * 2 * a * v for a, v in ((0.5, 1.0), (1.0, 2.0)))
    assert tangent.item() == pytest.approx(expected)
    assert primal.item() == pytest.approx(math.sin(0.25) + math.sin(1.0))


def test_levels_and_errors(lib):
    fw = fwad(lib)
    with pytest.raises(RuntimeError, match="no level exists"):
        fw.make_dual(lib.ones(2), lib.ones(2))
    with fw.dual_level():
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            with fw.dual_level():
                pass
        with pytest.raises(RuntimeError, match="different size"):
            fw.make_dual(lib.ones(2), lib.ones(3))
        x = fw.make_dual(lib.ones(2), lib.ones(2))
        assert fw.unpack_dual(lib.ones(2) * 2).tangent is None  # no dual input: no tangent
        y = x * 3
    assert fw.unpack_dual(y).tangent is None  # leaving the level drops every tangent


def test_inplace_ops_carry_tangents(lib):
    fw = fwad(lib)
    with fw.dual_level():
        x = fw.make_dual(lib.ones(3), lib.tensor([1.0, 2.0, 3.0]))
        w = x.clone()
        w.mul_(3)
        assert fw.unpack_dual(w).tangent.tolist() == [3.0, 6.0, 9.0]
        w[0] = 5.0  # a constant now: its tangent is 0
        assert fw.unpack_dual(w).tangent.tolist() == [0.0, 6.0, 9.0]
        z = lib.zeros(3)
        z.copy_(x)
        assert fw.unpack_dual(z).tangent.tolist() == [1.0, 2.0, 3.0]


def test_custom_function_uses_its_jvp(lib):
    fw = fwad(lib)

    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    class DoubleWithJvp(Double):
        @staticmethod
        def jvp(ctx, tangent):
            return tangent * 2

    with fw.dual_level():
        x = fw.make_dual(lib.ones(2), lib.full((2,), 3.0))
        with pytest.raises(NotImplementedError, match="must implement the jvp"):
            Double.apply(x)
        y = DoubleWithJvp.apply(x)
        assert fw.unpack_dual(y).tangent.tolist() == [6.0, 6.0]
        assert fw.unpack_dual(y.exp()).tangent.tolist() == pytest.approx([6 * 7.389056] * 2)


def test_forward_and_reverse_mode_together(lib):
    fw = fwad(lib)
    p = lib.tensor([1.0, 2.0], requires_grad=True)
    with fw.dual_level():
        x = fw.make_dual(p, lib.ones(2))
        y = (x**3).sum()
        tangent = fw.unpack_dual(y).tangent
    y.backward()
    assert p.grad.tolist() == [3.0, 12.0]  # reverse mode through the dual tensor
    assert tangent.item() == pytest.approx(15.0)  # 3x^2 . (1, 1)


def test_nn_module_jvp_matches_pytorch(torch):
    import numpy as np

    rng = np.random.default_rng(0)
    weight, bias = rng.standard_normal((3, 4)), rng.standard_normal(3)
    inputs, direction = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    results = []
    for lib in (ember, torch):
        layer = lib.nn.Linear(4, 3).double()
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(weight))
            layer.bias.copy_(lib.tensor(bias))
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            x = fw.make_dual(lib.tensor(inputs), lib.tensor(direction))
            out = lib.nn.functional.gelu(layer(x)).softmax(-1)
            results.append(fw.unpack_dual(out).tangent.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_out_variants_refuse_dual_tensors(lib):
    fw = fwad(lib)
    with fw.dual_level():
        x = fw.make_dual(lib.ones(2), lib.ones(2))
        with pytest.raises(RuntimeError, match="forward AD with add_out"):
            lib.add(x, x, out=lib.empty(2))
        assert lib.add(lib.ones(2), 1, out=lib.empty(2)).tolist() == [2.0, 2.0]


def test_grad_needs_inputs(lib):
    w = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        lib.autograd.grad((w * 2).sum(), [])


def test_private_level_and_switch_helpers(lib):
    fw = fwad(lib)
    assert fw._current_level == -1
    with fw.dual_level() as level:
        assert fw._current_level == level == 0
        x = fw.make_dual(lib.ones(2), lib.ones(2))
        assert fw._is_fwd_grad_enabled()
        with fw._set_fwd_grad_enabled(False):
            assert not fw._is_fwd_grad_enabled()
            assert fw.unpack_dual(x * 2).tangent is None  # ops carry no tangent
            assert fw.unpack_dual(fw.make_dual(lib.ones(2), lib.ones(2))).tangent is None
        assert fw._is_fwd_grad_enabled()
        assert fw.unpack_dual(x * 2).tangent.tolist() == [2.0, 2.0]
    assert fw._current_level == -1
    with pytest.raises(RuntimeError, match="Dual level must be a positive number"):
        fw.exit_dual_level()


def test_make_dual_refusals(lib):
    fw = fwad(lib)
    with fw.dual_level():
        with pytest.raises(ValueError, match="Expected primal to be floating point or complex"):
            fw.make_dual(lib.ones(2, dtype=lib.long), lib.ones(2))
        with pytest.raises(ValueError, match="Expected tangent to be floating point or complex"):
            fw.make_dual(lib.ones(2), lib.ones(2, dtype=lib.long))
        dual = fw.make_dual(lib.ones(2), lib.ones(2))
        with pytest.raises(RuntimeError, match="itself has a forward gradient at the same level"):
            fw.make_dual(lib.ones(2), dual)
        with pytest.raises(RuntimeError, match="already has a forward gradient at the same"):
            fw.make_dual(dual, lib.ones(2))
        with pytest.raises(RuntimeError, match="Invalid level"):
            fw.make_dual(lib.ones(2), lib.ones(2), level=3)


def test_tangent_is_copied_to_the_primal_layout(lib):
    fw = fwad(lib)
    primal = lib.arange(5.0)[:4]  # a view: its storage holds 5 elements
    tangent = lib.arange(4.0) * 10
    with fw.dual_level():
        dual = fw.make_dual(primal, tangent)
        unpacked = fw.unpack_dual(dual).tangent
        assert unpacked is not tangent and unpacked.tolist() == tangent.tolist()
        unpacked *= 2
        assert tangent.tolist() == [0.0, 10.0, 20.0, 30.0]  # the caller's tangent is untouched
        whole = fw.unpack_dual(dual.as_strided((5,), (1,), 0)).tangent  # storage-wide: in bounds
        assert whole.tolist() == [0.0, 20.0, 40.0, 60.0, 0.0]
        same = lib.arange(4.0) * 3  # laid out as a fresh primal: used as is
        assert fw.unpack_dual(fw.make_dual(lib.zeros(4), same)).tangent is same
        transposed = lib.zeros(2, 3).t()
        other = fw.unpack_dual(fw.make_dual(transposed, lib.ones(3, 2))).tangent
        assert other.stride() == transposed.stride()


def test_inplace_updates_the_tangent_in_place_and_unpacked_views_are_plain(lib):
    fw = fwad(lib)
    tangent = lib.ones(2, dtype=lib.float64)
    with fw.dual_level():
        dual = fw.make_dual(lib.tensor([1.0, 2.0], dtype=lib.float64), tangent)
        dual *= 2
        assert tangent.tolist() == [2.0, 2.0]  # the given tangent itself changed
        unpacked = fw.unpack_dual(dual)
        assert unpacked._fields == ("primal", "tangent")
        primal, tangent_again = unpacked
        assert tangent_again is tangent and fw.unpack_dual(primal).tangent is None
        primal *= 2  # a change of the primal alone leaves the tangent be
        assert fw.unpack_dual(dual).tangent.tolist() == [2.0, 2.0]
        assert fw.unpack_dual(dual).primal.tolist() == [4.0, 8.0]
        tangent_again *= 2  # and the other way round
        assert fw.unpack_dual(dual).tangent.tolist() == [4.0, 4.0]
        assert fw.unpack_dual(dual).primal.tolist() == [4.0, 8.0]
        view = dual.narrow(0, 0, 1)  # a view made by an op: in-place on it reaches the base
        view *= 3
        assert fw.unpack_dual(dual).tangent.tolist() == [12.0, 4.0]


def test_an_op_without_a_derivative_refuses_forward_mode():
    from ember.ops import Primitive

    class _HalfDifferentiable(Primitive):  # (a leading underscore keeps it out of the op table)
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError("the derivative with respect to 'a' is not implemented")

    fw = ember.autograd.forward_ad
    with fw.dual_level():
        x = fw.make_dual(ember.ones(2), ember.ones(2))
        with pytest.raises(NotImplementedError, match="Trying to use forward AD with .* that "):
            _HalfDifferentiable.apply(x, ember.ones(2))


def test_in_place_on_a_dual_leaves_the_primal_without_a_tangent(lib):
    fwAD = lib.autograd.forward_ad
    primal = lib.ones(2, dtype=lib.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(primal, lib.tensor([1.0, 2.0], dtype=lib.float64))
        dual *= 2
        assert fwAD.unpack_dual(primal).tangent is None
        assert fwAD.unpack_dual(dual).tangent.tolist() == [2.0, 4.0]
        assert repr(dual).endswith(
            "tangent=tensor([2., 4.], dtype=torch.float64))".replace("torch", lib.__name__)
        )


def test_detach_in_place_drops_the_tangent(lib):
    fwAD = lib.autograd.forward_ad
    with fwAD.dual_level():
        dual = fwAD.make_dual(lib.ones(2), lib.ones(2)) * 1
        dual.detach_()
        assert fwAD.unpack_dual(dual).tangent is None

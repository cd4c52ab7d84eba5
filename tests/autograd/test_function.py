"""autograd.Function: modern ctx style, setup_context style, the seed's legacy style, checks."""

import numpy as np
import pytest

import ember
from ember.autograd import Function, gradcheck, gradgradcheck, once_differentiable


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


def test_modern_function_and_double_backward():
    x = ember.tensor([0.5, 1.5], dtype=ember.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))
    assert gradgradcheck(Cube.apply, (x,))
    y = Cube.apply(x)
    assert type(y.grad_fn).__name__ == "CubeBackward"


class ScaleShift(Function):
    @staticmethod
    def forward(x, scale, shift):
        return x * scale + shift

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None, grad


def test_setup_context_style():
    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    b = ember.tensor(0.5, dtype=ember.float64, requires_grad=True)
    ScaleShift.apply(x, 3.0, b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])
    assert b.grad.item() == 2.0


class TwoOutputs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(True)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g1, g2):
        return g1 * 2 + g2 * 3


def test_unused_output_gets_zero_gradient():
    x = ember.tensor([1.0], requires_grad=True)
    a, _ = TwoOutputs.apply(x)
    a.sum().backward()
    assert x.grad.item() == 2.0


class ArgmaxIndex(Function):
    @staticmethod
    def forward(ctx, x):
        idx = ember.tensor(int(x.argmax()))
        ctx.mark_non_differentiable(idx)
        return x * 1, idx

    @staticmethod
    def backward(ctx, g, _):
        return g


def test_non_differentiable_output():
    x = ember.tensor([1.0, 3.0], requires_grad=True)
    y, idx = ArgmaxIndex.apply(x)
    assert y.requires_grad and not idx.requires_grad


class WrongCount(Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


def test_wrong_number_of_gradients_raises():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        WrongCount.apply(x, x).backward()


class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum()

    @staticmethod
    def backward(ctx, grad):
        return ember.ones(5)


def test_wrong_gradient_shape_raises():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        WrongShape.apply(x).backward()


class Once(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x


def test_once_differentiable_refuses_double_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    v = ember.ones(2, requires_grad=True)  # a cotangent in the graph, so g records history
    (g,) = ember.autograd.grad(Once.apply(x), x, v, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [2, 4])
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


class LegacyReLU(Function):
    def forward(self, input):
        self.save_for_backward(input)
        return input.clamp(min=0)

    def backward(self, grad_output):
        (input,) = self.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


def test_legacy_instance_style_warns_and_works():
    x = ember.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.warns(DeprecationWarning, match="legacy"):
        y = LegacyReLU()(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 1])


def test_legacy_style_refuses_second_derivative():
    x = ember.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.warns(DeprecationWarning):
        y = LegacyReLU()(x * x)
    with pytest.raises(RuntimeError, match="cannot be differentiated twice"):
        ember.autograd.grad(y.sum(), x, create_graph=True)


def test_gradcheck_reports_a_wrong_gradient():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return grad  # should be 2x

    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="mismatch"):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False

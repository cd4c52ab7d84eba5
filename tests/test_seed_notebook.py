"""The seed notebook's code, as written in 2018, as a test (import ember as tc)."""

import warnings

import ember as tc
from ember.autograd import Variable


def test_scalar_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        x = Variable(tc.Tensor([1]), requires_grad=True)
        w = Variable(tc.Tensor([2]), requires_grad=True)
        b = Variable(tc.Tensor([3]), requires_grad=True)
    y = w * x + b
    y.backward()
    assert x.grad_fn is None
    assert x.grad.tolist() == [2.0] and w.grad.tolist() == [1.0] and b.grad.tolist() == [1.0]
    assert "AddBackward" in repr(y.grad_fn)


class MyReLU(tc.autograd.Function):
    def forward(self, input):
        self.save_for_backward(input)
        return input.clamp(min=0)

    def backward(self, grad_output):
        (input,) = self.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


def train(custom_relu):
    N, D_in, H, D_out = 24, 1000, 100, 4
    learning_rate = 1e-6
    dtype = tc.FloatTensor
    tc.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        x = Variable(tc.randn(N, D_in).type(dtype), requires_grad=False)
        y = Variable(tc.randn(N, D_out).type(dtype), requires_grad=False)
        w1 = Variable(tc.randn(D_in, H).type(dtype), requires_grad=True)
        w2 = Variable(tc.randn(H, D_out).type(dtype), requires_grad=True)
        losses = []
        for _ in range(200):
            if custom_relu:
                y_pred = MyReLU()(x.mm(w1)).mm(w2)
            else:
                y_pred = x.mm(w1).clamp(min=0).mm(w2)
            loss = (y_pred - y).pow(2).sum()
            losses.append(loss.data[0])
            loss.backward()
            w1.data -= learning_rate * w1.grad.data
            w2.data -= learning_rate * w2.grad.data
            w1.grad.data.zero_()
            w2.grad.data.zero_()
    return losses, float((y_pred - y).abs().max())


def test_two_layer_net_trains_by_hand():
    losses, gap = train(custom_relu=False)
    assert losses[-1] < 1e-3 * losses[0] and gap < 0.05


def test_custom_legacy_relu_trains():
    losses, gap = train(custom_relu=True)
    assert losses[-1] < 1e-3 * losses[0] and gap < 0.05

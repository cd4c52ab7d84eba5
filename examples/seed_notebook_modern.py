"""The 2018 autograd notebook, written the way PyTorch code is written today, on ember.

What changed since 2018, and why:
- `Variable(t, requires_grad=True)` is gone: tensors carry `requires_grad` themselves.
- `loss.data[0]` is `loss.item()`: a 0-d tensor is not indexable.
- `w.data -= ...` worked but bypassed autograd's safety checks; an update inside
  `torch.no_grad()` is the supported way, and `w.grad = None` (or `.zero_()`) resets it.
- A custom Function has static `forward(ctx, ...)`/`backward(ctx, ...)` and is called with
  `MyReLU.apply(x)`, not by making an instance.
- The device is chosen once (`"cuda" if available else "cpu"`) instead of a hard-coded dtype.

Run it:  python examples/seed_notebook_modern.py
"""

from __future__ import annotations

import ember as torch  # the only line that differs from the PyTorch version


def scalar_graph():
    """y = w * x + b: leaves, grad_fn and the gradients backward() fills in."""
    x = torch.tensor([1.0], requires_grad=True)
    w = torch.tensor([2.0], requires_grad=True)
    b = torch.tensor([3.0], requires_grad=True)
    y = w * x + b
    y.backward()
    print(f"x.grad_fn = {x.grad_fn} (a leaf we made)   y.grad_fn = {y.grad_fn}")
    print(f"dy/dx = {x.grad.item()}, dy/dw = {w.grad.item()}, dy/db = {b.grad.item()}")
    return x.grad.item(), w.grad.item(), b.grad.item()


class MyReLU(torch.autograd.Function):
    """ReLU with a hand-written backward: the gradient passes where the input was positive."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * (input > 0)


def train_two_layer_net(steps=200, relu=None, seed=0, device=None, verbose=True):
    """The notebook's net, y = relu(x @ w1) @ w2, trained by plain gradient descent.

    Returns the loss at every step.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    relu = relu or (lambda t: t.clamp(min=0))
    n, d_in, hidden, d_out = 24, 1000, 100, 4
    learning_rate = 1e-6
    torch.manual_seed(seed)
    x = torch.randn(n, d_in, device=device)
    y = torch.randn(n, d_out, device=device)
    w1 = torch.randn(d_in, hidden, device=device, requires_grad=True)
    w2 = torch.randn(hidden, d_out, device=device, requires_grad=True)
    losses = []
    for t in range(steps):
        y_pred = relu(x.mm(w1)).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        if verbose and (t % max(1, steps // 5) == 0 or t == steps - 1):
            print(f"  step {t:4d}  loss {loss.item():.6g}")
        loss.backward()
        with torch.no_grad():  # the update itself must not be recorded
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
        w1.grad = None
        w2.grad = None
    return losses


def main(steps=200, seed=0, verbose=True):
    """Run the notebook's three parts; returns their results for the smoke test."""
    print("1. a scalar graph")
    grads = scalar_graph()
    print("2. a two-layer net trained by hand")
    plain = train_two_layer_net(steps, seed=seed, verbose=verbose)
    print("3. the same net with a custom autograd.Function for the ReLU")
    custom = train_two_layer_net(steps, relu=MyReLU.apply, seed=seed, verbose=verbose)
    print(
        f"loss {plain[0]:.4g} -> {plain[-1]:.3g}; with MyReLU {custom[0]:.4g} -> {custom[-1]:.3g}"
    )
    return {"grads": grads, "losses": plain, "custom_losses": custom}


if __name__ == "__main__":
    main()

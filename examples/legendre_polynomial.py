"""A custom autograd.Function: fit sin(x) with a third-order Legendre polynomial.

The model is y = a + b * P3(c + d * x), where P3(t) = (5 t^3 - 3 t) / 2 is the Legendre
polynomial of degree 3. `LegendrePolynomial3` computes P3 in `forward` and its derivative
P3'(t) = 1.5 (5 t^2 - 1) in `backward`; autograd chains it with the rest of the expression.
This is the classic PyTorch tutorial's example, on ember.

Run it:  python examples/legendre_polynomial.py
"""

from __future__ import annotations

import math

import ember as torch


class LegendrePolynomial3(torch.autograd.Function):
    """P3(t) = (5 t^3 - 3 t) / 2 with its derivative written by hand."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)  # backward needs the input to evaluate P3'(t)
        return 0.5 * (5 * t**3 - 3 * t)

    @staticmethod
    def backward(ctx, grad_output):
        (t,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * t**2 - 1)


def main(steps=2000, lr=5e-6, verbose=True):
    """Fit a, b, c, d by gradient descent on the summed squared error; returns the losses."""
    dtype = torch.float64
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    y = torch.sin(x)

    # start near a sensible answer: far-off starts make this model diverge
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

    # the hand-written backward agrees with finite differences
    probe = torch.linspace(-1, 1, 7, dtype=dtype, requires_grad=True)
    assert torch.autograd.gradcheck(LegendrePolynomial3.apply, (probe,))

    losses = []
    for t in range(steps):
        y_pred = a + b * LegendrePolynomial3.apply(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        if verbose and (t % max(1, steps // 5) == 0 or t == steps - 1):
            print(f"step {t:5d}  loss {loss.item():.6g}")
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
    print(f"y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")
    return losses, (a.item(), b.item(), c.item(), d.item())


if __name__ == "__main__":
    main()

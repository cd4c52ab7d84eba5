"""`python -m ember demo`: the seed notebook's walk-through, printed step by step."""

from __future__ import annotations

import time


def add_arguments(parser):
    """Options of the demo command."""
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _say(title):
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def run(args):
    """Walk through leaves, grad_fn, backward, a hand-trained net and a custom Function."""
    import ember as tc

    if args.steps < 1:
        from ember.cli import CliError

        raise CliError(f"--steps must be at least 1, got {args.steps}")

    _say("1. A graph from three leaves: y = w * x + b")
    x = tc.tensor([1.0], requires_grad=True)
    w = tc.tensor([2.0], requires_grad=True)
    b = tc.tensor([3.0], requires_grad=True)
    y = w * x + b
    print(f"x = {x}\nw = {w}\nb = {b}\ny = {y}")
    print(f"x.is_leaf = {x.is_leaf}, x.grad_fn = {x.grad_fn}   (we made x: no grad_fn)")
    print(f"y.grad_fn = {y.grad_fn}   (y was made by an op: it remembers how)")
    print(f"y.grad_fn.next_functions = {y.grad_fn.next_functions}")

    _say("2. y.backward() fills .grad on the leaves")
    y.backward()
    print(f"dy/dx = x.grad = {x.grad}   (= w)")
    print(f"dy/dw = w.grad = {w.grad}   (= x)")
    print(f"dy/db = b.grad = {b.grad}   (= 1)")

    _say("3. A two-layer net trained by hand: x.mm(w1).clamp(min=0).mm(w2)")
    n, d_in, h, d_out = 24, 1000, 100, 4
    lr = 1e-6
    tc.manual_seed(args.seed)
    x = tc.randn(n, d_in)
    y = tc.randn(n, d_out)
    w1 = tc.randn(d_in, h, requires_grad=True)
    w2 = tc.randn(h, d_out, requires_grad=True)
    start = time.perf_counter()
    for t in range(args.steps):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        if t % max(1, args.steps // 8) == 0 or t == args.steps - 1:
            print(f"step {t:4d}   loss {loss.item():14.6g}")
        loss.backward()
        w1.data -= lr * w1.grad.data
        w2.data -= lr * w2.grad.data
        w1.grad.data.zero_()
        w2.grad.data.zero_()
    elapsed = time.perf_counter() - start
    print(f"{args.steps} steps in {elapsed:.2f} s ({1e3 * elapsed / args.steps:.2f} ms/step)")
    print(f"loss.grad_fn = {loss.grad_fn}")

    _say("4. A custom autograd.Function: ReLU with a hand-written backward")

    class MyReLU(tc.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    z = tc.tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
    out = MyReLU.apply(z)
    out.sum().backward()
    print(f"input    {z}\nMyReLU   {out}\ngradient {z.grad}   (0 where input < 0)")
    ok = tc.autograd.gradcheck(
        MyReLU.apply, (tc.tensor([-1.5, 0.7], dtype=tc.float64, requires_grad=True),)
    )
    print(f"gradcheck against finite differences: {ok}")
    return 0

"""W1: the seed notebook's two-layer net, one training step, in ember, torch and NumPy.

Run from the project root: python -m benchmarks.seed_mlp [--rounds 7] [--inner 20]
N, D_in, H, D_out = 24, 1000, 100, 4; x.mm(w1).clamp(min=0).mm(w2), squared-error sum,
backward, SGD through .data, zero grads. float32 everywhere, same data.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks._timing import interleaved, try_import_torch

N, D_IN, H, D_OUT = 24, 1000, 100, 4
LR = 1e-6


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal(s).astype(np.float32)
        for s in ((N, D_IN), (N, D_OUT), (D_IN, H), (H, D_OUT))
    ]


def ember_step(lib, x, y, w1, w2):
    def step():
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        w1.data -= LR * w1.grad.data
        w2.data -= LR * w2.grad.data
        w1.grad.data.zero_()
        w2.grad.data.zero_()

    return step


def numpy_step(x, y, w1, w2):
    """The floor: the same step with a hand-written backward."""

    def step():
        h = x @ w1
        h_relu = np.maximum(h, 0)
        y_pred = h_relu @ w2
        diff = y_pred - y
        _loss = np.square(diff).sum()
        grad_y_pred = 2.0 * diff
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ w2.T
        grad_h[h < 0] = 0
        grad_w1 = x.T @ grad_h
        np.subtract(w1, np.float32(LR) * grad_w1, out=w1)
        np.subtract(w2, np.float32(LR) * grad_w2, out=w2)

    return step


def contenders(torch="import", device="cpu", only=None):
    """{"ember", "torch", "numpy": step}, or only the one named by `only` (nothing else imported).

    torch="import" imports torch when it is importable; None leaves it out."""
    data = make_data()
    out = {}
    if only in (None, "ember"):
        import ember

        ex, ey, ew1, ew2 = (ember.from_numpy(a.copy()).to(device) for a in data)
        for w in (ew1, ew2):
            w.requires_grad_()
            (w * 1).sum().backward()  # create .grad so zero_() works from the first step
            w.grad.zero_()
        out["ember"] = ember_step(ember, ex, ey, ew1, ew2)
    if only in (None, "torch"):
        if torch == "import":
            torch = try_import_torch()
        if torch is not None:
            tx, ty, tw1, tw2 = (torch.from_numpy(a.copy()).to(device) for a in data)
            for w in (tw1, tw2):
                w.requires_grad_()
                (w * 1).sum().backward()
                w.grad.zero_()
            out["torch"] = ember_step(torch, tx, ty, tw1, tw2)
    if only in (None, "numpy") and device == "cpu":
        out["numpy"] = numpy_step(*(a.copy() for a in data))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inner", type=int, default=20)
    args = parser.parse_args(argv)
    times = interleaved(contenders(), rounds=args.rounds, inner=args.inner)
    for name, t in times.items():
        print(f"{name:6s} {t * 1e6:9.1f} us/step")
    if "torch" in times:
        print(f"ember/torch {times['ember'] / times['torch']:.2f}x")
    print(f"ember/numpy {times['ember'] / times['numpy']:.2f}x")
    return times


if __name__ == "__main__":
    main()

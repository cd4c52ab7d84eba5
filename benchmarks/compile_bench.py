"""ember.compile on the training-step workloads: eager vs compiled vs the NumPy floor.

Run from the project root: python -m benchmarks.compile_bench [--rounds 7] [--inner 20] [--runs 3]
Each run times eager ember, the compiled step and the hand-written NumPy floor interleaved
(benchmarks._timing.interleaved) and the table reports the median over runs. The compiled
step is warmed up first (its recordings and the replay checked against eager happen there).
For W1 a second NumPy reference also accumulates into and zeroes .grad buffers, as the ember
step does: a bit-exact replay has to do that work too.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import ember
from benchmarks import seed_mlp, workloads
from benchmarks._timing import interleaved
from ember._compile import compile


def numpy_step_with_grads(x, y, w1, w2):
    """The W1 floor plus what the ember step also does: add each gradient into a .grad
    buffer (`backward` accumulates) and zero it after the update (`w.grad.data.zero_()`)."""
    g1, g2 = np.zeros_like(w1), np.zeros_like(w2)
    lr = np.float32(seed_mlp.LR)

    def step():
        h = x @ w1
        h_relu = np.maximum(h, 0)
        diff = h_relu @ w2 - y
        _loss = np.square(diff).sum()
        grad_y_pred = 2.0 * diff
        np.add(g2, h_relu.T @ grad_y_pred, out=g2)
        grad_h = grad_y_pred @ w2.T
        grad_h[h < 0] = 0
        np.add(g1, x.T @ grad_h, out=g1)
        np.subtract(w1, lr * g1, out=w1)
        np.subtract(w2, lr * g2, out=w2)
        g1.fill(0)
        g2.fill(0)

    return step


def _contenders(name):
    if name == "W1":
        eager = seed_mlp.contenders(torch=None)
        eager["numpy+grad"] = numpy_step_with_grads(*seed_mlp.make_data())
        compiled = seed_mlp.contenders(torch=None)["ember"]
    elif name == "W2":
        eager = workloads.w2_mnist_mlp(None)
        compiled = workloads.w2_mnist_mlp(None)["ember"]
    else:
        eager = workloads.w4_small_cnn(None)
        compiled = workloads.w4_small_cnn(None)["ember"]
    step = compile(compiled)
    for _ in range(5):
        step()
    if step.eager_reason is not None:
        raise RuntimeError(f"{name} did not compile: {step.eager_reason}")
    contenders = {"eager": eager["ember"], "compiled": step}
    for floor in ("numpy", "numpy+grad"):
        if floor in eager:
            contenders[floor] = eager[floor]
    return contenders


def measure(names=("W1", "W2"), rounds=7, inner=20, runs=3):
    """{workload: {contender: median seconds per step over `runs` interleaved runs}}."""
    results = {}
    for name in names:
        contenders = _contenders(name)
        per_run = [interleaved(contenders, rounds=rounds, inner=inner) for _ in range(runs)]
        results[name] = {k: statistics.median(r[k] for r in per_run) for k in contenders}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inner", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["W1", "W2"], help="W1 W2 W4")
    args = parser.parse_args(argv)
    ember.manual_seed(0)
    results = measure(args.only, args.rounds, args.inner, args.runs)
    print(f"{'':4s} {'eager':>10s} {'compiled':>10s} {'numpy':>10s}  (us/step, medians)")
    for name, t in results.items():
        floor = t.get("numpy")
        row = f"{name:4s} {t['eager'] * 1e6:10.1f} {t['compiled'] * 1e6:10.1f} "
        row += f"{floor * 1e6:10.1f}" if floor else f"{'-':>10s}"
        row += f"  eager/compiled {t['eager'] / t['compiled']:.2f}x"
        if floor:
            row += f"  compiled/numpy {t['compiled'] / floor:.3f}x"
            row += f"  eager/numpy {t['eager'] / floor:.3f}x"
        print(row)
        if "numpy+grad" in t:
            same = t["numpy+grad"]
            print(
                f"{'':4s} NumPy with the same .grad accumulate and zero_: {same * 1e6:.1f} us, "
                f"compiled/that {t['compiled'] / same:.3f}x"
            )
    return results


if __name__ == "__main__":
    main()

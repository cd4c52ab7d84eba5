"""ember.compile on the training-step workloads: eager vs compiled vs the NumPy floor.

Run from the project root: python -m benchmarks.compile_bench [--rounds 7] [--inner 20] [--runs 3]
Each run times eager ember, the compiled step and the hand-written NumPy floor interleaved
(benchmarks._timing.interleaved) and the table reports the median over runs. The compiled
step is warmed up first (its recordings and the replay checked against eager happen there).
"""

from __future__ import annotations

import argparse
import statistics

import ember
from benchmarks import seed_mlp, workloads
from benchmarks._timing import interleaved
from ember._compile import compile


def _contenders(name):
    if name == "W1":
        eager = seed_mlp.contenders(torch=None)
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
    if "numpy" in eager:
        contenders["numpy"] = eager["numpy"]
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
    return results


if __name__ == "__main__":
    main()

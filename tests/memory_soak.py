"""Memory soak: the seed MLP trained for many steps; prints RSS at the start and the end.

    python -m tests.memory_soak --iterations 10000

The seed notebook's loop (N, D_in, H, D_out = 24, 1000, 100, 4; x.mm(w1).clamp(min=0).mm(w2),
squared-error sum, backward, w.data -= lr * w.grad.data, zero the grads). RSS is read from
/proc/self/status after a warm-up, then sampled as the loop runs; one JSON line is printed.
BLAS is kept to one thread: the tensors are small, and a contended multi-threaded BLAS only
adds noise (and minutes) here.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import ember  # noqa: E402  (after the thread settings)


def rss_mb():
    """Resident set size of this process, in MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def soak(iterations, warmup=200, samples=10):
    ember.manual_seed(0)
    n, d_in, h, d_out = 24, 1000, 100, 4
    x, y = ember.randn(n, d_in), ember.randn(n, d_out)
    w1 = ember.randn(d_in, h, requires_grad=True)
    w2 = ember.randn(h, d_out, requires_grad=True)
    lr = 1e-6
    trace = []
    start = time.perf_counter()
    for t in range(warmup + iterations):
        if t == warmup:
            start_mb, start = rss_mb(), time.perf_counter()
        if t > warmup and (t - warmup) % max(1, iterations // samples) == 0:
            trace.append(round(rss_mb(), 2))
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        w1.data -= lr * w1.grad.data
        w2.data -= lr * w2.grad.data
        w1.grad.data.zero_()
        w2.grad.data.zero_()
    return {
        "iterations": iterations,
        "start_mb": round(start_mb, 2),
        "end_mb": round(rss_mb(), 2),
        "peak_mb": max(trace + [rss_mb()]),
        "trace_mb": trace,
        "seconds": round(time.perf_counter() - start, 2),
        "loss": loss.item(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="RSS of the seed MLP over many steps")
    parser.add_argument("--iterations", type=int, default=10_000)
    args = parser.parse_args(argv)
    print(json.dumps(soak(args.iterations)))


if __name__ == "__main__":
    main()

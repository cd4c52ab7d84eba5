"""Run every benchmark workload and print one table of medians and ratios.

python -m benchmarks.run_all [--rounds 7] [--quick]
ember, torch (when importable) and a hand-written NumPy floor run interleaved in one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

from benchmarks._timing import interleaved, try_import_torch
from benchmarks.workloads import WORKLOADS

UNITS = {"W3 1000 small ops": ("us/op", 1e6 / 1000)}


def import_time(module: str) -> float:
    """Median wall time of `import module` in a fresh interpreter (seconds)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    # as after `pip install`: bytecode is cached (a first run writes it)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True)
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            return float("nan")
        runs.append(float(out.stdout))
    return sorted(runs)[len(runs) // 2]


def peak_rss_mb(library: str) -> float:
    """Peak RSS (MB) of 20 W2 steps in `library`, in a separate process."""
    code = (
        "import sys\n"
        "from benchmarks.workloads import w2_mnist_mlp\n"
        f"torch = __import__('torch') if '{library}' == 'torch' else None\n"
        f"steps = w2_mnist_mlp(torch, only='{library}')\n"
        f"step = steps['{library}']\n"
        "for _ in range(20): step()\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')]"
        "[0] / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(out.stdout) if out.returncode == 0 else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inner", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="one round, one call (smoke run)")
    parser.add_argument("--only", help="run only workloads whose name contains this")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    rounds, inner = (1, 1) if args.quick else (args.rounds, args.inner)
    torch = try_import_torch()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"python {platform.python_version()}"
    )
    print(
        f"{'workload':22s} {'ember':>10s} {'torch':>10s} {'numpy':>10s} "
        f"{'ember/torch':>12s} {'ember/numpy':>12s}"
    )
    results = {}
    for name, build in WORKLOADS.items():
        if args.only and args.only not in name:
            continue
        try:
            contenders = build(torch, device=args.device)
        except (AttributeError, ImportError, NotImplementedError) as e:
            print(f"{name:22s} skipped: {e}")
            continue
        times = interleaved(contenders, rounds=rounds, inner=inner, warmup=0 if args.quick else 2)
        unit, scale = UNITS.get(name, ("ms", 1e3))
        cells = [
            f"{times[k] * scale:9.2f}" if k in times else f"{'-':>9s}"
            for k in ("ember", "torch", "numpy")
        ]
        ratios = [
            f"{times['ember'] / times[k]:11.2f}x" if k in times else f"{'-':>12s}"
            for k in ("torch", "numpy")
        ]
        print(
            f"{name:22s} {cells[0]:>10s} {cells[1]:>10s} {cells[2]:>10s} "
            f"{ratios[0]:>12s} {ratios[1]:>12s}  ({unit})"
        )
        results[name] = times
    if not args.quick and args.device == "cpu":
        t_ember, t_torch = import_time("ember"), import_time("torch")
        print(
            f"import time: ember {t_ember:.3f} s, torch {t_torch:.3f} s, "
            f"numpy {import_time('numpy'):.3f} s"
        )
        print(
            f"W2 peak RSS: ember {peak_rss_mb('ember'):.0f} MB, torch {peak_rss_mb('torch'):.0f} "
            f"MB, numpy floor {peak_rss_mb('numpy'):.0f} MB"
        )
    return results


if __name__ == "__main__":
    main()

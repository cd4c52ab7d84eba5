"""Time one contender on one workload in this process, and print one JSON record.

python -m benchmarks.contender --workload W2 --contender torch [--samples 7] [--threads 1]

benchmarks/run_all.py starts one such process per contender, workload and round, so no other
library's thread pool is alive beside the one being timed. Only the contender's own library
is imported. The record (one line of JSON on stdout) carries the per-sample seconds per step,
their median, the peak memory, and the machine: CPU model, cores, BLAS library and kernel
(threadpoolctl), thread settings, library versions and the date. A contender that does not
exist for a workload (no NumPy floor for W4, torch not importable) gives {"skipped": why}.
The contender "compiled" is ember's step under ember.compile (recorded and checked first).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
import time

CONTENDERS = ("ember", "torch", "numpy")
# set before a library starts its thread pool (--threads N)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# pin OpenBLAS to a kernel other than the one it would pick on this CPU (recorded, never set here)
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def time_step(step, samples=7, min_sample_s=0.1, warmup_s=0.3, inner=None):
    """(seconds per call of each sample, calls per sample) after a warm-up.

    Warm-up: at least 3 calls and `warmup_s` seconds. Each sample times `inner` calls; by
    default as many as fill `min_sample_s`, estimated from the warm-up calls after the first."""
    start = time.perf_counter()
    step()
    first_done = time.perf_counter()
    calls = 1
    while calls < 3 or time.perf_counter() - start < warmup_s:
        step()
        calls += 1
    if inner is None:
        per_call = (time.perf_counter() - first_done) / (calls - 1)
        inner = max(1, math.ceil(min_sample_s / max(per_call, 1e-9)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - t0) / inner)
    return times, inner


def _cpu():
    """(model name, SIMD level) from /proc/cpuinfo where there is one."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return model, None
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    if found:
        model = found.group(1).strip()
    found = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(found.group(1).split()) if found else set()
    simd = next((name for flag, name in _SIMD if flag in flags), None)
    return model, simd


_SIMD = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("neon", "NEON"))


def peak_rss_mb():
    """This process's peak resident memory in MB (VmHWM on Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def machine_info():
    """What the timing depends on: CPU, cores, BLAS and its kernel, threads, versions, date."""
    model, simd = _cpu()
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": model,
        "simd": simd,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "env": {k: os.environ.get(k) for k in THREAD_VARS + BLAS_OVERRIDES},
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    # versions of the libraries this process loaded, and no others
    info["versions"] = {
        name: getattr(sys.modules[name], "__version__", None)
        for name in ("numpy", "ember", "torch", "cupy")
        if name in sys.modules
    }
    try:
        import threadpoolctl
    except ImportError:
        info["threadpools"] = "unknown: install threadpoolctl (pip install -e '.[bench]')"
    else:
        info["versions"]["threadpoolctl"] = threadpoolctl.__version__
        keys = ("user_api", "internal_api", "version", "architecture", "num_threads")
        info["threadpools"] = [
            {k: pool.get(k) for k in keys + ("threading_layer",) if k in pool}
            for pool in threadpoolctl.threadpool_info()
        ]
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        info["torch"] = {
            "num_threads": torch.get_num_threads(),
            "blas": found.group(1) if found else None,
            "mkldnn": torch.backends.mkldnn.is_available(),
        }
    if "ember" in sys.modules:
        info["ember_num_threads"] = sys.modules["ember"].get_num_threads()
    return info


def _resolve(workload):
    """The WORKLOADS key for "W2" or "W2 MNIST MLP"."""
    from benchmarks.workloads import WORKLOADS

    for name in WORKLOADS:
        if workload in (name, name.split()[0]):
            return name
    raise SystemExit(f"unknown workload {workload!r}: one of {', '.join(WORKLOADS)}")


def measure(workload, contender, device="cpu", small=False, **timing):
    """The record for one contender on one workload, timed in this process."""
    from benchmarks.workloads import SMALL, WORKLOADS

    name = _resolve(workload)
    record = {"workload": name, "contender": contender, "device": device}
    torch = None
    if contender == "torch":
        from benchmarks._timing import try_import_torch

        torch = try_import_torch()
        if torch is None:
            return {**record, "skipped": "torch is not importable"}
    kwargs = SMALL[name] if small else {}
    library = "ember" if contender == "compiled" else contender
    steps = WORKLOADS[name](torch, device=device, only=library, **kwargs)
    if library not in steps:
        return {**record, "skipped": f"no {contender} contender for {name} on {device}"}
    step = steps[library]
    if contender == "compiled":
        import ember

        step = ember.compile(step)
        for _ in range(5):  # records the plan and checks a replay against eager
            step()
        if step.eager_reason is not None:
            return {**record, "skipped": f"ember.compile ran it eagerly: {step.eager_reason}"}
    times, inner = time_step(step, **timing)
    record.update(
        median_s=statistics.median(times),
        samples_s=times,
        inner=inner,
        small=small,
        peak_rss_mb=peak_rss_mb(),  # read before threadpoolctl is imported
    )
    record["machine"] = machine_info()
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, help="W1 .. W5")
    parser.add_argument("--contender", required=True, choices=CONTENDERS + ("compiled",))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=7, help="timed samples (default 7)")
    parser.add_argument(
        "--min-sample-time", type=float, default=0.1, help="seconds each sample lasts at least"
    )
    parser.add_argument("--warmup", type=float, default=0.3, help="warm-up seconds (>= 3 calls)")
    parser.add_argument("--inner", type=int, help="calls per sample (default: from the warm-up)")
    parser.add_argument("--threads", type=int, help="threads for every library (default: theirs)")
    parser.add_argument("--small", action="store_true", help="tiny sizes (a smoke run)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        # must be in place before NumPy or torch starts its pool: run as a fresh process
        if any(m in sys.modules for m in ("numpy", "torch")):
            raise SystemExit("--threads needs a fresh process (NumPy or torch already imported)")
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    record = measure(
        args.workload,
        args.contender,
        device=args.device,
        small=args.small,
        samples=args.samples,
        min_sample_s=args.min_sample_time,
        warmup_s=args.warmup,
        inner=args.inner,
    )
    record["threads"] = args.threads or "default"
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()

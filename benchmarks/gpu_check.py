"""The GPU check: run on a machine with an NVIDIA GPU and CuPy (pip install -e ".[cuda,test]").

python -m benchmarks.gpu_check
1. every op in the op table on CUDA against finite differences (first and second order);
2. the seed acceptance script, which takes its CUDA dtype when a GPU is there;
3. the benchmark workloads on the GPU against torch on the same GPU (when torch has CUDA).
Prints one summary line per part; exits non-zero if a part failed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(title, command, env=None):
    print(f"== {title}: {' '.join(command)}", flush=True)
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})})
    print(f"== {title}: {'ok' if result.returncode == 0 else 'FAILED'}", flush=True)
    return result.returncode == 0


def main() -> int:
    import ember

    if not ember.cuda.is_available():
        print("no CUDA device: nothing to check (ember.cuda.is_available() is False)")
        return 1
    ok = run(
        "op table on CUDA",
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/ops/test_op_table.py",
            "-q",
            "-x",
            "-k",
            "finite_differences",
        ],
        env={"EMBER_TEST_DEVICE": "cuda"},
    )
    seed = ROOT.parent / "shared" / "acceptance" / "seed_notebook.py"
    if seed.exists():
        ok &= run("seed acceptance (CUDA dtype)", [sys.executable, str(seed)])
    ok &= run("workloads on CUDA", [sys.executable, "-m", "benchmarks.run_all", "--device", "cuda"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

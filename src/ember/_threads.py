"""set_num_threads / get_num_threads: the BLAS thread pool behind NumPy (via threadpoolctl)."""

from __future__ import annotations

import os

_limit = [None]  # the threadpoolctl limiter in force, kept alive so the limit holds


def set_num_threads(n: int) -> None:
    """Same as torch.set_num_threads: threads NumPy's BLAS may use (needs threadpoolctl)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise RuntimeError(
            "set_num_threads needs threadpoolctl (pip install threadpoolctl), or set "
            "OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting Python"
        ) from None
    _limit[0] = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """Same as torch.get_num_threads: the BLAS thread count NumPy uses."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1)
    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return counts[0] if counts else 1

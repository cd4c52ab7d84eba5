"""Interleaved timing: each contender runs once per round, and medians are compared."""

from __future__ import annotations

import statistics
import time


def interleaved(contenders: dict, rounds: int = 7, inner: int = 20, warmup: int = 3) -> dict:
    """Median seconds per call of each `contenders[name]()`, timed in interleaved rounds."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(values) for name, values in samples.items()}


def try_import_torch():
    """torch if importable (library-default threads), else None: then ember and the floor only."""
    try:
        import torch
    except ImportError:
        return None
    return torch

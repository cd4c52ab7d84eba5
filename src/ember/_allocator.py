"""Let freed array memory stay in the process for the next step (glibc's malloc only).

A training step allocates and frees the same large arrays (activations, gradients) every
iteration. glibc hands memory above its trim threshold back to the kernel as soon as the top
of the heap is free, so each step faults every page of those arrays in again: that was half
of a small CNN's step time. Asking malloc to keep a pad of freed memory at the heap's top
(M_TOP_PAD) makes the next step reuse the same pages. It costs at most that pad of resident
memory that the process would otherwise have returned; peak memory is unchanged.

`import ember` applies it once on Linux with glibc. Set EMBER_MALLOC_TOP_PAD to a byte count
to choose the pad, or to 0 to leave malloc as it was. Other allocators (jemalloc, tcmalloc,
musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TOP_PAD = -2  # mallopt's parameter number in glibc's malloc.h
DEFAULT_TOP_PAD = 64 << 20


def tune_malloc(pad: int | None = None) -> bool:
    """Set glibc's M_TOP_PAD to `pad` bytes (default: EMBER_MALLOC_TOP_PAD or 64 MiB);
    True when it was set. Anywhere else, or with a pad of 0, nothing changes."""
    if pad is None:
        pad = int(os.environ.get("EMBER_MALLOC_TOP_PAD", DEFAULT_TOP_PAD))
    if pad <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl's mallopt is a stub)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_TOP_PAD, min(pad, 2**31 - 1)))

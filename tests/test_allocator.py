"""ember's malloc tuning: applied on glibc, skipped with a zero pad."""

import ctypes
import sys

import pytest

from ember import _allocator


def test_zero_pad_changes_nothing(monkeypatch):
    assert _allocator.tune_malloc(0) is False
    monkeypatch.setenv("EMBER_MALLOC_TOP_PAD", "0")
    assert _allocator.tune_malloc() is False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"),
    reason="M_TOP_PAD is glibc's",
)
def test_glibc_takes_the_pad():
    assert _allocator.tune_malloc(1 << 20) is True
    assert _allocator.tune_malloc() is True  # back to the default pad

"""ReduceOp: how a collective combines the ranks' values."""

from __future__ import annotations

import enum


class ReduceOp(enum.Enum):
    """Same as torch.distributed.ReduceOp (PREMUL_SUM is not supported)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7

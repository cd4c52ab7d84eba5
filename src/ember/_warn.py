"""Warnings that point at the user's line, however deep inside ember they are raised."""

from __future__ import annotations

import sys
import warnings


def _inside_ember(frame) -> bool:
    name = frame.f_globals.get("__name__", "")
    return name == "ember" or name.startswith("ember.")


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn(message, category)` attributed to the first caller outside ember (a
    fixed stacklevel would point inside ember when an op is reached through a wrapper)."""
    frame = sys._getframe(1)
    level = 2  # 1 would be this function
    while frame is not None and _inside_ember(frame):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)

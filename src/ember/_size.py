"""ember.Size: a tensor's shape, a tuple that prints and counts like torch.Size."""

from __future__ import annotations

import math


class Size(tuple):
    """Same as torch.Size: a tuple of ints with `numel()` and PyTorch's repr."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        return math.prod(self)

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __repr__(self):
        return f"ember.Size({list(self)})"

    def __reduce__(self):
        return (Size, (tuple(self),))

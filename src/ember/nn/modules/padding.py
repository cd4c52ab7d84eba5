"""Padding layers: constant, zero, reflection, replication and circular."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules._factory import ntuple
from ember.nn.modules.module import Module


class _PadNd(Module):
    _nd = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = ntuple(padding, 2 * self._nd)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


def _make(name, nd, mode, base):
    doc = f"Same as torch.nn.{name}."
    return type(name, (base,), {"_nd": nd, "_mode": mode, "__doc__": doc, "__module__": __name__})


ConstantPad1d = _make("ConstantPad1d", 1, "constant", _ConstantPadNd)
ConstantPad2d = _make("ConstantPad2d", 2, "constant", _ConstantPadNd)
ConstantPad3d = _make("ConstantPad3d", 3, "constant", _ConstantPadNd)
ReflectionPad1d = _make("ReflectionPad1d", 1, "reflect", _PadNd)
ReflectionPad2d = _make("ReflectionPad2d", 2, "reflect", _PadNd)
ReflectionPad3d = _make("ReflectionPad3d", 3, "reflect", _PadNd)
ReplicationPad1d = _make("ReplicationPad1d", 1, "replicate", _PadNd)
ReplicationPad2d = _make("ReplicationPad2d", 2, "replicate", _PadNd)
ReplicationPad3d = _make("ReplicationPad3d", 3, "replicate", _PadNd)
CircularPad1d = _make("CircularPad1d", 1, "circular", _PadNd)
CircularPad2d = _make("CircularPad2d", 2, "circular", _PadNd)
CircularPad3d = _make("CircularPad3d", 3, "circular", _PadNd)


class ZeroPad1d(ConstantPad1d):
    """Same as torch.nn.ZeroPad1d."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Same as torch.nn.ZeroPad2d."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Same as torch.nn.ZeroPad3d."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"

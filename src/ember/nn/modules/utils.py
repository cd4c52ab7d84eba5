"""Argument helpers PyTorch code imports from torch.nn.modules.utils."""

from __future__ import annotations

from ember.nn.modules._factory import ntuple as _ntuple_value


def _ntuple(n, name="parse"):
    def parse(x):
        return _ntuple_value(x, n)

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")

"""The errors ember.onnx.export raises (PyTorch's names, from torch.onnx.errors)."""

from __future__ import annotations

__all__ = ["OnnxExporterError", "UnsupportedOperatorError"]


class OnnxExporterError(RuntimeError):
    """The forward pass cannot be written as an ONNX graph (the message says why)."""


class UnsupportedOperatorError(OnnxExporterError):
    """The forward pass uses an op that has no ONNX translation in ember; the message names
    it and lists the ops that have one."""

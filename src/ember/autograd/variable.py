"""The legacy Variable wrapper (PyTorch < 0.4), now simply a Tensor, and `_calculate_shape`."""

from __future__ import annotations

import warnings

from ember._tensor import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """Legacy spelling: `Variable(t, requires_grad=...)` returns `t`, made a leaf as asked.

    Since PyTorch 0.4 a Tensor carries its own autograd state; ember keeps this name so 2018
    code runs unchanged. It returns a tensor sharing `t`'s storage.
    """

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        warnings.warn(
            "Variable is deprecated (PyTorch < 0.4 style): tensors carry autograd state "
            "themselves; use tensor.requires_grad_() instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        if data is None:
            raise TypeError("Variable(): expected a Tensor")
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out


class _ExecutionEngine:
    """`Variable._execution_engine` of PyTorch: the engine's callback queue."""

    @staticmethod
    def queue_callback(callback) -> None:
        """Run `callback()` when the backward pass running on this thread ends."""
        from ember.autograd.engine import queue_callback

        queue_callback(callback)


Variable._execution_engine = _ExecutionEngine()


def _calculate_shape(output, grad, is_grads_batched):
    """Same as torch.autograd._calculate_shape: (output's shape, grad's shape), the latter
    without its leading batch dimension when `is_grads_batched`; `output` may be a
    GradientEdge, whose shape is that of the node's input it stands for."""
    from ember._size import Size
    from ember.autograd.graph import AccumulateGrad
    from ember.autograd.hooks import GradientEdge

    if isinstance(output, GradientEdge):
        if is_grads_batched:
            raise RuntimeError("Batched grads are not supported with GradientEdge")
        node, nr = output
        if node.__class__ is AccumulateGrad:
            return node.variable.shape, grad.shape
        if not node._out_meta:
            raise RuntimeError(f"_calculate_shape: {node.name()} did not record its output shapes")
        return Size(node._out_meta[nr][0]), grad.shape
    return output.shape, (grad.shape[1:] if is_grads_batched else grad.shape)

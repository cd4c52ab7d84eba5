"""torch.autograd._functions: the one legacy Function there that is still in use (Resize)."""

from __future__ import annotations

import math

from ember.autograd.function import Function


class Resize(Function):
    """Same as torch.autograd._functions.Resize: `Resize.apply(tensor, sizes)` gives the
    tensor's elements in the shape `sizes` (same number of elements), differentiably."""

    @staticmethod
    def forward(ctx, tensor, sizes):
        numel = math.prod(sizes)
        if tensor.numel() != numel:
            raise RuntimeError(
                f"requested resize to {'x'.join(map(str, sizes))} ({numel} elements in total), "
                f"but the given tensor has a size of {'x'.join(map(str, tensor.shape))} "
                f"({tensor.numel()} elements). autograd's resize can only change the shape of "
                "a given tensor, while preserving the number of elements. "
            )
        ctx.input_sizes = tensor.shape
        return tensor.contiguous().view(*sizes)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.contiguous().view(ctx.input_sizes), None

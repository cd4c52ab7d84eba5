"""Matrix products: mm and matmul (1-D, 2-D, batched and broadcast)."""

from __future__ import annotations

from ember.ops._primitive import Primitive
from ember.ops._shapes import broadcast_shapes
from ember.ops._table import S, register


def _check_same_dtype(op, a, b):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"{op}: expected both operands to have the same dtype, but got {a.dtype} and "
            f"{b.dtype}; convert one with .to()"
        )


@register("mm", lambda lib, a, b: a.mm(b), (S((3, 4), (4, 5)), S((1, 3), (3, 1))))
class Mm(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        needs = ctx.needs_input_grad
        return (grad.mm(b.t()) if needs[0] else None), (a.t().mm(grad) if needs[1] else None)


def mm(input, mat2, *, out=None):
    """Same as torch.mm: the product of two matrices."""
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        bad = input if input._data.ndim != 2 else mat2
        raise RuntimeError(f"mm: expected 2D tensors, but got a {bad._data.ndim}D tensor")
    if input._data.shape[1] != mat2._data.shape[0]:
        (n, k), (k2, m) = input.shape, mat2.shape
        raise RuntimeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    _check_same_dtype("mm", input, mat2)
    return Mm.apply(input, mat2)


@register(
    "matmul",
    lambda lib, a, b: a @ b,
    (
        S((3, 4), (4, 5)),
        S((4,), (4,)),
        S((4,), (4, 5)),
        S((3, 4), (4,)),
        S((2, 3, 4), (4, 5)),
        S((2, 1, 3, 4), (3, 4, 2)),
        S((5,), (2, 5, 3)),
    ),
)
class Matmul(Primitive):
    """Batched and broadcast products; 1-D operands are promoted to matrices and back."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_vec, b_vec = a.ndim == 1, b.ndim == 1
        a2 = a.unsqueeze(0) if a_vec else a
        b2 = b.unsqueeze(-1) if b_vec else b
        batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = grad.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g.matmul(b2.transpose(-1, -2))
            if a_vec:  # sum the broadcast batch dims first, then drop the promoted row
                ga = ga.sum_to_size(a2.shape).squeeze(0)
        if ctx.needs_input_grad[1]:
            gb = a2.transpose(-1, -2).matmul(g)
            if b_vec:
                gb = gb.sum_to_size(b2.shape).squeeze(-1)
        return ga, gb


def matmul(input, other, *, out=None):
    """Same as torch.matmul."""
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be multiplied "
            f"({k_a} != {k_b})"
        )
    _check_same_dtype("matmul", input, other)
    if a.ndim == 2 and b.ndim == 2:
        return Mm.apply(input, other)
    return Matmul.apply(input, other)


__all__ = ["matmul", "mm"]
TENSOR_METHODS = {"mm": mm, "matmul": matmul}

"""Rprop: per-element step sizes grown or shrunk by the sign of successive gradients."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import SingleTensorOptimizer, check_lr, state_like, step_counter


class Rprop(SingleTensorOptimizer):
    """Same as torch.optim.Rprop (the step sizes start at the group's lr)."""

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["prev"] = state_like(param)
        state["step_size"] = state_like(param, group["lr"])

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        eta_minus, eta_plus = group["etas"]
        low, high = group["step_sizes"]
        prev, step_size = state["prev"]._data, state["step_size"]._data
        agreement = xp.sign(grad * prev)
        factor = xp.where(agreement > 0, eta_plus, xp.where(agreement < 0, eta_minus, 1.0))
        step_size *= factor.astype(step_size.dtype, copy=False)
        xp.clip(step_size, low, high, out=step_size)
        grad = xp.where(agreement < 0, 0, grad)  # a sign change skips this step's update
        x -= xp.sign(grad) * step_size
        prev[...] = grad

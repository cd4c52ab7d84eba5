"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    SingleTensorOptimizer,
    addcdiv_,
    check_hyperparameters,
    lerp_,
    state_like,
    step_counter,
)


class Adamax(SingleTensorOptimizer):
    """Same as torch.optim.Adamax."""

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        check_hyperparameters(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["exp_avg"] = state_like(param)
        state["exp_inf"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * x
        exp_avg, exp_inf = state["exp_avg"]._data, state["exp_inf"]._data
        lerp_(exp_avg, grad, 1 - beta1)
        exp_inf *= beta2
        norm = xp.abs(grad)
        norm += eps
        xp.maximum(exp_inf, norm, out=exp_inf)
        clr = lr / (1 - beta1 ** state["step"].item())
        addcdiv_(x, exp_avg, exp_inf, -clr)

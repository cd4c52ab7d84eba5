"""Adadelta."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    SingleTensorOptimizer,
    addcmul_,
    check_hyperparameters,
    state_like,
    step_counter,
)


class Adadelta(SingleTensorOptimizer):
    """Same as torch.optim.Adadelta."""

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        check_hyperparameters(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["square_avg"] = state_like(param)
        state["acc_delta"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        rho, eps, weight_decay = group["rho"], group["eps"], group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * x
        square_avg, acc_delta = state["square_avg"]._data, state["acc_delta"]._data
        square_avg *= rho
        addcmul_(square_avg, grad, grad, 1 - rho)
        std = xp.sqrt(square_avg + eps)
        delta = xp.sqrt(acc_delta + eps)
        delta /= std
        delta *= grad
        acc_delta *= rho
        addcmul_(acc_delta, delta, delta, 1 - rho)
        x += -lr * delta

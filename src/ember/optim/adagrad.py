"""Adagrad, with learning-rate decay and an initial accumulator value."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    SingleTensorOptimizer,
    addcdiv_,
    addcmul_,
    check_hyperparameters,
    state_like,
    step_counter,
)


class Adagrad(SingleTensorOptimizer):
    """Same as torch.optim.Adagrad (state is created for every parameter at construction)."""

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        check_hyperparameters(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p, group)

    def _init_state(self, state, param, group):
        # PyTorch fills the sum from the constructor's value, whatever the group says
        state["step"] = step_counter()
        state["sum"] = state_like(param, self.defaults["initial_accumulator_value"])

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        lr_decay, eps, weight_decay = group["lr_decay"], group["eps"], group["weight_decay"]
        step = state["step"].item()
        if weight_decay != 0:
            grad = grad + weight_decay * x
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state["sum"]._data
        addcmul_(state_sum, grad, grad, 1)
        std = xp.sqrt(state_sum)
        std += eps
        addcdiv_(x, grad, std, -clr)

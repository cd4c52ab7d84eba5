"""ASGD: SGD with decaying step size and a running average of the iterates."""

from __future__ import annotations

from ember.optim.optimizer import (
    SingleTensorOptimizer,
    check_hyperparameters,
    state_like,
    step_counter,
)


class ASGD(SingleTensorOptimizer):
    """Same as torch.optim.ASGD: state `ax` holds the averaged parameters (from step t0 on)."""

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        check_hyperparameters(lr=lr, weight_decay=weight_decay)
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["eta"] = step_counter(group["lr"])
        state["mu"] = step_counter(1.0)
        state["ax"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * x
        step = state["step"].item()
        eta, mu, ax = state["eta"].item(), state["mu"].item(), state["ax"]._data
        x *= 1 - lambd * eta
        x -= eta * grad
        if mu != 1:
            ax += (x - ax) * mu
        else:
            ax[...] = x
        state["eta"]._data[...] = lr / ((1 + lambd * lr * step) ** alpha)
        state["mu"]._data[...] = 1 / max(1, step - t0)

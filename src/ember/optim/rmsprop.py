"""RMSprop, with the centered and momentum variants."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    SingleTensorOptimizer,
    addcdiv_,
    addcmul_,
    check_hyperparameters,
    lerp_,
    state_like,
    step_counter,
)


class RMSprop(SingleTensorOptimizer):
    """Same as torch.optim.RMSprop."""

    _group_defaults = {"momentum": 0, "centered": False}

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_hyperparameters(
            lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha
        )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["square_avg"] = state_like(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = state_like(param)
        if group["centered"]:
            state["grad_avg"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * x
        square_avg = state["square_avg"]._data
        square_avg *= alpha
        addcmul_(square_avg, grad, grad, 1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]._data
            lerp_(grad_avg, grad, 1 - alpha)
            avg = xp.sqrt(square_avg + -1.0 * grad_avg * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf = state["momentum_buffer"]._data
            buf *= momentum
            addcdiv_(buf, grad, avg)
            x += -lr * buf
        else:
            addcdiv_(x, grad, avg, -lr)

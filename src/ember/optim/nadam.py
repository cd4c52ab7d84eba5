"""NAdam: Adam with Nesterov momentum (and its momentum-decay schedule)."""

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


class NAdam(SingleTensorOptimizer):
    """Same as torch.optim.NAdam."""

    _group_defaults = {"decoupled_weight_decay": False}

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        check_hyperparameters(
            lr=lr, eps=eps, betas=betas, weight_decay=weight_decay, momentum_decay=momentum_decay
        )
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["mu_product"] = step_counter(1.0)  # a 0-d tensor of the step dtype, as in PyTorch
        state["exp_avg"] = state_like(param)
        state["exp_avg_sq"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        momentum_decay = group["momentum_decay"]
        step = state["step"].item()
        bias_correction2 = 1 - beta2**step
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                x *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * x
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        # the running product lives in the step dtype (float32), as in PyTorch
        state["mu_product"]._data *= mu
        mu_product = state["mu_product"].item()
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        denom = xp.sqrt(exp_avg_sq / bias_correction2)
        denom += eps
        mu_product_next = mu_product * mu_next
        addcdiv_(x, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
        addcdiv_(x, exp_avg, denom, (-lr * mu_next) / (1.0 - mu_product_next))

"""NAdam: Adam with Nesterov momentum (and its momentum-decay schedule)."""

from __future__ import annotations

import numpy

from ember import _backend
from ember._tensor import Tensor
from ember.optim.optimizer import (
    Optimizer,
    _scalar_dtype,
    _to_scalar,
    addcdiv_,
    addcmul_,
    bump,
    check_betas,
    check_differentiable,
    check_lr,
    check_nonneg,
    evaluate_closure,
    grad_of,
    lerp_,
    no_grad_step,
    state_like,
    step_counter,
)


class NAdam(Optimizer):
    """Same as torch.optim.NAdam."""

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
        check_lr(lr)
        check_nonneg("eps", eps, "epsilon")
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("momentum_decay", momentum_decay)
        check_differentiable(differentiable)
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

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.NAdam.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            momentum_decay = group["momentum_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = step_counter()
                    state["mu_product"] = Tensor._make(numpy.array(1.0, dtype=_scalar_dtype()))
                    state["exp_avg"] = state_like(p)
                    state["exp_avg_sq"] = state_like(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                state["step"]._data += 1
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
                bump(p)
        return loss

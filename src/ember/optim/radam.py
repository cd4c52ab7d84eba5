"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    Optimizer,
    _to_scalar,
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


class RAdam(Optimizer):
    """Same as torch.optim.RAdam."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
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
        check_differentiable(differentiable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.RAdam.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = step_counter()
                    state["exp_avg"] = state_like(p)
                    state["exp_avg_sq"] = state_like(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                state["step"]._data += 1
                step = state["step"].item()
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        x *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * x
                exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
                lerp_(exp_avg, grad, 1 - beta1)
                exp_avg_sq *= beta2
                addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                corrected_exp_avg = exp_avg / bias_correction1
                # the length of the approximated simple moving average, and its limit
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
                if rho_t > 5.0:
                    rect = (
                        (rho_t - 4)
                        * (rho_t - 2)
                        * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                    ) ** 0.5
                    sq = xp.sqrt(exp_avg_sq)
                    sq += eps
                    adaptive_lr = (bias_correction2**0.5) / sq
                    x -= corrected_exp_avg * lr * adaptive_lr * rect
                else:
                    x -= corrected_exp_avg * lr
                bump(p)
        return loss

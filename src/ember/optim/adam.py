"""Adam and AdamW (Adam with decoupled weight decay), with the AMSGrad variant."""

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


class Adam(Optimizer):
    """Same as torch.optim.Adam."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        check_lr(lr)
        check_nonneg("eps", eps, "epsilon")
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_differentiable(differentiable)
        defaults = {
            "lr": lr,
            "betas": tuple(_to_scalar(b) for b in betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.Adam.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = step_counter()
                    state["exp_avg"] = state_like(p)
                    state["exp_avg_sq"] = state_like(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = state_like(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
                state["step"]._data += 1
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        x *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * x
                lerp_(exp_avg, grad, 1 - beta1)
                exp_avg_sq *= beta2
                addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
                step = state["step"].item()
                bias_correction1 = 1 - beta1**step
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                step_size = lr / bias_correction1
                if amsgrad:
                    max_sq = state["max_exp_avg_sq"]._data
                    xp.maximum(max_sq, exp_avg_sq, out=max_sq)
                    denom = xp.sqrt(max_sq) / bias_correction2_sqrt
                else:
                    denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt
                denom += eps
                x += -step_size * exp_avg / denom
                bump(p)
        return loss


class AdamW(Adam):
    """Same as torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2)."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

"""Adadelta."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    Optimizer,
    _to_scalar,
    addcmul_,
    bump,
    check_differentiable,
    check_lr,
    check_nonneg,
    evaluate_closure,
    grad_of,
    no_grad_step,
    state_like,
    step_counter,
)


class Adadelta(Optimizer):
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
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_nonneg("eps", eps, "epsilon")
        check_nonneg("weight_decay", weight_decay)
        check_differentiable(differentiable)
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

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.Adadelta.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            rho, eps, weight_decay = group["rho"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = step_counter()
                    state["square_avg"] = state_like(p)
                    state["acc_delta"] = state_like(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                state["step"]._data += 1
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
                bump(p)
        return loss

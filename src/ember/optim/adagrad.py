"""Adagrad, with learning-rate decay and an initial accumulator value."""

from __future__ import annotations

from ember import _backend
from ember.optim.optimizer import (
    Optimizer,
    _to_scalar,
    addcdiv_,
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


class Adagrad(Optimizer):
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
        check_lr(lr)
        check_nonneg("lr_decay", lr_decay)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("initial_accumulator_value", initial_accumulator_value)
        check_nonneg("eps", eps, "epsilon")
        check_differentiable(differentiable)
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
                self._init_state(p)

    def _init_state(self, p):
        state = self.state[p]
        state["step"] = step_counter()
        state["sum"] = state_like(p, self.defaults["initial_accumulator_value"])

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.Adagrad.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            lr_decay, eps, weight_decay = group["lr_decay"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    self._init_state(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                state["step"]._data += 1
                step = state["step"].item()
                if weight_decay != 0:
                    grad = grad + weight_decay * x
                clr = lr / (1 + (step - 1) * lr_decay)
                state_sum = state["sum"]._data
                addcmul_(state_sum, grad, grad, 1)
                std = xp.sqrt(state_sum)
                std += eps
                addcdiv_(x, grad, std, -clr)
                bump(p)
        return loss

"""RMSprop, with the centered and momentum variants."""

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
    lerp_,
    no_grad_step,
    state_like,
    step_counter,
)


class RMSprop(Optimizer):
    """Same as torch.optim.RMSprop."""

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
        check_lr(lr)
        check_nonneg("eps", eps, "epsilon")
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("alpha", alpha)
        check_differentiable(differentiable)
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

    @no_grad_step
    def step(self, closure=None):
        """Same as torch.optim.RMSprop.step."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
            weight_decay, centered = group["weight_decay"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = step_counter()
                    state["square_avg"] = state_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = state_like(p)
                    if centered:
                        state["grad_avg"] = state_like(p)
                x = p._data
                xp = _backend.array_module(x)
                grad = grad_of(p, group["maximize"])
                state["step"]._data += 1
                if weight_decay != 0:
                    grad = grad + weight_decay * x
                square_avg = state["square_avg"]._data
                square_avg *= alpha
                addcmul_(square_avg, grad, grad, 1 - alpha)
                if centered:
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
                bump(p)
        return loss

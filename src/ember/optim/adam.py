"""Adam and AdamW (Adam with decoupled weight decay), with the AMSGrad variant."""

from __future__ import annotations

from ember import _backend
from ember._tensor import Tensor
from ember.optim.optimizer import (
    SingleTensorOptimizer,
    _to_scalar,
    addcmul_,
    check_hyperparameters,
    lerp_,
    state_like,
    step_counter,
)


def _check_tensor_options(lr, betas, foreach, capturable):
    """PyTorch's Adam errors for Tensor lr and betas, which its foreach form cannot take."""
    if not (
        (isinstance(betas[0], float) and isinstance(betas[1], float))
        or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
    ):
        raise ValueError("betas must be either both floats or both Tensors")
    for i in (0, 1):
        if isinstance(betas[i], Tensor):
            if not capturable and foreach:
                raise ValueError(
                    f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True"
                )
            if betas[i].numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")


class Adam(SingleTensorOptimizer):
    """Adam, as torch.optim.Adam: per-parameter step sizes from running averages of the
    gradient and of its square.

    At step t, for a parameter p with gradient g (plus `weight_decay * p` when
    weight_decay != 0, unless decoupled):

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        p = p - lr * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + eps)

    Args:
        params (iterable): the parameters to optimize (`model.parameters()`), or dicts that
            define parameter groups with their own options.
        lr (float | Tensor): learning rate.
        betas (tuple[float, float]): decay rates of the gradient's and the squared
            gradient's running averages.
        eps (float): added to the denominator for numerical stability.
        weight_decay (float): weight decay coefficient (an L2 penalty added to the gradient).
        amsgrad (bool): use the AMSGrad variant (the maximum of all v so far in the
            denominator).
        foreach (bool | None): accepted for compatibility; ember has one implementation.
        maximize (bool): ascend the objective instead of descending it.
        capturable (bool): must be False (CUDA graphs; refused with what to do instead).
        differentiable (bool): must be False (refused with what to do instead).
        fused (bool | None): must be None or False (refused otherwise).
        decoupled_weight_decay (bool): apply weight decay to the parameter directly
            (`p = p * (1 - lr * weight_decay)`), as AdamW does.

    The state (`optimizer.state[p]`: `step`, `exp_avg`, `exp_avg_sq`) lives on the
    parameter's device and is saved by `optimizer.state_dict()` with PyTorch's keys.

    Examples:
        >>> import ember
        >>> from ember import nn
        >>> model = nn.Linear(3, 1)
        >>> optimizer = ember.optim.Adam(model.parameters(), lr=1e-2)
        >>> x, y = ember.randn(16, 3), ember.randn(16, 1)
        >>> before = nn.functional.mse_loss(model(x), y).item()
        >>> for _ in range(100):
        ...     optimizer.zero_grad()
        ...     loss = nn.functional.mse_loss(model(x), y)
        ...     loss.backward()
        ...     optimizer.step()
        >>> loss.item() < before
        True
    """

    _group_defaults = {"amsgrad": False, "decoupled_weight_decay": False}

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
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True"
            )
        check_hyperparameters(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        _check_tensor_options(lr, betas, foreach, capturable)
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

    def _init_state(self, state, param, group):
        state["step"] = step_counter()
        state["exp_avg"] = state_like(param)
        state["exp_avg_sq"] = state_like(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = state_like(param)

    @staticmethod
    def _update(x, grad, state, group, lr):
        xp = _backend.array_module(x)
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
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
        if group["amsgrad"]:
            max_sq = state["max_exp_avg_sq"]._data
            xp.maximum(max_sq, exp_avg_sq, out=max_sq)
            denom = xp.sqrt(max_sq) / bias_correction2_sqrt
        else:
            denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt
        denom += eps
        x += -step_size * exp_avg / denom


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

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:  # as PyTorch's AdamW, whatever the loaded group says
            group["decoupled_weight_decay"] = True

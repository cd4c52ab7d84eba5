"""SGD with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from ember._tensor import Tensor
from ember.optim.optimizer import SingleTensorOptimizer, check_hyperparameters


class SGD(SingleTensorOptimizer):
    """Same as torch.optim.SGD."""

    _group_defaults = {"nesterov": False, "fused": False}

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        # PyTorch's SGD compares with `< 0`, so NaN passes there
        check_hyperparameters(lr=lr, momentum=momentum, weight_decay=weight_decay, nan_passes=True)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _keeps_state(self, group):
        # without momentum, PyTorch's SGD keeps no state at all
        return group["momentum"] != 0

    def _init_state(self, state, param, group):
        # the momentum buffer starts as a copy of the first gradient, in `_update`
        pass

    @staticmethod
    def _update(x, grad, state, group, lr):
        momentum, dampening = group["momentum"], group["dampening"]
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * x
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor._make(grad.copy())
            else:
                b = buf._data
                b *= momentum
                b += (1 - dampening) * grad
            grad = grad + momentum * buf._data if group["nesterov"] else buf._data
        x += -lr * grad

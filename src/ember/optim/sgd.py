"""SGD with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from ember._tensor import Tensor
from ember.optim.optimizer import SingleTensorOptimizer, check_hyperparameters


class SGD(SingleTensorOptimizer):
    """Stochastic gradient descent, with optional momentum, as torch.optim.SGD.

    Each `step()` updates every parameter p that has a gradient g (weight decay folded in as
    `g + weight_decay * p`):

        buf = momentum * buf + (1 - dampening) * g     (buf = g on the first step)
        g   = g + momentum * buf  if nesterov  else  buf   (when momentum != 0)
        p   = p - lr * g

    Args:
        params (iterable): the parameters to optimize (`model.parameters()`), or dicts that
            define parameter groups with their own options (`[{"params": ..., "lr": ...}]`).
        lr (float): learning rate.
        momentum (float): momentum factor (0 for plain gradient descent).
        dampening (float): dampening of the momentum.
        weight_decay (float): L2 penalty coefficient.
        nesterov (bool): use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize (bool): ascend the objective instead of descending it.
        foreach (bool | None): accepted for compatibility; ember has one implementation.
        differentiable (bool): must be False (refused with what to do instead).
        fused (bool | None): must be None or False (refused otherwise).

    Examples:
        >>> import ember
        >>> w = ember.tensor([1.0, -2.0], requires_grad=True)
        >>> optimizer = ember.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     optimizer.zero_grad()
        ...     loss = (w ** 2).sum()           # gradient 2 * w
        ...     loss.backward()
        ...     optimizer.step()
        >>> [round(v, 4) for v in w.tolist()]   # 1 -> 0.8 -> 0.46
        [0.46, -0.92]
    """

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

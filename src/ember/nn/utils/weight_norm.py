"""The hook-based weight_norm of older PyTorch code (torch.nn.utils.weight_norm)."""

from __future__ import annotations

import warnings

from ember.nn.parameter import Parameter
from ember.nn.utils.parametrizations import norm_except_dim


class WeightNorm:
    """The forward pre-hook that rebuilds `name` from `name_g` and `name_v` before each call."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        """g * v / ||v|| from the module's current parameters."""
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Same as torch.nn.utils.weight_norm (deprecated there too): `name` becomes g * v / ||v||
    with parameters `name_g` and `name_v`."""
    warnings.warn(
        "torch.nn.utils.weight_norm is deprecated in favor of "
        "torch.nn.utils.parametrizations.weight_norm.",
        FutureWarning,
        stacklevel=2,
    )
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm) and hook.name == name:
            raise RuntimeError(
                f"Cannot register two weight_norm hooks on the same parameter {name}"
            )
    norm = WeightNorm(name, dim)
    weight = getattr(module, name)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, norm.dim).detach()))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    setattr(module, name, norm.compute_weight(module))
    module.register_forward_pre_hook(norm)
    return module


def remove_weight_norm(module, name="weight"):
    """Same as torch.nn.utils.remove_weight_norm: `name` is a plain parameter again."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            weight = hook.compute_weight(module).detach()
            delattr(module, name)
            del module._parameters[name + "_g"]
            del module._parameters[name + "_v"]
            module.register_parameter(name, Parameter(weight))
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")

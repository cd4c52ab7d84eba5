"""parameters_to_vector and vector_to_parameters."""

from __future__ import annotations

from ember._tensor import Tensor
from ember.nn.modules.module import typename


def _check_device(param, device):
    if device is None:
        return param.device
    if param.device != device:
        raise TypeError(
            "Found two parameters on different devices, this is currently not supported."
        )
    return device


def parameters_to_vector(parameters):
    """Same as torch.nn.utils.parameters_to_vector: one flat (differentiable) vector."""
    from ember.ops.join import cat

    device = None
    pieces = []
    for param in parameters:
        device = _check_device(param, device)
        pieces.append(param.reshape(-1))
    return cat(pieces)


def vector_to_parameters(vec, parameters):
    """Same as torch.nn.utils.vector_to_parameters: slice vec back into the parameters."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {typename(vec)}")
    device = None
    pointer = 0
    for param in parameters:
        device = _check_device(param, device)
        n = param.numel()
        param.data = vec[pointer : pointer + n].view_as(param).data
        pointer += n

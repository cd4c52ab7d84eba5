"""Parametrizations: a module's parameter computed from other tensors on every access.

`register_parametrization(m, "weight", P())` moves `m.weight` to
`m.parametrizations.weight.original` and makes `m.weight` a property that returns
`P()(original)`. The module's class is swapped for a subclass holding that property, as
PyTorch does, so state_dict keys (`parametrizations.weight.original`) match PyTorch's.
"""

from __future__ import annotations

import contextlib
import threading

from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.nn.modules.container import ModuleDict, ModuleList
from ember.nn.parameter import Parameter

_cache = threading.local()  # while `cached()` is on: {(id(module), name): value}


@contextlib.contextmanager
def cached():
    """Same as torch.nn.utils.parametrize.cached: compute each parametrized tensor once
    inside the block (per thread)."""
    outer = getattr(_cache, "values", None)
    _cache.values = {} if outer is None else outer
    try:
        yield
    finally:
        _cache.values = outer


class ParametrizationList(ModuleList):
    """Same as torch.nn.utils.parametrize.ParametrizationList: the chain of parametrizations
    of one tensor and its unparametrized `original` (or `original0`, `original1`, ... when
    the first parametrization's right_inverse returns several tensors)."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__(modules)
        self.unsafe = unsafe
        with no_grad():
            new = original
            for module in reversed(list(modules)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            _check_same(original, new, unsafe, "right_inverse")
            if new is not original:
                _assign(original, new)  # the same Parameter object: optimizers still hold it
            _register(self, "original", original)
        else:
            for i, value in enumerate(new):
                if not isinstance(value, Tensor):
                    raise ValueError(
                        f"'right_inverse' must return a Tensor or a Sequence of tensors. Got "
                        f"an element of type {type(value).__name__}"
                    )
                _register(self, f"original{i}", Parameter(value, original.requires_grad))

    def right_inverse(self, value):
        """Set the originals so that the chain gives `value` (module.weight = value)."""
        with no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(
                        f"parametrization {type(module).__name__} does not implement right_inverse."
                    )
                value = module.right_inverse(value)
            if self.is_tensor:
                _check_same(self.original, value, self.unsafe, "right_inverse")
                _assign(self.original, value)
            else:
                for i, part in enumerate(value):
                    _assign(getattr(self, f"original{i}"), part)

    def forward(self):
        """The parametrized tensor: the chain applied to the original(s)."""
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


def _assign(target, value):
    with no_grad():
        if target.shape == value.shape and target.dtype == value.dtype:
            target.copy_(value)
        else:
            target.set_(value.detach().clone())


def _register(module, name, value):
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


def _check_same(original, new, unsafe, what):
    if unsafe:
        return
    if not isinstance(new, Tensor):
        raise ValueError(f"'{what}' must return a tensor. Got {type(new).__name__}.")
    if new.dtype != original.dtype or tuple(new.shape) != tuple(original.shape):
        raise ValueError(
            f"When `{what}` is called, the returned tensor must have the same shape and dtype "
            f"as the original.\noriginal.shape: {tuple(original.shape)}, "
            f"original.dtype: {original.dtype}\nreturned shape: {tuple(new.shape)}, "
            f"returned dtype: {new.dtype}"
        )


def _parametrized_property(name):
    def getter(module):
        values = getattr(_cache, "values", None)
        if values is None:
            return module.parametrizations[name]()
        key = (id(module), name)
        if key not in values:
            values[key] = module.parametrizations[name]()
        return values[key]

    def setter(module, value):
        module.parametrizations[name].right_inverse(value)

    return property(getter, setter)


def _parametrized_class(module):
    cls = type(module)
    if getattr(cls, "_ember_parametrized", False):
        return cls
    return type(
        f"Parametrized{cls.__name__}",
        (cls,),
        {"_ember_parametrized": True, "__module__": cls.__module__},
    )


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Same as torch.nn.utils.parametrize.register_parametrization."""
    if is_parametrized(module, tensor_name):
        chain = module.parametrizations[tensor_name]
        if not unsafe:
            current = getattr(module, tensor_name)
            _check_same(current, parametrization(current), False, "forward")
        chain.append(parametrization)
        return module
    if tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        if not unsafe:
            _check_same(original, parametrization(original), False, "forward")
        chain = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            module.__class__ = _parametrized_class(module)
            module.parametrizations = ModuleDict()
        module.parametrizations[tensor_name] = chain
        setattr(type(module), tensor_name, _parametrized_property(tensor_name))
        return module
    raise ValueError(
        f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
        f"with name '{tensor_name}'"
    )


def is_parametrized(module, tensor_name=None) -> bool:
    """Same as torch.nn.utils.parametrize.is_parametrized."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    return tensor_name is None or tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Same as torch.nn.utils.parametrize.remove_parametrizations: `tensor_name` becomes a
    plain parameter again, holding its parametrized value (or its original)."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    chain = module.parametrizations[tensor_name]
    if leave_parametrized:
        with no_grad():
            value = getattr(module, tensor_name)
        if chain.is_tensor:
            original = chain.original
            if value.dtype == original.dtype:
                _assign(original, value)
            else:
                original = Parameter(value.detach(), original.requires_grad)
        else:
            original = Parameter(value.detach(), chain.original0.requires_grad)
    else:
        if not chain.is_tensor:
            raise ValueError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                "parametrized in terms of a sequence of tensors."
            )
        original = chain.original
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register(module, tensor_name, original)
    if not module.parametrizations:
        delattr(module, "parametrizations")
        module.__class__ = type(module).__mro__[1]
    return module


def type_before_parametrizations(module):
    """Same as torch.nn.utils.parametrize.type_before_parametrizations."""
    return type(module).__mro__[1] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Same as torch.nn.utils.parametrize.transfer_parametrizations_and_params (for names
    that to_module has as plain tensors)."""
    names = [tensor_name] if tensor_name is not None else list(from_module.parametrizations)
    for name in names:
        if not is_parametrized(to_module, name):
            for parametrization in from_module.parametrizations[name]:
                register_parametrization(to_module, name, parametrization)
        source, target = from_module.parametrizations[name], to_module.parametrizations[name]
        with no_grad():
            for key, value in source.named_parameters(recurse=False):
                getattr(target, key).set_(value.detach().clone())
    return to_module

"""Parameter and Buffer: the tensors a Module registers when they are assigned to it."""

from __future__ import annotations

from ember._tensor import Tensor


class Parameter(Tensor):
    """Same as torch.nn.Parameter: a Tensor that a Module registers as a learnable parameter.

    It shares storage (and the version counter) with the data it was made from and requires
    grad unless told otherwise.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ember.ops.creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): expected data to be a Tensor, got {type(data).__name__}")
        param = object.__new__(cls)
        param._init(data._data)
        param._vc = data._vc
        if requires_grad:
            param.requires_grad_(True)
        return param

    def __init__(self, data=None, requires_grad=True):
        pass  # all done in __new__

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        copied = Parameter(Tensor._make(self._data.copy()), self._requires_grad)
        if self._grad is not None:
            copied._grad = Tensor._make(self._grad._data.copy())
        copied.__dict__.update(self.__dict__)
        memo[id(self)] = copied
        return copied


class Buffer(Tensor):
    """Same as torch.nn.Buffer: assigning one to a Module attribute registers a buffer."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            from ember.ops.creation import empty

            data = empty(0)
        buffer = object.__new__(cls)
        buffer._init(data._data, data._requires_grad)
        buffer._vc = data._vc
        buffer.persistent = persistent
        return buffer

    def __init__(self, data=None, *, persistent=True):
        pass


def is_lazy(param):
    """ember has no lazy modules: always False."""
    return False

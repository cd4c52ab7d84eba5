"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

import itertools
import operator
from collections import OrderedDict
from collections.abc import Mapping

from ember._tensor import Tensor
from ember.nn.modules.module import Module, addindent
from ember.nn.parameter import Parameter


def _index(idx, size):
    idx = operator.index(idx)
    if not -size <= idx < size:
        raise IndexError(f"index {idx} is out of range")
    return idx % size


class Sequential(Module):
    """A chain of modules, each fed the previous one's output, as torch.nn.Sequential.

    `Sequential(m0, m1, ...)` names the modules "0", "1", ...; `Sequential(OrderedDict(...))`
    uses the dict's names. The modules are registered as children, so their parameters are
    the Sequential's parameters and they move, save and load with it.

    Args:
        *args (Module | OrderedDict[str, Module]): the modules in calling order, or one
            OrderedDict of named modules.

    Indexing (`seq[0]`, `seq[-1]`, `seq[1:]`, which is a new Sequential of the same
    modules), `len`, iteration, `append`, `insert`, `extend`, `pop`, `del seq[i]`, `+` and
    `*` work as on a list.

    Examples:
        >>> import ember
        >>> from collections import OrderedDict
        >>> from ember import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> tuple(model(ember.randn(5, 4)).shape)
        (5, 2)
        >>> [name for name, _ in model.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
        >>> named = nn.Sequential(OrderedDict([("hidden", nn.Linear(4, 8)), ("act", nn.Tanh())]))
        >>> named.hidden.out_features
        8
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _key(self, idx):
        return list(self._modules)[_index(idx, len(self._modules))]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        setattr(self, self._key(idx), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules)[idx]:
                delattr(self, key)
        else:
            delattr(self, self._key(idx))
        # keep the numbering contiguous
        items = list(self._modules.values())
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(items))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )
        out = Sequential()
        for module in itertools.chain(self, other):
            out.append(module)
        return out

    def __iadd__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )
        for module in list(other):
            self.append(module)
        return self

    def __mul__(self, other):
        if not isinstance(other, int) or other <= 0:
            raise ValueError(
                f"Non-positive multiplication factor {other} for {type(self)}"
                if isinstance(other, int)
                else f"unsupported operand type(s) for *: {type(self)} and {type(other)}"
            )
        out = Sequential()
        for _ in range(other):
            for module in self:
                out.append(module)
        return out

    __rmul__ = __mul__

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, module):
        """Same as torch.nn.Sequential.append."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index, module):
        """Same as torch.nn.Sequential.insert."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential):
        """Same as torch.nn.Sequential.extend."""
        for module in sequential:
            self.append(module)
        return self

    def pop(self, key):
        """Same as torch.nn.Sequential.pop: remove and return the module at an index."""
        value = self[key]
        del self[key]
        return value

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """Same as torch.nn.ModuleList: a list of registered modules."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self)))]

    def __setitem__(self, idx, module):
        setattr(self, str(_index(idx, len(self))), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, str(_index(idx, len(self))))
        items = list(self._modules.values())
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(items))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        combined = ModuleList()
        for i, module in enumerate(itertools.chain(self, other)):
            combined.add_module(str(i), module)
        return combined

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def insert(self, index, module):
        """Same as torch.nn.ModuleList.insert."""
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module):
        """Same as torch.nn.ModuleList.append."""
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key):
        """Same as torch.nn.ModuleList.pop."""
        value = self[key]
        del self[key]
        return value

    def extend(self, modules):
        """Same as torch.nn.ModuleList.extend."""
        if isinstance(modules, (Module, Tensor)) or not hasattr(modules, "__iter__"):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got "
                + type(modules).__name__
            )
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def __repr__(self):
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        # consecutive equal modules print once, as "(0-2): 3 x Linear(...)"
        blocks = []
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            if start == end:
                line = f"({start}): {r}"
            else:
                line = f"({start}-{end}): {end - start + 1} x {r}"
            lines.append(addindent(line, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )


class ModuleDict(Module):
    """Same as torch.nn.ModuleDict: a dict of registered modules (insertion order kept)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        """Same as torch.nn.ModuleDict.clear."""
        self._modules.clear()

    def pop(self, key):
        """Same as torch.nn.ModuleDict.pop."""
        value = self[key]
        del self[key]
        return value

    def keys(self):
        """Same as torch.nn.ModuleDict.keys."""
        return self._modules.keys()

    def items(self):
        """Same as torch.nn.ModuleDict.items."""
        return self._modules.items()

    def values(self):
        """Same as torch.nn.ModuleDict.values."""
        return self._modules.values()

    def update(self, modules):
        """Same as torch.nn.ModuleDict.update (a mapping or an iterable of pairs)."""
        if isinstance(modules, (OrderedDict, ModuleDict, Mapping)):
            for key, module in modules.items():
                self[key] = module
            return
        for j, pair in enumerate(modules):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"ModuleDict update sequence element #{j} should be an iterable of length 2"
                )
            self[pair[0]] = pair[1]

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )


def _as_parameter(value):
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _param_line(key, p):
    if isinstance(p, Tensor):
        size = "x".join(str(s) for s in p.shape)
        device = f" ({p.device})" if p.device.type == "cuda" else ""
        kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
        return f"  ({key}): {kind} containing: [{p.dtype} of size {size}{device}]"
    return f"  ({key}): Object of type: {type(p).__name__}"


class ParameterList(Module):
    """Same as torch.nn.ParameterList: a list of registered parameters."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(_index(idx, len(self))))

    def __setitem__(self, idx, param):
        setattr(self, str(_index(idx, len(self))), _as_parameter(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value):
        """Same as torch.nn.ParameterList.append."""
        new_index = len(self)
        self._size += 1
        setattr(self, str(new_index), _as_parameter(value))
        return self

    def extend(self, values):
        """Same as torch.nn.ParameterList.extend."""
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError(
                "ParameterList.extend should be called with an iterable, but got "
                + type(values).__name__
            )
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(_param_line(k, p) for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """Same as torch.nn.ParameterDict: a dict of registered parameters."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def copy(self):
        """Same as torch.nn.ParameterDict.copy (a new dict of the same parameters)."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key, default=None):
        """Same as torch.nn.ParameterDict.setdefault."""
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        """Same as torch.nn.ParameterDict.clear."""
        for k in list(self._keys):
            del self[k]

    def pop(self, key):
        """Same as torch.nn.ParameterDict.pop."""
        value = self[key]
        del self[key]
        return value

    def get(self, key, default=None):
        """Same as torch.nn.ParameterDict.get."""
        return self[key] if key in self else default

    def keys(self):
        """Same as torch.nn.ParameterDict.keys."""
        return self._keys.keys()

    def items(self):
        """Same as torch.nn.ParameterDict.items."""
        return ((k, self[k]) for k in self._keys)

    def values(self):
        """Same as torch.nn.ParameterDict.values."""
        return (self[k] for k in self._keys)

    def update(self, values):
        """Same as torch.nn.ParameterDict.update."""
        if isinstance(values, (OrderedDict, ParameterDict)):
            pairs = values.items()
        elif isinstance(values, Mapping):
            pairs = sorted(values.items())
        else:
            pairs = values
        for j, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"ParameterDict update sequence element #{j} should be an iterable of length 2"
                )
            self[pair[0]] = pair[1]

    def extra_repr(self):
        lines = []
        for k, p in self.items():
            if isinstance(p, Tensor):
                size = "x".join(str(s) for s in p.shape)
                device = f" ({p.device})" if p.device.type == "cuda" else ""
                kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
                lines.append(f"  ({k}): {kind} containing: [{p.type()} of size {size}{device}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(p).__name__}")
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")

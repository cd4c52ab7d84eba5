"""state_dict and load_state_dict, with PyTorch's keys, metadata, hooks and error messages."""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.nn.modules.hooks import RemovableHandle
from ember.nn.parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: the missing and the unexpected keys."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def size_repr(shape):
    """How ember prints a shape in PyTorch-worded messages."""
    return f"ember.Size({list(shape)})"


def _overrides(module, name):
    """True when the module's class defines its own `name` (get/set_extra_state)."""
    from ember.nn.modules.module import Module

    return getattr(type(module), name) is not getattr(Module, name)


class _Snapshot:
    """Every parameter and buffer of a module tree (the objects, their values and versions),
    so a failed load_state_dict can put the module back as it was."""

    def __init__(self, root):
        self.modules = [(m, dict(m._parameters), dict(m._buffers)) for m in root.modules()]
        seen = {}
        for _, params, buffers in self.modules:
            for t in itertools.chain(params.values(), buffers.values()):
                if t is not None and id(t) not in seen:
                    seen[id(t)] = (t, t._data.copy(), t._vc[0])
        self.tensors = list(seen.values())

    def restore(self):
        for module, params, buffers in self.modules:
            module._parameters.clear()
            module._parameters.update(params)
            module._buffers.clear()
            module._buffers.update(buffers)
        for t, data, version in self.tensors:
            if t._data.shape == data.shape and t._data.dtype == data.dtype:
                t._data[...] = data
            else:
                t._data = data
            t._vc[0] = version  # the values are bit-identical to that version's


class StateDictMixin:
    """Module's state_dict half (Module inherits it)."""

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if _overrides(self, "get_extra_state"):
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """Same as torch.nn.Module.state_dict: an OrderedDict of parameters and persistent
        buffers (detached, sharing storage), keyed by dotted names."""
        if args:  # the deprecated positional form (destination, prefix, keep_vars)
            destination = args[0] if len(args) > 0 else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:
            metadata[prefix[:-1]] = {"version": self._version}
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, {"version": self._version})
            if result is not None:
                destination = result
        return destination

    def _load_from_state_dict(
        self,
        state_dict,
        prefix,
        local_metadata,
        strict,
        missing_keys,
        unexpected_keys,
        error_msgs,
        assign=False,
    ):
        for hook in self._load_state_dict_pre_hooks.values():
            hook(
                state_dict,
                prefix,
                local_metadata,
                strict,
                missing_keys,
                unexpected_keys,
                error_msgs,
            )
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local = {
            k: v
            for k, v in itertools.chain(self._parameters.items(), persistent.items())
            if v is not None
        }
        for name, current in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            if value.shape != current.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{size_repr(value.shape)} from checkpoint, the shape in current model is "
                    f"{size_repr(current.shape)}."
                )
                continue
            try:
                with no_grad():
                    if assign:
                        self._assign(name, current, value)
                    else:
                        current.copy_(value)
            except Exception as e:  # noqa: BLE001 - reported like PyTorch, with the cause
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {size_repr(current.shape)} and whose dimensions in the checkpoint are "
                    f"{size_repr(value.shape)}, an exception occurred : {e.args}."
                )
        extra_key = prefix + "_extra_state"
        if _overrides(self, "set_extra_state"):
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if not key.startswith(prefix) or key == extra_key:
                    continue
                head = key[len(prefix) :].split(".", 1)
                if len(head) > 1:
                    if head[0] not in self._modules:
                        unexpected_keys.append(key)
                elif head[0] not in local:
                    unexpected_keys.append(key)

    def _assign(self, name, current, value):
        if name in self._parameters:
            setattr(self, name, Parameter(value, current.requires_grad))
        else:
            self._buffers[name] = value

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Same as torch.nn.Module.load_state_dict: copy values in (under no_grad); returns
        _IncompatibleKeys(missing_keys, unexpected_keys); raises on errors when strict."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys, unexpected_keys, error_msgs = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)

        def load(module, prefix=""):
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            module._load_from_state_dict(
                state_dict,
                prefix,
                local_metadata,
                True,
                missing_keys,
                unexpected_keys,
                error_msgs,
                assign,
            )
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")
            keys = _IncompatibleKeys(missing_keys, unexpected_keys)
            for hook in module._load_state_dict_post_hooks.values():
                hook(module, keys)

        undo = _Snapshot(self)
        try:
            load(self)
        except BaseException:
            undo.restore()
            raise
        if strict:
            if unexpected_keys:
                error_msgs.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected_keys)
                    ),
                )
            if missing_keys:
                error_msgs.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing_keys)
                    ),
                )
        if error_msgs:
            undo.restore()  # nothing half-loaded: the module is as it was before the call
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(error_msgs)
                )
            )
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    def register_state_dict_pre_hook(self, hook):
        """Same as torch.nn.Module.register_state_dict_pre_hook: hook(module, prefix,
        keep_vars)."""
        return RemovableHandle.add(self._state_dict_pre_hooks, hook)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata), after the module's entries."""
        return RemovableHandle.add(self._state_dict_hooks, hook)

    _register_state_dict_hook = register_state_dict_post_hook

    def register_load_state_dict_pre_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errs)."""
        return RemovableHandle.add(
            self._load_state_dict_pre_hooks,
            lambda *args: hook(self, *args),
        )

    def register_load_state_dict_post_hook(self, hook):
        """Same as torch.nn.Module.register_load_state_dict_post_hook: hook(module, keys)."""
        return RemovableHandle.add(self._load_state_dict_post_hooks, hook)

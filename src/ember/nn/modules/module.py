"""Module: the base class of every layer, with PyTorch's registration, traversal, state_dict,
device/dtype moves, hooks and repr."""

from __future__ import annotations

from collections import OrderedDict

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.nn.modules.hooks import BackwardHook, RemovableHandle
from ember.nn.modules.state_dict import StateDictMixin, _IncompatibleKeys, size_repr  # noqa: F401
from ember.nn.parameter import Buffer, Parameter


def typename(obj):
    """PyTorch's torch.typename: 'ember.FloatTensor' for tensors, the class name otherwise."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(type(obj), "__module__", "") or ""
    name = type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def addindent(text, spaces):
    """Indent every line of `text` but the first by `spaces` spaces."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


class Module(StateDictMixin):
    """The base class of every layer and model, as torch.nn.Module.

    Subclass it, call `super().__init__()` first in `__init__`, assign layers and
    `nn.Parameter`s as attributes, and write the computation in `forward`. Assigning a
    Module or a Parameter to an attribute registers it, so `parameters()`, `state_dict()`,
    `to()`, `train()`/`eval()` and `zero_grad()` reach everything the model is made of.
    Call the module itself (`model(x)`), not `forward`: the call runs the forward hooks and
    the backward hooks around it.

    Examples:
        >>> import ember
        >>> from ember import nn
        >>> class TwoLayerNet(nn.Module):
        ...     def __init__(self, d_in, hidden, d_out):
        ...         super().__init__()
        ...         self.hidden = nn.Linear(d_in, hidden)
        ...         self.out = nn.Linear(hidden, d_out)
        ...
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).clamp(min=0))
        >>> model = TwoLayerNet(10, 32, 2)
        >>> tuple(model(ember.randn(4, 10)).shape)
        (4, 2)
        >>> sum(p.numel() for p in model.parameters())     # 10*32 + 32 + 32*2 + 2
        418
        >>> list(model.state_dict())
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    _version = 1
    training: bool
    call_super_init = False

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            unexpected = ", ".join([repr(a) for a in args] + list(kwargs))
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: {unexpected}"
            )
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        for name in _HOOK_DICTS:
            setattr_(self, name, OrderedDict())

    def forward(self, *args, **kwargs):
        """The computation the module performs on its inputs; every subclass overrides it.

        Call the module (`module(x)`) rather than this method, so that hooks run.
        """
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # --- registration ---
    def register_buffer(self, name, tensor, persistent=True):
        """Register a tensor that is part of the module's state but not a parameter, as
        torch.nn.Module.register_buffer (BatchNorm's running mean is one).

        A buffer moves with `to()`, is reached by `buffers()`, is available as
        `self.<name>`, and is not returned by `parameters()`, so optimizers leave it alone.

        Args:
            name (str): the attribute name.
            tensor (Tensor | None): the buffer; None registers the name with no tensor (left
                out of the state_dict).
            persistent (bool): if False, the buffer is left out of `state_dict()`.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{typename(tensor)}' object to buffer '{name}' (torch Tensor or "
                "None required)"
            )
        if isinstance(tensor, Buffer):
            persistent = tensor.persistent
            tensor = _plain(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        """Same as torch.nn.Module.register_parameter."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{typename(param)}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method."
            )
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register `module` as a child named `name` (the same as assigning
        `self.<name> = module`), as torch.nn.Module.add_module.

        Args:
            name (str): the child's name (no dots); it prefixes the child's keys in the
                state_dict.
            module (Module | None): the child.
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """Same as torch.nn.Module.get_submodule ('a.b.0')."""
        if target == "":
            return self
        module = self
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def get_parameter(self, target):
        """Same as torch.nn.Module.get_parameter."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target):
        """Same as torch.nn.Module.get_buffer."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    def get_extra_state(self):
        """Override (with set_extra_state) to put extra state in the state_dict."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called."
        )

    def set_extra_state(self, state):
        """Override (with get_extra_state) to load extra state from the state_dict."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called."
        )

    # --- attribute protocol ---
    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            values = d.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(name, d, d["_buffers"], d["_modules"], d["_non_persistent_buffers_set"])
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(name, d, d["_parameters"], d["_buffers"], d["_non_persistent_buffers_set"])
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as child module '{name}' "
                    "(torch.nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{typename(value)}' as buffer '{name}' (torch.nn.Buffer, "
                    "torch.Tensor or None expected)"
                )
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in d["_non_persistent_buffers_set"]
            if name not in buffers:
                _remove_from(name, d, d["_parameters"], d["_modules"])
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        attrs = list(super().__dir__())
        keys = attrs + list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in _HOOK_DICTS:
            self.__dict__.setdefault(name, OrderedDict())
        self.__dict__.setdefault("_non_persistent_buffers_set", set())

    # --- traversal ---
    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (module_prefix + ("." if module_prefix else "") + name, value)

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """Iterate over `(name, parameter)` pairs, as torch.nn.Module.named_parameters.

        Names are dotted paths (`"0.weight"`, `"encoder.layers.1.bias"`), the keys the
        parameters have in `state_dict()`.

        Args:
            prefix (str): prepended to every name.
            recurse (bool): if False, only this module's own parameters, not its children's.
            remove_duplicate (bool): if True, a parameter shared by several modules is
                listed once.

        Yields:
            (str, Parameter): each parameter with its name.
        """
        return self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse=True):
        """Iterate over the module's parameters (its children's too), as
        torch.nn.Module.parameters: what an optimizer is given.

        Args:
            recurse (bool): if False, only this module's own parameters.

        Yields:
            Parameter: each parameter once, in registration order.

        Examples:
            >>> import ember
            >>> model = ember.nn.Linear(3, 2)
            >>> [tuple(p.shape) for p in model.parameters()]
            [(2, 3), (2,)]
            >>> optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
        """
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """Same as torch.nn.Module.named_buffers."""
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """Same as torch.nn.Module.buffers."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_children(self):
        """Same as torch.nn.Module.named_children (each child module once)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        """Iterate over the immediate child modules, as torch.nn.Module.children."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Same as torch.nn.Module.named_modules: this module, then every descendant."""
        if memo is None:
            memo = set()
        if id(self) in memo and remove_duplicate:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        """Iterate over this module and every module inside it, depth first, as
        torch.nn.Module.modules."""
        for _, module in self.named_modules():
            yield module

    def apply(self, fn):
        """Call `fn` on every submodule (children first) and then on this module, as
        torch.nn.Module.apply; returns this module. Often used to initialise weights.

        Examples:
            >>> import ember
            >>> from ember import nn
            >>> def init_weights(m):
            ...     if isinstance(m, nn.Linear):
            ...         nn.init.zeros_(m.bias)
            >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
            >>> model.apply(init_weights)[0].bias.tolist()
            [0.0, 0.0, 0.0, 0.0]
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ---
    def train(self, mode=True):
        """Set training mode (True) or evaluation mode (False) on this module and every
        submodule, as torch.nn.Module.train; returns this module.

        The mode changes what Dropout and BatchNorm do; it does not turn gradients off
        (use `ember.no_grad()` for that).

        Args:
            mode (bool): True for training, False for evaluation.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        """Set evaluation mode: the same as `train(False)`; returns this module.

        Dropout passes its input through and BatchNorm uses its running statistics.
        """
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Same as torch.nn.Module.requires_grad_."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter, as torch.nn.Module.zero_grad.

        Args:
            set_to_none (bool): if True (the default), `.grad` becomes None (the next
                backward allocates it anew); if False, it is filled with zeros in place.
        """
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                grad = p._grad
                if grad.grad_fn is not None:
                    grad = grad.detach()
                    p._grad = grad
                grad._requires_grad = False
                grad.zero_()

    # --- device and dtype moves ---
    def _apply(self, fn, recurse=True):
        """Apply fn to every parameter and buffer; parameters change in place (param.data)."""
        if recurse:
            for module in self.children():
                module._apply(fn)
        for param in self._parameters.values():
            if param is None:
                continue
            with no_grad():
                moved = fn(param)
            param.data = moved
            if param._grad is not None:
                with no_grad():
                    moved_grad = fn(param._grad)
                param._grad.data = moved_grad
        for key, buf in self._buffers.items():
            if buf is not None:
                with no_grad():
                    self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        """Move parameters and buffers to a device and/or cast the floating ones to a
        dtype, as torch.nn.Module.to; returns this module, changed in place.

        Accepts `to(device)`, `to(dtype)`, `to(device, dtype)`, `to(tensor)` (its device and
        dtype) and the keywords `device=` and `dtype=`. Parameters keep their identity, so
        an optimizer built before the move still holds them. Integer buffers keep their
        dtype.

        Examples:
            >>> import ember
            >>> model = ember.nn.Linear(3, 2).to(ember.float64)
            >>> model.weight.dtype
            ember.float64
        """
        device, dtype = _parse_to(args, kwargs)
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, but got desired "
                f"dtype={dtype}"
            )

        def convert(t):
            target = dtype if dtype is not None and t.is_floating_point() else None
            return t.to(device=device, dtype=target)

        return self._apply(convert)

    def cuda(self, device=None):
        """Same as torch.nn.Module.cuda."""
        return self._apply(lambda t: t.cuda(device))

    def cpu(self):
        """Same as torch.nn.Module.cpu."""
        return self._apply(lambda t: t.cpu())

    def type(self, dst_type):
        """Same as torch.nn.Module.type: cast every parameter and buffer to dst_type."""
        return self._apply(lambda t: t.type(dst_type))

    def float(self):
        """Same as torch.nn.Module.float: floating parameters and buffers to float32."""
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        """Same as torch.nn.Module.double."""
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        """Same as torch.nn.Module.half."""
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self):
        """Same as torch.nn.Module.bfloat16: floating parameters and buffers to bfloat16
        (needs the ml_dtypes package)."""
        return self._apply(lambda t: t.bfloat16() if t.is_floating_point() else t)

    def share_memory(self):
        """Accepted for compatibility; ember tensors live in one process."""
        return self

    # --- hooks and calls ---
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Same as torch.nn.Module.register_forward_pre_hook."""
        handle = RemovableHandle.add(
            self._forward_pre_hooks, hook, prepend, extra=self._forward_pre_hooks_with_kwargs
        )
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """Register `hook(module, args, output)`, called after every forward, as
        torch.nn.Module.register_forward_hook.

        A hook that returns a value replaces the output. Remove it with the returned
        handle's `remove()`.

        Args:
            hook (Callable): `hook(module, args, output)`, or with `with_kwargs=True`
                `hook(module, args, kwargs, output)`.
            prepend (bool): run it before the hooks already registered.
            with_kwargs (bool): pass the forward's keyword arguments too.
            always_call (bool): run it even when the forward raises.

        Returns:
            RemovableHandle: call its `remove()` to unregister the hook.

        Examples:
            >>> import ember
            >>> shapes = []
            >>> layer = ember.nn.Linear(3, 2)
            >>> handle = layer.register_forward_hook(lambda m, args, out: shapes.append(out.shape))
            >>> _ = layer(ember.randn(5, 3))
            >>> handle.remove()
            >>> [tuple(s) for s in shapes]
            [(5, 2)]
        """
        handle = RemovableHandle.add(
            self._forward_hooks,
            hook,
            prepend,
            extra=(self._forward_hooks_with_kwargs, self._forward_hooks_always_called),
        )
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Same as torch.nn.Module.register_full_backward_pre_hook: hook(module, grad_output)."""
        return RemovableHandle.add(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """Same as torch.nn.Module.register_full_backward_hook:
        hook(module, grad_input, grad_output), which may return a new grad_input."""
        return RemovableHandle.add(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        """The legacy spelling; ember gives it register_full_backward_hook's semantics."""
        return self.register_full_backward_hook(hook)

    def _call_impl(self, *args, **kwargs):
        if not (
            self._forward_hooks
            or self._forward_pre_hooks
            or self._backward_hooks
            or self._backward_pre_hooks
        ):
            return self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hook = None
        if self._backward_hooks or self._backward_pre_hooks:
            backward_hook = BackwardHook(
                self, list(self._backward_hooks.values()), list(self._backward_pre_hooks.values())
            )
            args = backward_hook.setup_input_hook(args)
        try:
            result = self.forward(*args, **kwargs)
        except Exception:
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called:
                    try:
                        _run_forward_hook(self, hook_id, hook, args, kwargs, None)
                    except Exception:  # noqa: BLE001, S110 - the forward's error wins
                        pass
            raise
        for hook_id, hook in list(self._forward_hooks.items()):
            hook_result = _run_forward_hook(self, hook_id, hook, args, kwargs, result)
            if hook_result is not None:
                result = hook_result
        if backward_hook is not None:
            result = backward_hook.setup_output_hook(result)
        return result

    __call__ = _call_impl

    # --- printing ---
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """The module's own settings, shown inside its repr; override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + addindent(repr(module), 2) for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _run_forward_hook(module, hook_id, hook, args, kwargs, result):
    if hook_id in module._forward_hooks_with_kwargs:
        return hook(module, args, kwargs, result)
    return hook(module, args, result)


def _remove_from(name, *stores):
    for store in stores:
        if name in store:
            if isinstance(store, dict):
                del store[name]
            else:
                store.discard(name)


def _plain(buffer):
    t = Tensor._make(buffer._data, buffer._requires_grad)
    t._vc = buffer._vc
    return t


def _parse_to(args, kwargs):
    """(device, dtype) from Module.to's arguments: device, dtype, tensor, in any spelling."""
    from ember._backend import Device

    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() received an invalid combination of arguments: {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, _dtype.dtype):
            dtype = a
        elif isinstance(a, (str, Device)):
            if (
                isinstance(a, str)
                and a.removeprefix("torch.").removeprefix("ember.") in _dtype._NAMES
            ):
                dtype = _dtype.to_dtype(a)
            else:
                device = a
        elif isinstance(a, bool):
            continue  # non_blocking passed positionally
        elif a is not None:
            dtype = _dtype.to_dtype(a)
    if dtype is not None:
        dtype = _dtype.to_dtype(dtype)
    return device, dtype

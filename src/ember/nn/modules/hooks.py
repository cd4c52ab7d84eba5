"""Hook handles, and the machinery behind Module.register_full_backward_hook."""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict

from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.autograd.grad_mode import is_grad_enabled


class RemovableHandle:
    """Same as torch.utils.hooks.RemovableHandle: `handle.remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._ids)
        if extra_dict is None:
            extra_dict = ()
        elif isinstance(extra_dict, dict):
            extra_dict = (extra_dict,)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    @classmethod
    def add(cls, hooks_dict, hook, prepend=False, extra=None):
        """Register `hook` in `hooks_dict` under a fresh id; return its handle."""
        handle = cls(hooks_dict, extra_dict=extra)
        hooks_dict[handle.id] = hook
        if prepend and isinstance(hooks_dict, OrderedDict):
            hooks_dict.move_to_end(handle.id, last=False)
        return handle

    def remove(self):
        """Unregister the hook (a second call does nothing)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class BackwardHookFunction(Function):
    """Identity on tensors; marks where a module's inputs and outputs enter the graph."""

    node_name = "BackwardHookFunctionBackward"

    @staticmethod
    def forward(ctx, *tensors):
        return tensors if len(tensors) != 1 else tensors[0]

    @staticmethod
    def backward(ctx, *grads):
        return grads


def _tensor_positions(values):
    return [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]


def _wrap(values, positions):
    """Route the tensors at `positions` through one identity node; return the new values and
    that node (where the module's hook goes)."""
    wrapped = BackwardHookFunction.apply(*(values[i] for i in positions))
    if not isinstance(wrapped, tuple):
        wrapped = (wrapped,)
    values = list(values)
    for i, w in zip(positions, wrapped):
        values[i] = w
    return values, wrapped[0].grad_fn


class BackwardHook:
    """One forward call's full backward hooks: sees grad_output, then grad_input."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_positions = []
        self.output_positions = []
        self.n_outputs = 0

    def setup_input_hook(self, args):
        self.n_inputs = len(args)
        self.input_positions = _tensor_positions(args) if is_grad_enabled() else []
        if not self.input_positions:
            return args
        args, node = _wrap(args, self.input_positions)
        # a post-hook: the module's hooks run after any pre-hook a user puts on that node
        node.register_hook(self._on_input_grads)
        return tuple(args)

    def setup_output_hook(self, result):
        single = isinstance(result, Tensor)
        values = [result] if single else list(result) if isinstance(result, (tuple, list)) else None
        if values is None or not is_grad_enabled():
            return result
        self.output_positions = _tensor_positions(values)
        self.n_outputs = len(values)
        if not self.output_positions:
            return result
        values, node = _wrap(values, self.output_positions)
        node.register_prehook(self._on_output_grads)
        if single:
            return values[0]
        return type(result)(values) if isinstance(result, list) else tuple(values)

    def _spread(self, grads, positions, n):
        full = [None] * n
        for i, g in zip(positions, grads):
            full[i] = g
        return tuple(full)

    def _on_output_grads(self, grads):
        grad_outputs = self._spread(grads, self.output_positions, self.n_outputs)
        changed = False
        for hook in self.pre_hooks:
            result = hook(self.module, grad_outputs)
            if result is not None:
                grad_outputs = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                changed = True
        self.grad_outputs = grad_outputs
        if not self.input_positions:  # no input needs a gradient: the hooks run now
            for hook in self.hooks:
                hook(self.module, (None,) * self.n_inputs, grad_outputs)
        if changed:
            return tuple(grad_outputs[i] for i in self.output_positions)
        return None

    def _on_input_grads(self, grads, _grad_outputs):
        if self.grad_outputs is None:
            # the gradient reached the module's inputs without passing through its outputs
            # (double backward through the module's own backward): not a call of the module
            return None
        grad_inputs = self._spread(grads, self.input_positions, self.n_inputs)
        changed = False
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_inputs):
                    raise RuntimeError(
                        f"Backward hook returned an invalid number of grad_input, got "
                        f"{len(result)}, but expected {len(grad_inputs)}"
                    )
                grad_inputs = result
                changed = True
        self.grad_outputs = None
        if changed:
            return tuple(grad_inputs[i] for i in self.input_positions)
        return None

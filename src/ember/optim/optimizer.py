"""The Optimizer base class: param groups, per-parameter state, state_dict and zero_grad.

Updates are plain array math on each parameter's backend array (numpy or cupy, whichever owns
it), in place and outside autograd: an optimizer step never builds a graph. Every write to a
parameter bumps its version counter, so a backward that saved the old value raises.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy

from ember import _backend, _dtype
from ember._tensor import Tensor
from ember.autograd.grad_mode import enable_grad, no_grad


class _RequiredParameter:
    """Marks a default that every param group must give (torch.optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _to_scalar(value):
    """A 1-element tensor hyperparameter as a Python number; anything else unchanged."""
    if isinstance(value, Tensor):
        return value.item()
    return value


def _scalar_dtype():
    """The dtype of 'step' counters: float64 under a float64 default dtype, else float32."""
    return numpy.float64 if _dtype.get_default_dtype() is _dtype.float64 else numpy.float32


def step_counter(value=0.0):
    """A 0-d CPU tensor that counts steps, as PyTorch keeps 'step' in optimizer state."""
    return Tensor._make(numpy.array(value, dtype=_scalar_dtype()))


def state_like(param, fill=0.0):
    """A state tensor of the parameter's shape, dtype and device, filled with `fill`."""
    xp = _backend.array_module(param._data)
    return Tensor._make(xp.full_like(param._data, fill))


def bump(param):
    """Record an in-place change of `param`'s storage."""
    param._vc[0] += 1


def grad_of(param, maximize):
    """The parameter's gradient array, negated when maximizing (a new array then)."""
    grad = param.grad._data
    return -grad if maximize else grad


def lerp_(a, end, weight):
    """a = lerp(a, end, weight) in place, with PyTorch's two-sided formula."""
    if abs(weight) < 0.5:
        a += weight * (end - a)
    else:
        a[...] = end - (end - a) * (1 - weight)


def addcmul_(a, t1, t2, value=1.0):
    """a += value * t1 * t2 in place (PyTorch's order of operations)."""
    a += value * t1 * t2


def addcdiv_(a, t1, t2, value=1.0):
    """a += value * t1 / t2 in place (PyTorch's order of operations)."""
    a += value * t1 / t2


_LABELS = {"eps": "epsilon"}  # the word PyTorch's message uses, where it is not the name


def check_nonneg(name, value, label=None, nan_passes=False):
    """Raise PyTorch's 'Invalid <label> value: v' ValueError for a negative hyperparameter.

    `nan_passes` compares as `value < 0` (SGD's form in PyTorch, which lets NaN through);
    otherwise as `not 0 <= value`, which refuses NaN.
    """
    v = _to_scalar(value)
    if (v < 0.0) if nan_passes else not 0.0 <= v:
        raise ValueError(f"Invalid {label or name} value: {value}")


def check_lr(lr, nan_passes=False):
    """Raise PyTorch's errors for a bad learning rate (a Tensor lr must have one element)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    v = _to_scalar(lr)
    if (v < 0.0) if nan_passes else not 0.0 <= v:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_betas(betas):
    """Raise PyTorch's errors for betas outside [0, 1)."""
    for i in (0, 1):
        if not 0.0 <= _to_scalar(betas[i]) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def check_hyperparameters(*, nan_passes=False, **values):
    """Raise PyTorch's ValueError for the first invalid hyperparameter, in the order given.

    `lr` >= 0 (a Tensor lr has one element), `betas` each in [0, 1), `rho` in [0, 1], and any
    other name (eps, weight_decay, momentum, alpha, lr_decay, ...) >= 0, with PyTorch's texts
    ("Invalid learning rate: -1", "Invalid epsilon value: -1.0", ...). Pass the values in the
    order the PyTorch optimizer checks them, so the same error wins when several are bad.
    """
    for name, value in values.items():
        if name == "lr":
            check_lr(value, nan_passes)
        elif name == "betas":
            check_betas(value)
        elif name == "rho":
            if not 0.0 <= _to_scalar(value) <= 1.0:
                raise ValueError(f"Invalid rho value: {value}")
        else:
            check_nonneg(name, value, _LABELS.get(name), nan_passes)


def check_options(name, options):
    """Refuse the implementation flags ember cannot honour, naming the optimizer `name`.

    `options` is a defaults dict or a param group. `foreach` is accepted either way and only
    recorded: ember has one implementation, a loop over parameters (PyTorch's single-tensor
    form), and runs it whatever `foreach` says. `fused=True` first gets PyTorch's own
    consistency errors, then ember's refusal; `capturable=True` and `differentiable=True` are
    refused too. The refusals are NotImplementedError, a RuntimeError, the type PyTorch raises
    for a fused optimizer it cannot run.
    """
    if options.get("fused"):
        if options.get("differentiable"):
            raise RuntimeError("`fused` does not support `differentiable`")
        if options.get("foreach"):
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        raise NotImplementedError(
            f"{name}(fused=True) is not supported: ember has no fused kernels, only one "
            "implementation (a loop over parameters); pass fused=None or fused=False"
        )
    if options.get("capturable"):
        raise NotImplementedError(
            f"{name}(capturable=True) is not supported: ember has no CUDA graph capture, and "
            "its step counters live on the CPU; pass capturable=False"
        )
    if options.get("differentiable"):
        raise NotImplementedError(
            f"{name}(differentiable=True) is not supported: ember's optimizer steps are plain "
            "array math outside autograd, so no gradient flows through them; pass "
            "differentiable=False"
        )


def no_grad_step(step):
    """Run an optimizer's step without recording a graph (the closure re-enables grad)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with no_grad():
            return step(self, *args, **kwargs)

    return wrapper


def evaluate_closure(closure):
    """Call the closure with grad mode on; None without a closure."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


class Optimizer:
    """Same as torch.optim.Optimizer: holds param groups and per-parameter state."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {_typename(params)}"
            )
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Same as torch.optim.Optimizer.add_param_group."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(tensors):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing"
            )
        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(param)
                )
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = tensors
        if names:
            param_group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Same as torch.optim.Optimizer.zero_grad."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad._data[...] = 0
                bump(grad)

    def step(self, closure=None):
        """Perform one optimization step (implemented by each optimizer)."""
        raise NotImplementedError

    def state_dict(self):
        """Same as torch.optim.Optimizer.state_dict: {'state': {int: ...}, 'param_groups': [...]}.

        Parameters are replaced by their position across all groups; state tensors are the
        optimizer's own (not copies), as in PyTorch.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Same as torch.optim.Optimizer.load_state_dict (state is copied onto each param)."""
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast_state(param, value)
            else:
                state[key] = value
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": new_groups})


# what PyTorch's __setstate__ fills in for a group saved without it (old checkpoints)
_OPTION_DEFAULTS = {
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
}


class SingleTensorOptimizer(Optimizer):
    """An optimizer that updates each parameter on its own (PyTorch's single-tensor form).

    `step()` is shared: it runs the closure with grad mode on, then, outside autograd, visits
    each group's parameters that have a gradient, creates a parameter's state on its first step
    (`_init_state`), adds 1 to `state["step"]` when the state has one, negates the gradient under
    `maximize`, and hands the parameter's array to `_update`, the optimizer's own formula, which
    changes it in place. A step keeps everything it computes in locals, never on the optimizer.

    A subclass validates its hyperparameters (`check_hyperparameters`), builds PyTorch's
    defaults dict, and defines `_init_state` and `_update`; `_keeps_state` says whether a group
    needs per-parameter state at all (SGD without momentum does not), and `_group_defaults`
    what PyTorch's `__setstate__` fills into a loaded group that lacks it.
    """

    _group_defaults = {}  # a subclass's own additions to _OPTION_DEFAULTS

    def __setstate__(self, state):
        super().__setstate__(state)
        fill = {**_OPTION_DEFAULTS, **self._group_defaults}
        for group in self.param_groups:
            for key, value in fill.items():
                if key in self.defaults:
                    group.setdefault(key, value)

    def add_param_group(self, param_group):
        """Same as torch.optim.Optimizer.add_param_group, refusing flags ember cannot honour."""
        super().add_param_group(param_group)
        try:
            check_options(type(self).__name__, self.param_groups[-1])
        except RuntimeError:
            self.param_groups.pop()
            raise

    def _keeps_state(self, group):
        """Whether the parameters of `group` have per-parameter state."""
        return True

    def _init_state(self, state, param, group):
        """Fill `state`, the empty state dict of `param`, before its first update."""
        raise NotImplementedError

    @staticmethod
    def _update(x, grad, state, group, lr):
        """The update formula: change array `x` in place, given its gradient array `grad`.

        `grad` is already negated under `maximize` and may be the parameter's own `.grad`
        storage (do not write into it); `lr` is the group's learning rate as a number;
        `state["step"]` has already been advanced.
        """
        raise NotImplementedError

    def step(self, closure=None):
        """Perform one optimization step; `closure` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        name = type(self).__name__
        quiet = _backend.quiet_floats()  # a diverging run gets inf/nan silently, as in PyTorch
        try:
            self._step_groups(name)
        finally:
            _backend.restore_floats(quiet)
        return loss

    def _step_groups(self, name):
        with no_grad():
            for group in self.param_groups:
                check_options(name, group)  # a loaded or edited group may ask for them
                lr = _to_scalar(group["lr"])
                maximize = group["maximize"]
                keeps_state = self._keeps_state(group)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if keeps_state:
                        state = self.state[p]
                        if len(state) == 0:
                            self._init_state(state, p, group)
                        step_t = state.get("step")
                        if step_t is not None:
                            step_t._data += 1
                    else:
                        state = {}
                    self._update(p._data, grad_of(p, maximize), state, group, lr)
                    bump(p)


def _cast_state(param, value, key=None):
    """Copy a saved state value, moving tensors to the parameter's device (and float dtype)."""
    if key == "step" and isinstance(value, (int, float)):  # old checkpoints: a plain number
        return step_counter(float(value))
    if isinstance(value, Tensor):
        if key == "step":  # step counters stay where PyTorch keeps them: on the CPU
            return value.clone()
        out = value.to(device=param.device)
        if param.is_floating_point():
            out = out.to(param.dtype)
        return out.clone() if out is value else out
    if isinstance(value, dict):
        return {k: _cast_state(param, v, key=k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


def _typename(obj):
    if isinstance(obj, Tensor):
        return "ember." + obj.type().rsplit(".", 1)[-1]
    return type(obj).__module__ + "." + type(obj).__qualname__

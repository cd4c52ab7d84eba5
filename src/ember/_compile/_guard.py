"""What a compiled step can see, walked on every call to key its plans.

The walk starts from the call's arguments and the function itself (bound `self`, closure
cells, defaults, and the globals its code names, following into the user's own helper
functions) and goes into Modules (parameters, buffers, submodules, number attributes,
training flags), Optimizers (hyperparameters, params, state), containers (up to
`MAX_ITEMS` items) and plain objects' attributes (up to `MAX_DEPTH` levels). The key holds:
grad mode; for each tensor found, its identity, requires_grad and whether it has a .grad;
for each tensor argument, its shape, dtype and requires_grad (not its identity: a new batch
each call is the normal case); the numbers found (a learning rate a scheduler changes, a
global constant); module training flags and optimizer hyperparameters and state layout.
What it does not see: objects reached only through other libraries, C extensions, slots,
or deeper than the limits; tensors found only while recording are bound by identity.
"""

from __future__ import annotations

import types

import numpy as np

from ember._tensor import Tensor
from ember.autograd.grad_mode import _state

_MISSING = object()
MAX_DEPTH = 4
MAX_ITEMS = 64
_NUMBERS = (bool, int, float, complex, str, bytes, type(None))
_LIBRARIES = frozenset(("ember", "numpy", "builtins", "torch", "typing", "collections"))


def _in_library(module_name):
    """True for a module of ember or another library whose objects the walk skips."""
    return (module_name or "").partition(".")[0] in _LIBRARIES


_CLASSES = []


def _classes():
    """(Module, Optimizer), imported on first use (nn and optim import ember itself)."""
    if not _CLASSES:
        from ember.nn.modules.module import Module
        from ember.optim.optimizer import Optimizer

        _CLASSES.extend((Module, Optimizer))
    return _CLASSES


class Walk:
    """One walk: the key, the tensors found (in order), the tensor arguments."""

    __slots__ = (
        "key",
        "structure",
        "has_grad",
        "tensors",
        "args",
        "seen",
        "module_cls",
        "optimizer_cls",
        "opaque",
        "roots",
        "generators",
        "arrays",
        "foreign",
    )

    def __init__(self):
        self.key = [_state.enabled]
        self.has_grad = []  # kept apart: a step normally gives its parameters a .grad
        self.tensors = []
        self.args = []
        self.seen = set()
        self.module_cls, self.optimizer_cls = _classes()
        self.opaque = False  # a tensor argument compile cannot replay (kept eager)
        self.roots = []  # (holder, name, object) of what the function reaches directly
        self.generators = []  # NumPy random generators found (draws from them are not replayed)
        self.arrays = []  # NumPy arrays found (a step may wrap them in tensors)
        self.foreign = None  # the array type of a tensor not on NumPy (CuPy), if any

    # --- entry points ---
    def arguments(self, args, kwargs):
        for a in args:
            self.argument(a)
        for name, a in kwargs.items():
            self.key.append(name)
            self.argument(a)

    def argument(self, a):
        key = self.key
        if isinstance(a, Tensor):
            d = a._data
            if d.__class__ is not np.ndarray:
                self.foreign = _type_name(d)
            # the position of an earlier argument that is this very tensor (-1: none)
            alias = next((i for i, b in enumerate(self.args) if b is a), -1)
            key.append(("arg", d.shape, d.dtype, d.__class__, a._requires_grad, alias))
            if a._requires_grad:
                self.opaque = True
            self.args.append(a)
        elif isinstance(a, (tuple, list)) and len(a) <= MAX_ITEMS:
            key.append(len(a))
            for v in a:
                self.argument(v)
        else:
            self.visit(a, 0)

    def function(self, fn, depth=0):
        """The objects a function can reach: bound self, closure, defaults, named globals."""
        if depth > MAX_DEPTH:
            return
        if isinstance(fn, types.MethodType):
            self.visit(fn.__self__, depth)
            fn = fn.__func__
        if not isinstance(fn, types.FunctionType):
            self.visit(fn, depth)
            return
        if id(fn) in self.seen:
            return
        self.seen.add(id(fn))
        top = depth == 0
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if top:
                self.roots.append((cell, None, value))
            self.visit(value, depth + 1)
        for value in fn.__defaults__ or ():
            self.visit(value, depth + 1)
        for value in (fn.__kwdefaults__ or {}).values():
            self.visit(value, depth + 1)
        g = fn.__globals__
        for name in _global_names(fn.__code__):
            if name in g:
                self.key.append(name)
                value = g[name]
                if top:
                    self.roots.append((g, name, value))
                self.visit(value, depth + 1)

    # --- the walk ---
    def visit(self, obj, depth):
        key = self.key
        if obj.__class__ in _NUMBERS:
            key.append(obj)
            return
        if isinstance(obj, Tensor):
            if id(obj) not in self.seen:
                self.seen.add(id(obj))
                self.tensors.append(obj)
                if obj._data.__class__ is not np.ndarray:
                    self.foreign = _type_name(obj._data)
                key.append((id(obj), obj._requires_grad))
                self.has_grad.append(obj._grad is not None)
            return
        if isinstance(obj, np.generic):
            key.append(obj.item())
            return
        if isinstance(obj, np.ndarray):
            if id(obj) not in self.seen:
                self.seen.add(id(obj))
                self.arrays.append(obj)
                key.append(("array", id(obj)))
            return
        if depth > MAX_DEPTH or id(obj) in self.seen:
            return
        if isinstance(obj, (types.ModuleType, type, types.BuiltinFunctionType)):
            return
        if isinstance(obj, (np.random.Generator, np.random.RandomState)):
            self.generators.append(obj)
            return
        self.seen.add(id(obj))
        if isinstance(obj, self.module_cls):
            self.module(obj, depth)
        elif isinstance(obj, self.optimizer_cls):
            self.optimizer(obj, depth)
        elif isinstance(obj, (types.FunctionType, types.MethodType)):
            if not _in_library(getattr(obj, "__module__", None)):
                self.seen.discard(id(obj))
                self.function(obj, depth + 1)
        elif isinstance(getattr(obj, "__wrapped__", None), types.FunctionType):
            self.function(obj.__wrapped__, depth + 1)  # a decorated or compiled function
        elif isinstance(obj, (tuple, list, dict)):
            items = obj.values() if isinstance(obj, dict) else obj
            if len(obj) > MAX_ITEMS:
                key.append(("many", id(obj), len(obj)))
                return
            key.append(len(obj))
            for v in items:
                self.visit(v, depth + 1)
        elif hasattr(obj, "__dict__") and not _is_library_object(obj):
            for name, v in vars(obj).items():
                key.append(name)
                self.visit(v, depth + 1)

    def module(self, m, depth):
        key = self.key
        key.append(("module", id(m), m.training))
        for name, v in vars(m).items():
            if v.__class__ in _NUMBERS and not name.startswith("_"):
                key.append(v)
            elif isinstance(v, Tensor):
                self.visit(v, depth)
        for p in m._parameters.values():
            self.visit(p, depth)
        for b in m._buffers.values():
            self.visit(b, depth)
        for child in m._modules.values():
            if child is not None and id(child) not in self.seen:
                self.seen.add(id(child))
                self.module(child, depth)

    def optimizer(self, opt, depth):
        key = self.key
        key.append(("optimizer", id(opt)))
        for group in opt.param_groups:
            for name, v in group.items():
                if name == "params":
                    for p in v:
                        self.visit(p, depth)
                elif v.__class__ in _NUMBERS or (
                    v.__class__ is tuple and all(x.__class__ in _NUMBERS for x in v)
                ):
                    key.append((name, v))
                else:
                    key.append((name, id(v)))
        for p, state in opt.state.items():
            key.append(id(p))
            for name, v in state.items():
                key.append(name)
                self.visit(v, depth)


def _type_name(obj):
    cls = obj.__class__
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"  # cupy.ndarray, not just ndarray


def _is_library_object(obj):
    return _in_library(getattr(obj.__class__, "__module__", None)) and not isinstance(obj, Tensor)


_NAMES = {}


def _global_names(code):
    """The global names a code object (and the code nested in it) may load."""
    names = _NAMES.get(code)
    if names is None:
        found = list(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.extend(_global_names(const))
        names = _NAMES[code] = tuple(dict.fromkeys(found))
    return names


def walk(fn, args, kwargs):
    """Walk fn's arguments and environment; returns the Walk (key as a tuple)."""
    w = Walk()
    w.arguments(args, kwargs)
    w.function(fn)
    w.structure = tuple(w.key)
    w.key = (w.structure, tuple(w.has_grad))
    return w


def _simple(obj):
    return (
        obj.__class__ in _NUMBERS
        or isinstance(obj, (Tensor, types.ModuleType, type, types.BuiltinFunctionType))
        or (isinstance(obj, types.FunctionType) and _in_library(obj.__module__))
    )


class FastWalk:
    """The walk of a function whose closure and globals hold only tensors and numbers (no
    modules, optimizers or containers), redone cheaply: once the cells and globals are
    checked to hold the same objects, only the tensors' flags can have changed. Gives the key
    the full walk would give. Built from a full Walk with `of` (None when not applicable)."""

    __slots__ = (
        "cells",
        "globals",
        "names",
        "tensors",
        "func_part",
        "requires_grad",
        "start",
        "no_args",
    )

    @classmethod
    def of(cls, fn, w, args, kwargs):
        if not isinstance(fn, types.FunctionType) or fn.__defaults__ or fn.__kwdefaults__:
            return None
        if kwargs or not all(isinstance(a, Tensor) for a in args) or w.opaque:
            return None
        if w.generators or w.arrays or w.foreign:
            return None
        if not all(_simple(obj) for _, _, obj in w.roots):
            return None
        f = cls()
        f.cells = tuple((h, obj) for h, name, obj in w.roots if name is None)
        f.globals = fn.__globals__
        f.names = tuple((name, obj) for _, name, obj in w.roots if name is not None)
        f.tensors = tuple(w.tensors)
        f.requires_grad = tuple(t._requires_grad for t in f.tensors)
        f.start = 1 + len(args)  # where the function's part of the key begins
        f.func_part = w.structure[f.start :]
        f.no_args = {flag: (flag, *f.func_part) for flag in (False, True)}
        return f

    def walk(self, args):
        """A Walk with the key the full walk would give, or None if anything moved."""
        for cell, obj in self.cells:
            try:
                if cell.cell_contents is not obj:
                    return None
            except ValueError:
                return None
        g = self.globals
        for name, obj in self.names:
            if g.get(name, _MISSING) is not obj:
                return None
        tensors = self.tensors
        if len(args) + 1 != self.start:
            return None
        if tuple([t._requires_grad for t in tensors]) != self.requires_grad:
            return None
        if args:
            key = [_state.enabled]
            for n, a in enumerate(args):
                if not isinstance(a, Tensor) or a._requires_grad:
                    return None
                d = a._data
                alias = next((i for i, b in enumerate(args[:n]) if b is a), -1)
                key.append(("arg", d.shape, d.dtype, d.__class__, False, alias))
            structure = tuple(key) + self.func_part
        else:
            structure = self.no_args[_state.enabled]
        w = _FastResult()
        w.structure = structure
        w.key = (structure, tuple([t._grad is not None for t in tensors]))
        w.tensors = tensors
        w.args = args
        return w


class _FastResult:
    """What FastWalk.walk gives: the fields of a Walk the caller reads."""

    __slots__ = ("key", "structure", "tensors", "args")
    opaque = False
    generators = ()
    arrays = ()
    foreign = None

"""vmap's batched arrays: one array holding every sample, shown to ember's ops as one sample.

vmap runs `func` once. Each batched input becomes an ordinary Tensor whose array is a
`BatchedArray`: the physical array with the batch at dimension 0, which reports one sample's
shape (`shape`, `ndim`, `strides` without the batch). ember's ops compute on arrays through
NumPy, and NumPy hands every call that meets a BatchedArray to it (`__array_ufunc__`,
`__array_function__`, the protocols NumPy documents for array types of other libraries). There
a batching rule turns the call on one sample into one call on the whole batch: the same call
with the dimensions shifted past the batch (see `_rules.py`). So every ember op, its backward
and its gradients of gradients batch with no per-op code, and autograd records an ordinary
graph whose arrays happen to be batched.

A NumPy function without a rule runs once per sample and is stacked (correct, slower), with
PyTorch's performance warning naming it. A step that must see concrete values (`float(x)`,
`bool(x)`, `.item()`, handing the array to code that converts it with `numpy.asarray`) cannot
be batched: it raises `NotBatchable`, and vmap then runs the whole function once per sample.

Nested vmaps nest BatchedArrays: the physical array of the outer level's sample is itself a
BatchedArray of the level inside it. A call is batched at the highest level among its
arguments; lower levels are plain values to that rule, and batch themselves when the rule
calls NumPy on them.
"""

from __future__ import annotations

import collections
import itertools
import threading
import warnings

import numpy as np

_levels = itertools.count(1)
_warned = set()
# how many times each fallback ran in this process (the op table's vmap test reads it)
fallback_counts = collections.Counter()
_warn_lock = threading.Lock()


MEMORY = "the memory address of an array"


class NotBatchable(Exception):
    """A step of the function needs concrete values of a batched array (see module doc)."""

    def __init__(self, what):
        super().__init__(what)
        self.what = what


def new_level() -> int:
    """A fresh vmap level, higher than every level made before it."""
    return next(_levels)


def level_of(array) -> int:
    """The vmap level of an array (0 for a plain one)."""
    return array.level if isinstance(array, BatchedArray) else 0


def warn_fallback(name):
    """PyTorch's performance warning for a call without a batching rule (once per name)."""
    with _warn_lock:
        fallback_counts[name] += 1
        if name in _warned:
            return
        _warned.add(name)
    warnings.warn(
        "There is a performance drop because we have not yet implemented the batching rule "
        f"for {name}. Please file an issue to ember describing your use case.",
        UserWarning,
        stacklevel=3,
    )


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "writeable")

    def __init__(self, flags):
        self.c_contiguous = flags.c_contiguous
        self.f_contiguous = flags.f_contiguous
        self.writeable = flags.writeable


class BatchedArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A batch of arrays that shows NumPy one sample: `physical` has the batch at dim 0."""

    __slots__ = ("physical", "level")

    def __init__(self, physical, level):
        self.physical = physical
        self.level = level

    # --- what one sample looks like ---
    @property
    def shape(self):
        return self.physical.shape[1:]

    @shape.setter
    def shape(self, shape):  # NumPy's in-place reshape of a view (AttributeError if it can't)
        self.physical.shape = (self.physical.shape[0],) + tuple(shape)

    @property
    def __array_interface__(self):
        raise NotBatchable(MEMORY)

    @property
    def ndim(self):
        return self.physical.ndim - 1

    @property
    def dtype(self):
        return self.physical.dtype

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self):
        return self.physical.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def strides(self):
        return self.physical.strides[1:]

    @property
    def flags(self):
        return _Flags(self.physical.flags)

    @property
    def base(self):  # batched too, so code that walks to the owner of the memory is seen
        base = self.physical.base
        return None if base is None else BatchedArray(base, self.level)

    @property
    def batch_size(self):
        return self.physical.shape[0]

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return np.transpose(self)

    def __len__(self):
        if not self.ndim:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return f"BatchedArray(level={self.level}, physical={self.physical!r})"

    # --- steps that need concrete values ---
    def __array__(self, dtype=None, copy=None):
        raise NotBatchable("a conversion to a NumPy array")

    def __bool__(self):
        raise NotBatchable("data-dependent control flow (bool of a tensor)")

    def __float__(self):
        raise NotBatchable("a conversion to a Python number")

    __int__ = __index__ = __complex__ = __float__

    def item(self, *args):
        raise NotBatchable(".item()")

    def tolist(self):
        raise NotBatchable(".tolist()")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # --- NumPy's protocols ---
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from ember.func._rules import batched_ufunc

        return batched_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from ember.func._rules import batched_function

        return batched_function(func, args, kwargs)

    def __getitem__(self, index):
        from ember.func._rules import getitem

        return getitem(self, index)

    def __setitem__(self, index, value):
        from ember.func._rules import setitem

        setitem(self, index, value)


def _method(name):
    func = getattr(np, name)

    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in """sum mean max min prod any all argmax argmin cumsum cumprod clip round
    nonzero sort argsort squeeze ravel diagonal trace repeat conj conjugate dot std var
    searchsorted take swapaxes""".split():
    setattr(BatchedArray, _name, _method(_name))


def _reshape(self, *shape, order="C"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return np.reshape(self, shape, order=order)


def _transpose(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return np.transpose(self, axes or None)


def _astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    return BatchedArray(
        self.physical.astype(dtype, order=order, casting=casting, copy=copy), self.level
    )


def _copy(self, order="C"):
    return BatchedArray(self.physical.copy(order=order), self.level)


def _view(self, *args, **kwargs):
    return BatchedArray(self.physical.view(*args, **kwargs), self.level)


def _fill(self, value):
    if isinstance(value, BatchedArray):
        raise NotBatchable("fill with a batched value")
    self.physical.fill(value)


def _flatten(self, order="C"):
    return np.reshape(self, (-1,), order=order).copy()


for _name, _fn in [
    ("reshape", _reshape),
    ("transpose", _transpose),
    ("astype", _astype),
    ("copy", _copy),
    ("view", _view),
    ("fill", _fill),
    ("flatten", _flatten),
]:
    setattr(BatchedArray, _name, _fn)

"""Recording one forward pass as a list of op calls, for export.

Two seams of ember's own are used, and no private name is patched:

- Python's profiler hook (`sys.setprofile`, this thread only) sees every return from
  `Primitive.apply` (the op class, its arguments, its result) and every call of the composite
  functions the exporter maps whole (`convolution`, `linear`, `batch_norm`, `lstm`, ...: their
  inner ops are not recorded).
- `ember._tensor.observe_arrays` hands out the arrays of recorded tensors as a `_Tainted`
  ndarray subclass. NumPy keeps the subclass through any computation, so a tensor made from a
  recorded value by code the recorder does not see (a comparison, `argmax`, `.numpy()` math)
  is spotted when it is made, and using it in the graph raises instead of baking this run's
  values in as a constant.

A tensor is known by its array (and the version counter it had then), or, after an in-place
op that recorded a graph, by its grad_fn. Anything else that reaches an op is a parameter or
buffer of the model (an initializer) or a constant (its value now).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from ember._tensor import Tensor, observe_arrays, raw_array
from ember.autograd.grad_mode import enable_grad
from ember.onnx.errors import OnnxExporterError
from ember.ops._primitive import Primitive

_APPLY = Primitive.apply.__func__.__code__


class _Tainted(np.ndarray):
    """An array computed from a recorded value (see the module docstring). `_plain` is the
    array it views when it is a recorded tensor's own array handed out by the observer."""

    _plain = None


class Value:
    """A recorded tensor: `key` is ("in", i) for input i, or (call index, output index)."""

    __slots__ = ("key", "shape", "dtype")

    def __init__(self, key, shape, dtype):
        self.key, self.shape, self.dtype = key, tuple(shape), dtype


class Param:
    """A parameter or buffer of the model, by its state_dict name."""

    __slots__ = ("name", "array")

    def __init__(self, name, array):
        self.name, self.array = name, array

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype


class Const:
    """A tensor the graph's inputs do not reach: its value when the op ran."""

    __slots__ = ("array", "source")

    def __init__(self, array, source):
        self.array, self.source = array, source  # source: id of the array it was read from

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype


REFS = (Value, Param, Const)


class Call:
    """One recorded op: `op` a Primitive class or a composite function; `args` its positional
    arguments (for a composite: a dict of its parameters) and `kwargs`, tensors turned into
    Value/Param/Const; `out` its result with tensors turned into Values."""

    __slots__ = ("op", "args", "kwargs", "out", "alt")

    def __init__(self, op, args, kwargs, out):
        self.op, self.args, self.kwargs, self.out = op, args, kwargs, out
        self.alt = None  # the same call in a run with other sizes of the dynamic axes


def op_name(op):
    """The name an error message gives an op."""
    if isinstance(op, type):
        return getattr(op, "_table_name", op.__name__)
    return op.__name__


class _Entry:
    __slots__ = ("value", "array", "vc", "version", "node")

    def __init__(self, value, array, vc, version, node):
        self.value, self.array, self.vc, self.version, self.node = value, array, vc, version, node


class Recorder:
    """Records the op calls of one forward pass (see the module docstring)."""

    def __init__(self, composites, params):
        self.composites = composites  # code object -> function
        self.params = params  # id(array) -> (name, array)
        self.thread = threading.get_ident()
        self.calls = []
        self.by_array = {}  # id(array) -> _Entry
        self.by_node = {}  # (id(node), output_nr) -> _Entry
        self.untracked = {}  # id(array) -> (array, what made it)
        self.applying = 0  # Primitive.apply frames running
        self.composite = None  # (frame, function, bound arguments) of the composite running

    # --- the two hooks ---
    def profile(self, frame, event, arg):
        code = frame.f_code
        if event == "call":
            if code is _APPLY:
                self.applying += 1
            elif self.composite is None and code in self.composites:
                fn = self.composites[code]
                bound = {name: self.ref(v) for name, v in frame.f_locals.items()}
                self.composite = (frame, fn, bound)
        elif event == "return":
            if code is _APPLY:
                self.applying -= 1
                if self.composite is None and arg is not None:
                    local = frame.f_locals
                    args = self.ref(local["args"])
                    kwargs = self.ref(local["kwargs"])
                    self.record(local["cls"], args, kwargs, arg)
            elif self.composite is not None and frame is self.composite[0]:
                _, fn, bound = self.composite
                self.composite = None
                if arg is not None:
                    self.record(fn, bound, {}, arg)

    def read(self, t, array):
        if threading.get_ident() != self.thread or array.__class__ is not np.ndarray:
            return array
        i = id(array)
        if i in self.by_array or i in self.untracked:
            view = array.view(_Tainted)
            view._plain = array
            return view
        return array

    def write(self, t, array):
        if array.__class__ is not _Tainted:
            return array
        if array._plain is not None:  # a recorded array itself (detach, .data, ...)
            return array._plain
        plain = array.view(np.ndarray)
        if self.applying == 0 and self.composite is None:
            self.untracked[id(plain)] = (plain, _maker())
        return plain

    # --- tensors to references ---
    def ref(self, x):
        if isinstance(x, Tensor):
            return self.lookup(x)
        if isinstance(x, np.ndarray):  # an array inside an index
            return self.lookup_array(x)
        if x.__class__ in (tuple, list):
            return x.__class__(self.ref(v) for v in x)
        if x.__class__ is dict:
            return {k: self.ref(v) for k, v in x.items()}
        return x

    def lookup_array(self, array):
        if array.__class__ is _Tainted:
            if array._plain is None:
                raise OnnxExporterError(
                    "ember.onnx.export: an index computed from the inputs outside ember's ops "
                    "cannot be exported"
                )
            entry = self.by_array.get(id(array._plain))
            if entry is not None and entry.vc[0] == entry.version:
                return entry.value
            if entry is not None or id(array._plain) in self.untracked:
                raise OnnxExporterError(
                    "ember.onnx.export: an index changed in place, or computed from the inputs "
                    "outside ember's ops, cannot be exported"
                )
            array = array._plain
        return Const(np.array(array), id(array))

    def lookup(self, t):
        array = raw_array(t)
        i = id(array)
        entry = self.by_array.get(i)
        stale = False
        if entry is not None and entry.array is array:
            if entry.vc[0] == entry.version:
                return entry.value
            stale = True
        node = t._node
        if node is not None:
            entry = self.by_node.get((id(node), t._output_nr))
            if entry is not None and entry.node is node:
                return entry.value
        if stale:
            raise OnnxExporterError(
                "ember.onnx.export: the forward pass changed a tensor in place where export "
                "cannot follow it (inside no_grad, or through .data); use the out-of-place op"
            )
        if i in self.untracked:
            raise OnnxExporterError(
                f"ember.onnx.export: a tensor computed from the inputs by {self.untracked[i][1]} "
                "reaches the graph, and that function is not exportable (its result would be "
                "frozen to this run's values)"
            )
        param = self.params.get(i)
        if param is not None and param[1] is array:
            return Param(param[0], array)
        return Const(np.array(array), i)

    def register(self, t, key):
        """Make tensor `t` known as the Value `key`."""
        array = raw_array(t)
        value = Value(key, array.shape, array.dtype)
        entry = _Entry(value, array, t._vc, t._vc[0], t._node)
        self.by_array[id(array)] = entry
        if t._node is not None:
            self.by_node[(id(t._node), t._output_nr)] = entry
        return value

    def record(self, op, args, kwargs, result):
        if not _has_value(args) and not _has_value(kwargs):
            return  # its inputs are all constants: so is its result
        index = len(self.calls)
        counter = iter(range(1 << 30))

        def wrap(x):
            if isinstance(x, Tensor):
                return self.register(x, (index, next(counter)))
            if x.__class__ in (tuple, list):
                return tuple(wrap(v) for v in x)
            return x

        self.calls.append(Call(op, args, kwargs, wrap(result)))


def _has_value(x):
    if x.__class__ is Value:
        return True
    if x.__class__ in (tuple, list):
        return any(_has_value(v) for v in x)
    if x.__class__ is dict:
        return any(_has_value(v) for v in x.values())
    return False


def _maker():
    """The ember function (or the caller's line) that is making a tensor right now."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("ember.") and not module.startswith(("ember._tensor", "ember.onnx")):
            return f"`{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}`"
        if not module.startswith("ember"):
            return f"the code at {frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "code export cannot see"


def record(fn, args, kwargs, inputs, composites, params):
    """Run fn(*args, **kwargs) once, recording; `inputs` are the tensors among args that are
    the graph's inputs. Returns (recorder, result as references)."""
    rec = Recorder(composites, params)
    for i, t in enumerate(inputs):
        rec.register(t, ("in", i))
    previous = sys.getprofile()
    with enable_grad(), observe_arrays(rec.read, rec.write):
        sys.setprofile(rec.profile)
        try:
            result = fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
    return rec, rec.ref(result)

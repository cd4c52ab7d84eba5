"""The ONNX graph being written: names, nodes, initializers, and what each op mapping needs
to know about its arguments (ONNX names, shapes, which dims follow a dynamic axis)."""

from __future__ import annotations

import numpy as np

from ember._dtype import is_floating
from ember.onnx._record import REFS, Const, Param, Value, op_name
from ember.onnx.errors import OnnxExporterError


class Graph:
    """Collects nodes and initializers while the recorded calls are mapped one by one."""

    def __init__(self, onnx, opset, export_params):
        self.onnx, self.opset, self.export_params = onnx, opset, export_params
        self.nodes, self.initializers, self.param_inputs = [], [], []
        self.used = set()
        self.values = {}  # Value.key -> ONNX name
        self.dynamic = {}  # Value.key -> dims that change with the dynamic axes
        self.alt_shapes = {}  # Value.key -> its shape in the run with other sizes
        self.params = {}  # state_dict name -> ONNX name
        self.consts = {}  # (dtype, shape, bytes) -> ONNX name
        self.op = None  # the op being mapped (for messages)
        self.alt_of = {}  # id(reference) -> the same argument in the other run
        self.input_dims = []  # (input name, dim, size, size in the other run) of dynamic dims

    # --- names ---
    def unique(self, hint):
        name, k = hint, 1
        while name in self.used:
            name, k = f"{hint}_{k}", k + 1
        self.used.add(name)
        return name

    def node(self, op_type, inputs, outputs=1, **attrs):
        """Add a node; returns its output name (a list of them when outputs > 1)."""
        names = [self.unique(f"/{op_type}_{len(self.nodes)}_out{k}") for k in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), names, name=f"/{op_type}_{len(self.nodes)}", **attrs
            )
        )
        return names[0] if outputs == 1 else names

    def const(self, array, hint="const"):
        """An initializer holding `array` (one per distinct value)."""
        array = np.ascontiguousarray(array)
        key = (array.dtype.str, array.shape, array.tobytes())
        name = self.consts.get(key)
        if name is None:
            name = self.consts[key] = self.unique(hint)
            self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values):
        return self.const(np.asarray(values, dtype=np.int64), "ints")

    def scalar(self, value, dtype):
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    # --- arguments ---
    def name(self, ref, dtype=None):
        """The ONNX name of an argument (a Value, Param or Const; or a number, made a
        constant of `dtype`), cast to `dtype` when given and different."""
        if ref.__class__ is Value:
            name = self.values.get(ref.key)
            if name is None:
                raise OnnxExporterError(
                    f"ember.onnx.export: {self.op} uses a result that has no ONNX translation "
                    "(e.g. an LSTM's cell state at every step, or a max-pool's indices)"
                )
        elif ref.__class__ is Param:
            name = self._param(ref)
        elif ref.__class__ is Const:
            self._check_const(ref)
            name = self.const(ref.array)
        else:
            if dtype is None:
                raise OnnxExporterError(f"ember.onnx.export: {self.op}: expected a tensor")
            return self.scalar(ref, dtype)
        if dtype is not None and np.dtype(dtype) != ref.dtype:
            name = self.node("Cast", [name], to=self.elem_type(dtype))
        return name

    def _param(self, ref):
        name = self.params.get(ref.name)
        if name is None:
            name = self.params[ref.name] = self.unique(ref.name)
            if self.export_params:
                self.initializers.append(self.onnx.numpy_helper.from_array(ref.array, name))
            else:
                self.param_inputs.append(self.value_info(name, ref.array.shape, ref.array.dtype))
        return name

    def _check_const(self, ref):
        alt = self.alt_of.get(id(ref))
        if alt is None:
            return
        if alt.__class__ is not Const or alt.shape != ref.shape:
            raise OnnxExporterError(
                f"ember.onnx.export: {self.op} uses a tensor made inside forward whose shape "
                f"follows a dynamic axis ({list(ref.shape)} in one run, {list(alt.shape)} with "
                "other sizes); a graph with this dynamic axis cannot hold it as a constant"
            )
        if not np.array_equal(alt.array, ref.array, equal_nan=is_floating(alt.array.dtype)):
            raise OnnxExporterError(
                f"ember.onnx.export: {self.op} uses a tensor made inside forward whose values "
                "depend on the size of a dynamic axis; a graph with this dynamic axis cannot hold "
                "it as a constant"
            )

    def is_zero(self, ref):
        """True for a constant that is all zeros (an optional ONNX input left out)."""
        return ref.__class__ is Const and not ref.array.any()

    def static(self, ref):
        """The array of a parameter or constant (an ONNX op wants it rearranged)."""
        if ref.__class__ is Value:
            raise OnnxExporterError(
                f"ember.onnx.export: {self.op} needs its weights to be parameters or constants, "
                "not values computed from the inputs"
            )
        if ref.__class__ is Const:
            self._check_const(ref)
        return ref.array

    def dyn(self, ref):
        """The dims of a Value that change with the dynamic axes."""
        return self.dynamic.get(ref.key, frozenset()) if ref.__class__ is Value else frozenset()

    def alt_shape(self, ref):
        if ref.__class__ is Value:
            return self.alt_shapes.get(ref.key, ref.shape)
        return ref.shape

    def elem_type(self, dtype):
        return self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def value_info(self, name, shape, dtype):
        return self.onnx.helper.make_tensor_value_info(name, self.elem_type(dtype), list(shape))

    # --- helpers many mappings share ---
    def unsqueeze(self, x, axes):
        return self.node("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x, axes):
        return self.node("Squeeze", [x, self.ints(axes)])

    def reduce(self, op_type, x, axes, keepdims):
        """A Reduce* node: its axes are an input from opset 18 (ReduceSum: 13), an attribute
        before."""
        keep = int(bool(keepdims))
        if axes is None:
            return self.node(op_type, [x], keepdims=keep)
        if self.opset >= 18 or op_type == "ReduceSum":
            return self.node(op_type, [x, self.ints(axes)], keepdims=keep)
        return self.node(op_type, [x], axes=list(axes), keepdims=keep)

    def slice(self, x, starts, ends, axes, steps=None):
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            inputs.append(self.ints(steps))
        return self.node("Slice", inputs)


def pair(graph, call):
    """Match `call`'s arguments with those of the same call in the run with other sizes:
    constants are noted in graph.alt_of; returns the numbers and other plain arguments that
    differ (each as (first, second)). Raises when the two runs took different paths."""
    graph.alt_of = {}
    if call.alt is None:
        return []
    differ = []

    def walk(a, b):
        if a.__class__ in REFS or b.__class__ in REFS:
            if a.__class__ is not b.__class__ or (
                (a.__class__ is Value and a.key != b.key)
                or (a.__class__ is Param and a.name != b.name)
            ):
                raise _diverged(call)
            graph.alt_of[id(a)] = b
        elif a.__class__ in (tuple, list) and b.__class__ in (tuple, list):
            if len(a) != len(b):
                differ.append((a, b))
                return
            for x, y in zip(a, b):
                walk(x, y)
        elif a.__class__ is dict and b.__class__ is dict:
            if a.keys() != b.keys():
                raise _diverged(call)
            for k in a:
                walk(a[k], b[k])
        elif a.__class__ is not b.__class__ or (a != b and not _both_nan(a, b)):
            differ.append((a, b))

    walk(call.args, call.alt.args)
    walk(call.kwargs, call.alt.kwargs)
    return differ


def _both_nan(a, b):
    return isinstance(a, float) and isinstance(b, float) and a != a and b != b


def _diverged(call):
    return OnnxExporterError(
        f"ember.onnx.export: with other sizes of the dynamic axes, the forward pass runs "
        f"differently at {op_name(call.op)} (its control flow depends on a size); export "
        "without dynamic_axes, or make the forward pass the same for every size"
    )

"""From a recorded forward pass to an onnx.ModelProto."""

from __future__ import annotations

import numpy as np

import ember
from ember._tensor import Tensor
from ember.autograd.grad_mode import enable_grad
from ember.onnx import _ops, _record
from ember.onnx._graph import Graph, pair
from ember.onnx._record import Const, Param, Value, op_name
from ember.onnx.errors import OnnxExporterError, UnsupportedOperatorError


def build(
    onnx, model, args, kwargs, *, opset, export_params, input_names, output_names, dynamic_axes
):
    inputs = []
    args_in, kwargs_in = _graph_inputs((args, kwargs), inputs)
    in_names = _names(input_names, len(inputs), "input")
    in_axes = [_axes(dynamic_axes.get(n), n) for n in in_names]
    params = _params(model)
    rec, result = _record.record(model, args_in, kwargs_in, inputs, _ops.COMPOSITES, params)
    outputs = _flatten(result)
    out_names = _names(output_names, len(outputs), "output")
    unknown = set(dynamic_axes) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(
            f"ember.onnx.export: dynamic_axes names {sorted(unknown)}, which are neither input "
            f"names {in_names} nor output names {out_names}"
        )
    g = Graph(onnx, opset, export_params)
    for i, axes in enumerate(in_axes):
        g.dynamic[("in", i)] = frozenset(axes)
    if any(in_axes):
        _second_run(g, model, args, kwargs, in_axes, params, rec, result)

    graph_inputs = []
    for i, (t, name) in enumerate(zip(inputs, in_names)):
        g.used.add(name)
        g.values[("in", i)] = name
        dims = [in_axes[i].get(d, n) for d, n in enumerate(t.shape)]
        alt = g.alt_shapes.get(("in", i), t.shape)
        g.input_dims += [(name, d, t.shape[d], alt[d]) for d in in_axes[i]]
        graph_inputs.append(g.value_info(name, dims, t._data.dtype))
    for name in out_names:
        g.used.add(name)

    for call in _needed(rec.calls, outputs):
        g.op = op_name(call.op)
        fn = _ops.TABLE.get(call.op)
        if fn is None:
            raise UnsupportedOperatorError(
                f"ember.onnx.export: the op '{g.op}' has no ONNX translation (supported: "
                f"{', '.join(_ops.supported())})"
            )
        differ = pair(g, call)
        if differ and not fn.handles_sizes:
            first, second = differ[0]
            raise OnnxExporterError(
                f"ember.onnx.export: {g.op}'s argument follows a dynamic axis ({first!r} in one "
                f"run, {second!r} with other sizes), which its ONNX translation cannot express"
            )
        _bind(g, call.out, fn(g, call))

    graph_outputs = []
    out_axes = {n: _axes(dynamic_axes.get(n), n) for n in out_names}
    for ref, name in zip(outputs, out_names):
        g.nodes.append(onnx.helper.make_node("Identity", [g.name(ref)], [name]))
        dims = []
        for d, n in enumerate(ref.shape):
            if d in out_axes[name]:
                dims.append(out_axes[name][d])
            elif d in g.dyn(ref):
                dims.append(f"{name}_dim{d}")
            else:
                dims.append(n)
        graph_outputs.append(g.value_info(name, dims, ref.dtype))

    graph = onnx.helper.make_graph(
        g.nodes,
        "main_graph",
        graph_inputs + g.param_inputs,
        graph_outputs,
        initializer=g.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="ember",
        producer_version=getattr(ember, "__version__", ""),
        ir_version=onnx.helper.find_min_ir_version_for(opsets),
    )
    onnx.checker.check_model(proto)
    return proto


def _graph_inputs(tree, inputs):
    """The arguments with each tensor replaced by a fresh copy (collected in `inputs`) that is
    a non-leaf requiring grad when it is a float tensor, so in-place ops on it record."""
    if isinstance(tree, Tensor):
        copy = tree.detach()
        if copy.dtype.is_floating_point:
            with enable_grad():
                copy = copy.requires_grad_().clone()
        else:
            copy = copy.clone()
        inputs.append(copy)
        return copy
    if isinstance(tree, (tuple, list)):
        return type(tree)(_graph_inputs(v, inputs) for v in tree)
    if isinstance(tree, dict):
        return {k: _graph_inputs(v, inputs) for k, v in tree.items()}
    return tree


def _names(given, count, stem):
    if len(given) > count:
        raise ValueError(
            f"ember.onnx.export: {len(given)} {stem}_names for {count} {stem}s: {given}"
        )
    default = [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]
    names = list(given) + default[len(given) :]
    if len(set(names)) != len(names):
        raise ValueError(f"ember.onnx.export: {stem} names must differ, got {names}")
    return names


def _axes(spec, name):
    """dynamic_axes' entry for one name as {axis: dim name}."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {int(a): str(n) for a, n in spec.items()}
    return {int(a): f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(spec)}


def _params(model):
    found = {}
    if hasattr(model, "named_parameters"):
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t is not None:
                array = t._data
                found.setdefault(id(array), (name, array))
    return found


def _flatten(result):
    out = []

    def walk(x):
        if x.__class__ in (Value, Param, Const):
            out.append(x)
        elif isinstance(x, (tuple, list)):
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif x is not None:
            raise OnnxExporterError(
                f"ember.onnx.export: the model returned a {type(x).__name__}; outputs must be "
                "tensors (in tuples, lists or dicts)"
            )

    walk(result)
    if not out:
        raise OnnxExporterError("ember.onnx.export: the model returned no tensor")
    return out


def _bind(g, out, names):
    if out.__class__ is Value:
        if names is not None:
            g.values[out.key] = names
    elif isinstance(out, tuple):
        if not isinstance(names, (tuple, list)) or len(names) != len(out):
            raise OnnxExporterError(f"ember.onnx.export: {g.op}: results do not match")
        for o, n in zip(out, names):
            _bind(g, o, n)


def _values_in(x, acc):
    if x.__class__ is Value:
        acc.append(x)
    elif isinstance(x, (tuple, list)):
        for v in x:
            _values_in(v, acc)
    elif isinstance(x, dict):
        for v in x.values():
            _values_in(v, acc)
    return acc


def _needed(calls, outputs):
    """The calls the outputs depend on, in order (the rest is left out of the graph)."""
    wanted = {v.key[0] for v in outputs if v.__class__ is Value and v.key[0] != "in"}
    for i in range(len(calls) - 1, -1, -1):
        if i in wanted:
            for v in _values_in((calls[i].args, calls[i].kwargs), []):
                if v.key[0] != "in":
                    wanted.add(v.key[0])
    return [c for i, c in enumerate(calls) if i in wanted]


def _second_run(g, model, args, kwargs, in_axes, params, rec, result):
    """Run the forward again with every dynamic input axis one longer (or shorter), pair its
    calls with the first run's, and note which dims of each value changed."""
    errors = []
    # each dim name changes by its own amount, so two dynamic axes never look alike
    names = list(dict.fromkeys(n for axes in in_axes for n in axes.values()))
    for sign in (1, -1):
        change = {n: sign * (k + 1) for k, n in enumerate(names)}
        inputs = []
        try:
            tree = _resized((args, kwargs), iter(in_axes), change)
        except _NoSmaller:
            continue
        args2, kwargs2 = _graph_inputs(tree, inputs)
        try:
            rec2, result2 = _record.record(model, args2, kwargs2, inputs, _ops.COMPOSITES, params)
        except Exception as error:  # noqa: BLE001 - try the other way, then report
            errors.append(error)
            continue
        break
    else:
        raise OnnxExporterError(
            "ember.onnx.export: to learn which dims follow the dynamic axes, export runs the "
            "forward pass again with those sizes changed by one, and that run failed: "
            f"{errors[-1] if errors else 'no size could change'}"
        ) from (errors[-1] if errors else None)
    calls, calls2 = rec.calls, rec2.calls
    if len(calls) != len(calls2) or any(a.op is not b.op for a, b in zip(calls, calls2)):
        where = next((op_name(a.op) for a, b in zip(calls, calls2) if a.op is not b.op), "the end")
        raise OnnxExporterError(
            "ember.onnx.export: with other sizes of the dynamic axes, the forward pass runs "
            f"different ops (from {where} on); export without dynamic_axes, or make the forward "
            "pass the same for every size"
        )
    for i, t in enumerate(inputs):
        g.alt_shapes[("in", i)] = tuple(t.shape)
    for a, b in zip(calls, calls2):
        a.alt = b
        _note_shapes(g, a.out, b.out)
    _note_shapes(g, result, result2)


def _note_shapes(g, a, b):
    if a.__class__ is Value and b.__class__ is Value:
        g.alt_shapes[a.key] = b.shape
        if len(a.shape) != len(b.shape):
            raise OnnxExporterError(
                "ember.onnx.export: a value's number of dims changes with the dynamic axes"
            )
        dims = {d for d, (m, n) in enumerate(zip(a.shape, b.shape)) if m != n}
        if dims:
            g.dynamic[a.key] = frozenset(dims) | g.dynamic.get(a.key, frozenset())
    elif isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        for x, y in zip(a, b):
            _note_shapes(g, x, y)


def _resized(tree, axes_iter, change):
    """The arguments with each input tensor's dynamic axes longer by change[dim name]
    (repeating its first slices) or shorter (dropping its last); _NoSmaller when one would
    become empty."""
    if isinstance(tree, Tensor):
        axes = next(axes_iter)
        array = np.array(tree._data)
        for axis, dim_name in axes.items():
            n, k = array.shape[axis], change[dim_name]
            if n + k < 1:
                raise _NoSmaller
            index = np.arange(n + k) % n  # (a longer axis repeats its first entries)
            array = np.take(array, index, axis=axis)
        return Tensor._make(array)
    if isinstance(tree, (tuple, list)):
        return type(tree)(_resized(v, axes_iter, change) for v in tree)
    if isinstance(tree, dict):
        return {k: _resized(v, axes_iter, change) for k, v in tree.items()}
    return tree


class _NoSmaller(Exception):
    pass

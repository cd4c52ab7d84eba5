"""From ember's ops to ONNX nodes: one small function per op (or op family), in one table.

A mapping gets the Graph and the recorded Call, and returns the ONNX names of the call's
results, in the structure of the call's result. Primitives are keyed by their class;
composites that have one ONNX op of their own (convolution, linear, batch_norm, layer_norm,
the recurrent layers) by their function: the recorder then records them whole.
"""

from __future__ import annotations

import math

import numpy as np

from ember.nn.functional.linear import linear
from ember.nn.functional.normalization import batch_norm, layer_norm
from ember.onnx._record import Const, Value
from ember.onnx.errors import OnnxExporterError, UnsupportedOperatorError
from ember.ops import OPS, compare, conv, recurrent

TABLE = {}  # Primitive class or composite function -> mapping


def P(name):  # noqa: N802 - reads as a class
    """The Primitive class of the op table's entry `name`."""
    return OPS[name].primitive


def maps(*ops, sizes=False):
    """Register a mapping for `ops` (op table names of primitives, or composite functions).
    sizes=True: it handles arguments that change with the dynamic axes (a reshape's target
    shape) itself."""

    def deco(fn):
        fn.handles_sizes = sizes
        for op in ops:
            TABLE[P(op) if isinstance(op, str) else op] = fn
        return fn

    return deco


def _out(call):
    return call.out if call.out.__class__ is Value else call.out[0]


# --- elementwise ---
def _simple(op_type):
    def fn(g, call):
        return g.node(op_type, [g.name(call.args[0])])

    return fn


for _name, _type in {
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "sin": "Sin",
    "cos": "Cos",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "Relu",
    "abs": "Abs",
    "sign": "Sign",
    "reciprocal": "Reciprocal",
    "erf": "Erf",
    "tan": "Tan",
    "asin": "Asin",
    "acos": "Acos",
    "atan": "Atan",
    "sinh": "Sinh",
    "cosh": "Cosh",
    "asinh": "Asinh",
    "acosh": "Acosh",
    "atanh": "Atanh",
    "clone": "Identity",
    "to_device": "Identity",
}.items():
    maps(_name)(_simple(_type))


def _binary(op_type):
    def fn(g, call):
        dtype = _out(call).dtype  # inputs take the result's dtype (PyTorch's promotion)
        a, b = call.args
        return g.node(op_type, [g.name(a, dtype), g.name(b, dtype)])

    return fn


for _name, _type in {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "maximum": "Max",
    "minimum": "Min",
    "mm": "MatMul",
    "matmul": "MatMul",
}.items():
    maps(_name)(_binary(_type))


@maps("rsqrt")
def _rsqrt(g, call):
    return g.node("Reciprocal", [g.node("Sqrt", [g.name(call.args[0])])])


@maps("log1p", "expm1", "log2", "log10")
def _logs(g, call):
    x = call.args[0]
    name = g.name(x)
    one = g.scalar(1, x.dtype)
    if call.op is P("log1p"):
        return g.node("Log", [g.node("Add", [name, one])])
    if call.op is P("expm1"):
        return g.node("Sub", [g.node("Exp", [name]), one])
    base = 2.0 if call.op is P("log2") else 10.0
    return g.node("Div", [g.node("Log", [name]), g.scalar(math.log(base), x.dtype)])


@maps("clamp")
def _clamp(g, call):
    x, lo, hi = call.args
    dtype = x.dtype
    bounds = ["" if v is None else g.scalar(v, dtype) for v in (lo, hi)]
    return g.node("Clip", [g.name(x), *bounds])


@maps("where")
def _where(g, call):
    cond, a, b = call.args
    dtype = _out(call).dtype
    return g.node("Where", [g.name(cond, np.bool_), g.name(a, dtype), g.name(b, dtype)])


_COMPARISONS = {
    "eq": "Equal",
    "ne": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
    "logical_and": "And",
    "logical_or": "Or",
    "logical_xor": "Xor",
}


@maps(compare.eq)  # all comparisons share this function's code; `name` says which
def _compare(g, call):
    name, a, b = call.args["name"], call.args["input"], call.args["other"]
    if name not in _COMPARISONS:
        raise UnsupportedOperatorError(f"ember.onnx.export: the op '{name}' has no translation")
    if name.startswith("logical_"):
        inputs = [g.name(x, np.bool_) for x in (a, b)]
    else:
        dtypes = [x.dtype for x in (a, b) if not isinstance(x, (int, float, bool))]
        common = np.result_type(*dtypes)
        inputs = [g.name(x, common) for x in (a, b)]
    y = g.node(_COMPARISONS[name], inputs)
    return g.node("Not", [y]) if name == "ne" else y


@maps("cast")
def _cast(g, call):
    return g.node("Cast", [g.name(call.args[0])], to=g.elem_type(call.args[1]))


# --- activations ---
@maps("softmax", "log_softmax")
def _softmax(g, call):
    op_type = "Softmax" if call.op is P("softmax") else "LogSoftmax"
    return g.node(op_type, [g.name(call.args[0])], axis=call.args[1])


@maps("gelu")
def _gelu(g, call):
    x, approximate = call.args
    if g.opset >= 20:
        return g.node("Gelu", [g.name(x)], approximate=approximate)
    name, dtype = g.name(x), x.dtype
    half = g.node("Mul", [name, g.scalar(0.5, dtype)])
    if approximate == "tanh":
        cube = g.node("Mul", [g.node("Mul", [name, name]), name])
        inner = g.node("Add", [name, g.node("Mul", [cube, g.scalar(0.044715, dtype)])])
        inner = g.node("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])
        core = g.node("Tanh", [inner])
    else:
        core = g.node("Erf", [g.node("Mul", [name, g.scalar(math.sqrt(0.5), dtype)])])
    return g.node("Mul", [half, g.node("Add", [core, g.scalar(1.0, dtype)])])


@maps("leaky_relu")
def _leaky_relu(g, call):
    return g.node("LeakyRelu", [g.name(call.args[0])], alpha=float(call.args[1]))


@maps("elu")
def _elu(g, call):
    x, alpha, scale, input_scale = call.args
    if scale == 1 and input_scale == 1:
        return g.node("Elu", [g.name(x)], alpha=float(alpha))
    if alpha == 1.6732632423543772 and scale == 1.0507009873554805 and input_scale == 1:
        return g.node("Selu", [g.name(x)], alpha=float(alpha), gamma=float(scale))
    raise OnnxExporterError(f"ember.onnx.export: elu with input_scale={input_scale}")


@maps("softplus")
def _softplus(g, call):
    x, beta, threshold = call.args
    name, dtype = g.name(x), x.dtype
    scaled = g.node("Mul", [name, g.scalar(beta, dtype)])
    soft = g.node("Div", [g.node("Softplus", [scaled]), g.scalar(beta, dtype)])
    over = g.node("Greater", [scaled, g.scalar(threshold, dtype)])
    return g.node("Where", [over, name, soft])


@maps("logsigmoid")
def _logsigmoid(g, call):
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", [g.name(call.args[0])])])])


# --- shapes ---
@maps("reshape", sizes=True)
def _reshape(g, call):
    x = call.args[0]
    out = _out(call)
    target = list(out.shape)
    dyn_out = g.dyn(out)
    if not dyn_out:
        return g.node("Reshape", [g.name(x), g.ints(target)])
    # each dim that follows a dynamic axis is an input dim of the same sizes in both runs
    # (read from the input's shape at run time), or the one dim ONNX infers (-1)
    alt_in, alt_out = g.alt_shape(x), g.alt_shape(out)
    x_name = g.name(x)
    dims = [(x_name, j, n, m) for j, (n, m) in enumerate(zip(x.shape, alt_in))]
    source, inferred = {}, []
    for i in sorted(dyn_out):
        pair = (target[i], alt_out[i])
        same = [d for d in dims + g.input_dims if d[2:] == pair]
        if same:
            here = [d for d in same if d[0] == x_name and d[1] == i]
            source[i] = (here or same)[0][:2]
        else:
            inferred.append(i)
    if len(inferred) > 1:
        raise OnnxExporterError(
            f"ember.onnx.export: reshape from {list(x.shape)} to {list(out.shape)}: dims "
            f"{inferred} all follow a dynamic axis, and ONNX can infer only one"
        )
    for i in inferred:
        target[i] = -1
    if all(s == (x_name, i) for i, s in source.items()):  # 0: the input's size at that index
        for i in source:
            target[i] = 0
        return g.node("Reshape", [x_name, g.ints(target)])
    shapes = {}
    parts = []
    for i, d in enumerate(target):
        if i in source:
            name, j = source[i]
            if name not in shapes:
                shapes[name] = g.node("Shape", [name])
            parts.append(g.node("Gather", [shapes[name], g.ints([j])], axis=0))
        else:
            parts.append(g.ints([d]))
    return g.node("Reshape", [x_name, g.node("Concat", parts, axis=0)])


@maps("transpose")
def _transpose(g, call):
    x, d0, d1 = call.args
    perm = list(range(len(x.shape)))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return g.node("Transpose", [g.name(x)], perm=perm)


@maps("permute")
def _permute(g, call):
    x, dims = call.args
    return g.node("Transpose", [g.name(x)], perm=[d % len(x.shape) for d in dims])


@maps("expand", sizes=True)
def _expand(g, call):
    x = call.args[0]
    out = _out(call)
    target = list(out.shape)
    lead = len(target) - len(x.shape)
    dyn_in, alt_in, alt_out = g.dyn(x), g.alt_shape(x), g.alt_shape(out)
    for i in g.dyn(out):  # 1 keeps the input's own size there
        j = i - lead
        if j < 0 or j not in dyn_in or x.shape[j] != target[i] or alt_in[j] != alt_out[i]:
            raise OnnxExporterError(
                f"ember.onnx.export: expand to {list(out.shape)}: dim {i} follows a dynamic "
                "axis the input does not have"
            )
        target[i] = 1
    return g.node("Expand", [g.name(x), g.ints(target)])


@maps("cat")
def _cat(g, call):
    dtype = _out(call).dtype
    dim = call.kwargs["dim"]
    return g.node("Concat", [g.name(a, dtype) for a in call.args], axis=dim)


@maps("split")
def _split(g, call):
    x, sizes, dim = call.args
    if dim % len(x.shape) in g.dyn(x):
        raise OnnxExporterError("ember.onnx.export: split along a dynamic axis")
    names = g.node("Split", [g.name(x), g.ints(sizes)], outputs=len(sizes), axis=dim)
    return names if len(sizes) > 1 else [names]


@maps("getitem")
def _getitem(g, call):
    x, index = call.args
    items = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in items):
        k = items.index(Ellipsis)
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        items = items[:k] + (slice(None),) * (len(x.shape) - used) + items[k + 1 :]
    name, dim = g.name(x), 0
    squeeze, unsqueeze, gathers = [], [], []
    starts, ends, axes, steps = [], [], [], []
    position = 0  # position in the result (for None and advanced indexes)
    for item in items:
        if item is None:
            unsqueeze.append(position)
            position += 1
        elif isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else item.step
                if step <= 0:
                    raise OnnxExporterError("ember.onnx.export: getitem with a negative step")
                starts.append(0 if item.start is None else item.start)
                ends.append(2**63 - 1 if item.stop is None else item.stop)
                axes.append(dim)
                steps.append(step)
            dim, position = dim + 1, position + 1
        elif isinstance(item, (int, np.integer)):
            starts.append(int(item))
            ends.append(int(item) + 1 if item != -1 else 2**63 - 1)
            axes.append(dim)
            steps.append(1)
            squeeze.append(dim)
            dim += 1
        elif item.__class__ in (Value, Const) and item.dtype.kind in "iu":
            gathers.append((dim, item))
            dim, position = dim + 1, position + 1
        else:
            raise OnnxExporterError(
                f"ember.onnx.export: getitem with an index of type {type(item).__name__} "
                "(supported: ints, slices, None, ..., one integer tensor)"
            )
    if len(gathers) > 1 or (gathers and (squeeze or unsqueeze)):
        raise OnnxExporterError(
            "ember.onnx.export: getitem with an index tensor beside another index tensor, "
            "an int or None"
        )
    if axes:
        name = g.slice(name, starts, ends, axes, steps)
    for d, item in gathers:  # the index tensor's dims replace the indexed dim
        name = g.node("Gather", [name, g.name(item)], axis=d)
    if squeeze:
        name = g.squeeze(name, squeeze)
    if unsqueeze:
        name = g.unsqueeze(name, unsqueeze)
    return name


@maps("constant_pad")
def _pad(g, call):
    x, pairs, value = call.args
    pads = [lo for lo, _ in pairs] + [hi for _, hi in pairs]
    return g.node("Pad", [g.name(x), g.ints(pads), g.scalar(value, x.dtype)], mode="constant")


@maps("embedding")
def _embedding(g, call):
    weight, indices = call.args[:2]
    return g.node("Gather", [g.name(weight), g.name(indices)], axis=0)


# --- reductions ---
def _reduction(op_type):
    def fn(g, call):
        x, dims, keepdim = call.args[:3]
        if len(call.args) > 3 and call.args[3] is not None:
            x_name = g.name(x, call.args[3])
        else:
            x_name = g.name(x)
        axes = None if dims is None else [d % max(len(x.shape), 1) for d in dims]
        return g.reduce(op_type, x_name, axes, keepdim)

    return fn


for _name, _type in {
    "sum": "ReduceSum",
    "mean": "ReduceMean",
    "amax": "ReduceMax",
    "amin": "ReduceMin",
    "prod": "ReduceProd",
}.items():
    maps(_name)(_reduction(_type))


@maps("cumsum")
def _cumsum(g, call):
    x, dim = call.args
    return g.node("CumSum", [g.name(x), g.ints(dim)])


# --- pooling (the batched primitives) ---
def _window_pads(x, kernel, stride, dilation, pads, outs):
    """ONNX pads giving exactly `outs` windows: the end pads grow to hold a ceil_mode window."""
    spatial = x.shape[2:]
    begins = [lo for lo, _ in pads]
    ends = [
        max(hi, (o - 1) * s + d * (k - 1) + 1 - n - lo)
        for n, k, s, d, (lo, hi), o in zip(spatial, kernel, stride, dilation, pads, outs)
    ]
    return begins + ends


@maps("max_pool2d")
def _max_pool(g, call):
    x, kernel, stride, dilation, pads, outs, want_winner = call.args
    y = g.node(
        "MaxPool",
        [g.name(x)],
        kernel_shape=list(kernel),
        strides=list(stride),
        dilations=list(dilation),
        pads=_window_pads(x, kernel, stride, dilation, pads, outs),
    )
    return (y, None)


@maps("avg_pool2d")
def _window_sum(g, call):
    # a sum over each window with zeros outside: a depthwise convolution with ones
    x, kernel, stride, pads, outs = call.args
    channels = x.shape[1]
    ones = np.ones((channels, 1, *kernel), dtype=x.dtype)
    return g.node(
        "Conv",
        [g.name(x), g.const(ones, "window_ones")],
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=_window_pads(x, kernel, stride, (1,) * len(kernel), pads, outs),
        group=channels,
    )


# --- composites mapped whole ---
@maps(conv.convolution)
def _convolution(g, call):
    b = call.args
    x, weight, bias, nd = b["input"], b["weight"], b["bias"], b["nd"]
    kernel = tuple(weight.shape[2:])
    stride = conv.ntuple(b["stride"], nd, "stride")
    dilation = conv.ntuple(b["dilation"], nd, "dilation")
    pads = conv._padding_pairs(b["padding"], kernel, dilation, stride, nd)
    name = g.name(x)
    batched = len(x.shape) == nd + 2
    if not batched:
        name = g.unsqueeze(name, [0])
    inputs = [name, g.name(weight)] + ([] if bias is None else [g.name(bias)])
    y = g.node(
        "Conv",
        inputs,
        kernel_shape=list(kernel),
        strides=list(stride),
        dilations=list(dilation),
        pads=[lo for lo, _ in pads] + [hi for _, hi in pads],
        group=b["groups"],
    )
    return y if batched else g.squeeze(y, [0])


@maps(conv.transposed_convolution)
def _transposed_convolution(g, call):
    b = call.args
    x, weight, bias, nd = b["input"], b["weight"], b["bias"], b["nd"]
    padding = conv.ntuple(b["padding"], nd, "padding")
    name = g.name(x)
    batched = len(x.shape) == nd + 2
    if not batched:
        name = g.unsqueeze(name, [0])
    inputs = [name, g.name(weight)] + ([] if bias is None else [g.name(bias)])
    y = g.node(
        "ConvTranspose",
        inputs,
        kernel_shape=list(weight.shape[2:]),
        strides=list(conv.ntuple(b["stride"], nd, "stride")),
        dilations=list(conv.ntuple(b["dilation"], nd, "dilation")),
        pads=list(padding) * 2,
        output_padding=list(conv.ntuple(b["output_padding"], nd, "output_padding")),
        group=b["groups"],
    )
    return y if batched else g.squeeze(y, [0])


@maps(linear)
def _linear(g, call):
    x, weight, bias = call.args["input"], call.args["weight"], call.args["bias"]
    if len(x.shape) == 2 and len(weight.shape) == 2:
        inputs = [g.name(x), g.name(weight)] + ([] if bias is None else [g.name(bias)])
        return g.node("Gemm", inputs, transB=1)
    w = g.name(weight)
    if len(weight.shape) == 2:
        w = g.node("Transpose", [w], perm=[1, 0])
    y = g.node("MatMul", [g.name(x), w])
    return y if bias is None else g.node("Add", [y, g.name(bias)])


@maps(batch_norm)
def _batch_norm(g, call):
    b = call.args
    x = b["input"]
    if b["training"]:
        raise OnnxExporterError(
            "ember.onnx.export: batch_norm with training=True (export the model in eval mode)"
        )
    channels = x.shape[1]
    weight = b["weight"] if b["weight"] is not None else np.ones(channels, x.dtype)
    bias = b["bias"] if b["bias"] is not None else np.zeros(channels, x.dtype)
    inputs = [
        g.name(x),
        g.const(weight) if isinstance(weight, np.ndarray) else g.name(weight),
        g.const(bias) if isinstance(bias, np.ndarray) else g.name(bias),
        g.name(b["running_mean"]),
        g.name(b["running_var"]),
    ]
    return g.node("BatchNormalization", inputs, epsilon=float(b["eps"]))


@maps(layer_norm)
def _layer_norm(g, call):
    b = call.args
    x, weight, bias, eps = b["input"], b["weight"], b["bias"], float(b["eps"])
    shape_ = b["normalized_shape"]
    count = 1 if isinstance(shape_, int) else len(shape_)
    axes = list(range(len(x.shape) - count, len(x.shape)))
    name, dtype = g.name(x), x.dtype
    if g.opset >= 17:
        scale = g.name(weight) if weight is not None else g.const(np.ones(x.shape[-count:], dtype))
        inputs = [name, scale] + ([] if bias is None else [g.name(bias)])
        return g.node("LayerNormalization", inputs, axis=-count, epsilon=eps)
    centered = g.node("Sub", [name, g.reduce("ReduceMean", name, axes, True)])
    var = g.reduce("ReduceMean", g.node("Mul", [centered, centered]), axes, True)
    std = g.node("Sqrt", [g.node("Add", [var, g.scalar(eps, dtype)])])
    y = g.node("Div", [centered, std])
    if weight is not None:
        y = g.node("Mul", [y, g.name(weight)])
    return y if bias is None else g.node("Add", [y, g.name(bias)])


# torch's gate order -> ONNX's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
_GATES = {"LSTM": (4, [0, 3, 1, 2]), "GRU": (3, [1, 0, 2]), "RNN": (1, [0])}


def _gates(array, kind):
    count, order = _GATES[kind]
    blocks = np.split(array, count, axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def _recurrent(kind, activation=None):
    def fn(g, call):
        b = call.args
        x, hx, params = b["input"], b["hx"], list(b["params"])
        layers, bidirectional = b["num_layers"], b["bidirectional"]
        if b["train"] and b["dropout"] and layers > 1:
            raise OnnxExporterError(
                f"ember.onnx.export: {kind} with dropout in training mode (export in eval mode)"
            )
        directions = 2 if bidirectional else 1
        per_layer = 4 if b["has_biases"] else 2
        hidden = params[1].shape[1]
        states = list(hx) if kind == "LSTM" else [hx]
        state_names = [None if g.is_zero(s) else g.name(s) for s in states]
        name = g.name(x)
        if b["batch_first"]:
            name = g.node("Transpose", [name], perm=[1, 0, 2])
        finals = [[] for _ in states]
        for layer in range(layers):
            w, r, bias = [], [], []
            for d in range(directions):
                k = layer * directions + d
                weights = [g.static(p) for p in params[k * per_layer : (k + 1) * per_layer]]
                w.append(_gates(weights[0], kind))
                r.append(_gates(weights[1], kind))
                if b["has_biases"]:
                    bias.append(
                        np.concatenate([_gates(weights[2], kind), _gates(weights[3], kind)])
                    )
                else:
                    bias.append(np.zeros(2 * weights[1].shape[0], weights[1].dtype))
            inputs = [name, g.const(np.stack(w), "W"), g.const(np.stack(r), "R")]
            inputs += [g.const(np.stack(bias), "B"), ""]
            for s in state_names:
                if s is None:
                    inputs.append("")
                else:
                    start = layer * directions
                    inputs.append(g.slice(s, [start], [start + directions], [0]))
            attrs = {"hidden_size": hidden, "direction": "bidirectional" if bidirectional else None}
            if activation is not None:
                attrs["activations"] = [activation] * directions
            if kind == "GRU":
                attrs["linear_before_reset"] = 1
            outs = g.node(kind, inputs, outputs=1 + len(states), **attrs)
            y = outs[0]  # (T, D, B, H) -> (T, B, D*H)
            if directions == 1:
                name = g.squeeze(y, [1])
            else:
                name = g.node("Transpose", [y], perm=[0, 2, 1, 3])
                name = g.node("Reshape", [name, g.ints([0, 0, -1])])
            for final, out in zip(finals, outs[1:]):
                final.append(out)
        if b["batch_first"]:
            name = g.node("Transpose", [name], perm=[1, 0, 2])
        results = [g.node("Concat", f, axis=0) if len(f) > 1 else f[0] for f in finals]
        return (name, *results)

    return fn


maps(recurrent.lstm)(_recurrent("LSTM"))
maps(recurrent.gru)(_recurrent("GRU"))
maps(recurrent.rnn_tanh)(_recurrent("RNN", "Tanh"))
maps(recurrent.rnn_relu)(_recurrent("RNN", "Relu"))


def supported():
    """The names of the ops that have an ONNX translation, sorted."""
    from ember.onnx._record import op_name

    names = {op_name(op) for op in TABLE if op is not compare.eq}
    return sorted(names | set(_COMPARISONS))


COMPOSITES = {op.__code__: op for op in TABLE if not isinstance(op, type)}

"""ember.onnx: write a model's forward pass as an ONNX file (`export`), as torch.onnx does.

`export` runs the forward pass once and records ember's own ops as they run (see _record.py),
then writes each op as ONNX nodes (one small mapping per op, in _ops.py) with the `onnx`
package, an optional extra: `pip install onnx` (or `pip install ember[onnx]`). Importing
ember.onnx does not need it; exporting does.
"""

from __future__ import annotations

import contextlib
import enum
import os
import threading
import warnings

import numpy as np

from ember._dtype import is_floating
from ember.onnx.errors import OnnxExporterError, UnsupportedOperatorError

__all__ = [
    "export",
    "is_in_onnx_export",
    "supported_ops",
    "TrainingMode",
    "OnnxExporterError",
    "UnsupportedOperatorError",
    "DEFAULT_OPSET",
    "MIN_OPSET",
]

DEFAULT_OPSET = 18
MIN_OPSET = 13

_state = threading.local()


class TrainingMode(enum.IntEnum):
    """The mode the model runs in while it is exported (torch.onnx.TrainingMode)."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def is_in_onnx_export():
    """True while `export` runs the model's forward pass (on the exporting thread)."""
    return getattr(_state, "exporting", False)


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ModuleNotFoundError(
            "ember.onnx.export needs the onnx package: pip install onnx "
            "(or install ember with its extra: pip install ember[onnx])"
        ) from None
    return onnx


def export(
    model,
    args=(),
    f=None,
    *,
    kwargs=None,
    export_params=True,
    verbose=None,
    input_names=None,
    output_names=None,
    opset_version=None,
    dynamic_axes=None,
    do_constant_folding=True,
    keep_initializers_as_inputs=False,
    training=TrainingMode.EVAL,
    dynamo=True,
):
    """Export `model`'s forward pass on `args` as an ONNX model, written to `f`.

    Same call as torch.onnx.export. `model` is a Module (or any callable made of ember ops);
    `args` one tensor or a tuple of arguments (tensors, numbers, nested tuples; a dict last
    holds keyword arguments, as in PyTorch), or pass `kwargs`. The tensors among them become
    the graph's inputs, named by `input_names` (default `input`, or `input_0`, `input_1`, ...);
    the tensors of the result its outputs, named by `output_names` (default `output`, ...).
    Parameters and buffers become initializers named as in `state_dict()` (graph inputs
    without values when `export_params=False`). `f` is a path or a binary file object; with
    `f=None` nothing is written. Returns the `onnx.ModelProto` (PyTorch returns None here,
    or an ONNXProgram from its dynamo exporter).

    `dynamic_axes` maps input and output names to their dynamic axes, `{name: {axis:
    'dim_name'}}` or `{name: [axes]}`: those dims become symbolic, so the file runs with
    other sizes there. To learn which dims of each value follow them, export runs the forward
    pass a second time with those sizes changed by one, and refuses (naming the op) a graph it
    cannot write for every size: a constant whose shape follows a dynamic axis, a reshape with
    two dims that do, control flow that changes with the size.

    `opset_version`: the ONNX opset, 13 to the newest the installed onnx knows (default 18; an
    older one writes opset 13, with a warning). `training`: the model runs in eval mode during
    export unless TrainingMode.PRESERVE or TRAINING (PyTorch's default, too).
    `do_constant_folding`: computations that the inputs do not reach are always folded into
    constants. `verbose=True` prints the graph. `keep_initializers_as_inputs` and `dynamo`
    are accepted and change nothing.

    Ops without an ONNX translation raise UnsupportedOperatorError naming the op and listing
    those that have one (`ember.onnx.supported_ops()`). Values the recorder cannot follow
    raise OnnxExporterError rather than being frozen into the graph: a tensor computed from
    the inputs by a function that is not an op with a gradient (comparisons, argmax, NumPy
    math on `.numpy()`), or changed in place under no_grad.
    """
    onnx = _import_onnx()
    from ember.onnx import _build

    opset = _opset(onnx, opset_version)
    if isinstance(args, dict) or (args is not None and not isinstance(args, (tuple, list))):
        args = (args,)
    args = tuple(args or ())
    call_kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        call_kwargs.update(args[-1])
        args = args[:-1]
    with _export_mode(model, training):
        proto = _build.build(
            onnx,
            model,
            args,
            call_kwargs,
            opset=opset,
            export_params=export_params,
            input_names=list(input_names or ()),
            output_names=list(output_names or ()),
            dynamic_axes=dict(dynamic_axes or {}),
        )
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if f is not None:
        data = proto.SerializeToString()
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as fh:
                fh.write(data)
        else:
            f.write(data)
    return proto


def supported_ops():
    """The names of ember's ops (and composite functions) that export can translate."""
    from ember.onnx import _ops

    return _ops.supported()


def _opset(onnx, opset_version):
    newest = onnx.defs.onnx_opset_version()
    if opset_version is None:
        return min(DEFAULT_OPSET, newest)
    opset = int(opset_version)
    if opset > newest:
        raise ValueError(
            f"ember.onnx.export: opset_version={opset} is newer than the installed onnx knows "
            f"({newest}); upgrade onnx or ask for {newest} or older"
        )
    if opset < MIN_OPSET:
        warnings.warn(
            f"ember.onnx.export writes opset {MIN_OPSET} or later; writing opset {MIN_OPSET} "
            f"instead of {opset}",
            UserWarning,
            stacklevel=3,
        )
        return MIN_OPSET
    return opset


@contextlib.contextmanager
def _export_mode(model, training):
    """The model in the mode export runs it in, with every float parameter requiring grad
    (so in-place ops record the graph the recorder follows); all restored afterwards."""
    modules = list(model.modules()) if hasattr(model, "modules") else []
    modes = [(m, m.training) for m in modules]
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    frozen = [p for p in params if not p.requires_grad and is_floating(p._data.dtype)]
    if modules and training != TrainingMode.PRESERVE:
        modules[0].train(training == TrainingMode.TRAINING)
    for p in frozen:
        p.requires_grad_(True)
    _state.exporting = True
    try:
        yield
    finally:
        _state.exporting = False
        for p in frozen:
            p.requires_grad_(False)
        for m, mode in modes:
            m.training = mode

"""ember.utils.summary: a model's layers, output shapes and parameter counts as a table.

The table follows torchinfo's `summary` (a separate package for PyTorch): run the model once on
an input of the given size, note each layer's output shape, count its parameters.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import ember

__all__ = ["LayerInfo", "ModelSummary", "summary"]


class LayerInfo(NamedTuple):
    """One row of a ModelSummary.

    name: the module's qualified name in the model ("" for the model itself, "0", "encoder.1");
    kind: its class name; depth: 0 for the model, 1 for its children, ...; index: its number
    among the rows of its depth (1-based, as torchinfo's "depth-idx"); output_shapes: one list
    of sizes per output tensor ([] when the forward pass did not call the module); params: the
    parameters the row stands for (its own, or its whole subtree when its children are not
    shown), None when it has none of its own (printed "--"); prefix: the tree lines before it.
    """

    name: str
    kind: str
    depth: int
    index: int
    output_shapes: list
    params: int | None
    prefix: str


class ModelSummary:
    """What `summary` returns: `rows` (LayerInfo), parameter totals and sizes in bytes.

    `str()` (and `repr()`) is the table.
    """

    def __init__(self, rows, total_params, trainable_params, param_bytes, input_bytes, pass_bytes):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.param_bytes = param_bytes
        self.input_bytes = input_bytes
        self.pass_bytes = pass_bytes  # every shown leaf's output, twice (values and gradients)

    def __str__(self):
        header = ("Layer (type:depth-idx)", "Output Shape", "Param #")
        lines = [
            (
                f"{row.prefix}{row.kind}" + (f": {row.depth}-{row.index}" if row.depth else ""),
                _format_shapes(row.output_shapes),
                "--" if row.params is None else f"{row.params:,}",
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *lines]) + 3 for i in range(3)]
        widths[0] = max(widths[0], 40)
        widths[1] = max(widths[1], 25)
        rule = "=" * sum(widths)

        def row_text(cells):
            return "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

        mb = 1024**2
        total_bytes = self.input_bytes + self.pass_bytes + self.param_bytes
        return "\n".join(
            [
                rule,
                row_text(header),
                rule,
                *(row_text(line) for line in lines),
                rule,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                rule,
                f"Input size (MB): {self.input_bytes / mb:.2f}",
                f"Forward/backward pass size (MB): {self.pass_bytes / mb:.2f}",
                f"Params size (MB): {self.param_bytes / mb:.2f}",
                f"Estimated Total Size (MB): {total_bytes / mb:.2f}",
                rule,
            ]
        )

    __repr__ = __str__


def summary(model, input_size=None, input_data=None, *, depth=3, dtypes=None, device=None,
            verbose=None):  # fmt: skip
    """The table of `model`'s layers: output shape and parameter count of each, and totals.

    Runs `model` once, in eval mode and under no_grad, on zeros of `input_size` (a shape with
    the batch dimension, e.g. (32, 1, 28, 28), or a list of shapes for several inputs), or on
    `input_data` (a tensor, or a tuple of tensors passed as positional arguments). Each
    module's training flag is restored afterwards and no random numbers are drawn, so calling
    it changes nothing in the model or in ember's random state.

    depth: rows down to this nesting level (the model is level 0); a row whose children are
    hidden counts their parameters. dtypes: one dtype per input of `input_size` (default:
    ember's default dtype). device: where the zeros are made (default: the model's first
    parameter's device, else cpu). verbose: 1 prints the table, 0 only returns it (default: 1,
    except in a Jupyter kernel, where the returned object shows itself).

    Returns a ModelSummary; `print(summary(model, (1, 784)))` shows the table. Unlike
    torchinfo there are no mult-add counts, and rows follow the model's module tree (modules
    the forward pass did not call show "--" as their output shape).

    Example::

        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> s = summary(net, (16, 4), verbose=0)
        >>> [(row.kind, row.output_shapes, row.params) for row in s.rows[1:]]
        [('Linear', [[16, 8]], 40), ('ReLU', [[16, 8]], None), ('Linear', [[16, 2]], 18)]
    """
    if not isinstance(model, ember.nn.Module):
        raise TypeError(f"summary: model must be an ember.nn.Module, got {type(model).__name__}")
    if (input_size is None) == (input_data is None):
        raise ValueError("summary: give exactly one of input_size and input_data")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"summary: depth must be an integer >= 0, got {depth!r}")
    inputs = (
        _make_inputs(model, input_size, dtypes, device)
        if input_data is None
        else _as_inputs(input_data)
    )
    outputs = {}  # id(module) -> (shapes, bytes) of the tensors its first call returned

    def record(module, args, output):
        if id(module) not in outputs:
            tensors = _tensors(output)
            outputs[id(module)] = (
                [list(t.shape) for t in tensors],
                sum(t.numel() * t.element_size() for t in tensors),
            )

    modules = list(model.modules())
    modes = [m.training for m in modules]
    handles = [m.register_forward_hook(record) for m in modules]
    try:
        model.eval()
        with ember.no_grad():
            model(*inputs)
    except Exception as e:
        sizes = ", ".join(str(list(x.shape)) for x in inputs)
        raise RuntimeError(
            f"summary: running {type(model).__name__} on inputs of size {sizes} failed "
            f"({type(e).__name__}: {e})"
        ) from e
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in zip(modules, modes):
            module.training = mode

    shown = []  # (module, its row, whether its children have rows)
    _add_rows(model, "", 0, "", depth, outputs, {}, shown, set())
    rows = [row for _, row, _ in shown]
    # values and gradients of every output the table's leaves produced
    pass_bytes = 2 * sum(outputs.get(id(m), ([], 0))[1] for m, _, inner in shown if not inner)
    params = list(model.parameters())
    result = ModelSummary(
        rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        input_bytes=sum(x.numel() * x.element_size() for x in inputs),
        pass_bytes=pass_bytes,
    )
    if verbose is None:
        verbose = 0 if _in_notebook() else 1
    if verbose:
        print(result)
    return result


def _make_inputs(model, input_size, dtypes, device):
    try:  # one shape, or a list of shapes
        if all(not isinstance(n, (tuple, list)) for n in input_size):
            sizes = [tuple(input_size)]
        else:
            sizes = [tuple(size) for size in input_size]
    except TypeError:  # not a sequence (of sequences)
        sizes = []
    if not sizes or not all(_is_size(n) for size in sizes for n in size):
        raise ValueError(
            "summary: input_size is a shape such as (32, 1, 28, 28) or a list of shapes, "
            f"got {input_size!r}"
        )
    if dtypes is None:
        dtypes = [ember.get_default_dtype()] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(sizes)} input sizes but {len(dtypes)} dtypes")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    # zeros, not random values: ember's random state stays untouched (and 0 is a valid index)
    return [ember.zeros(*size, dtype=dt, device=device) for size, dt in zip(sizes, dtypes)]


def _is_size(n):
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _as_inputs(input_data):
    inputs = list(input_data) if isinstance(input_data, (tuple, list)) else [input_data]
    if not all(isinstance(x, ember.Tensor) for x in inputs):
        raise TypeError("summary: input_data is a tensor or a tuple of tensors")
    return inputs


def _add_rows(module, name, level, prefix, depth, outputs, counters, shown, seen):
    """Append `module`'s row, then its children's (down to `depth`), in the module tree's order."""
    seen.add(id(module))
    children = [(n, m) for n, m in module.named_children() if id(m) not in seen]
    show_children = level < depth and children
    own = sum(p.numel() for p in module.parameters(recurse=not show_children))
    counters[level] = counters.get(level, 0) + 1
    row = LayerInfo(
        name=name,
        kind=type(module).__name__,
        depth=level,
        index=counters[level],
        output_shapes=outputs.get(id(module), ([], 0))[0],
        params=own or None,
        prefix=prefix,
    )
    shown.append((module, row, bool(show_children)))
    if not show_children:
        return
    # the tree's lines: this row's own continuation for its children, then their branch
    stem = prefix.replace("├─", "│    ").replace("└─", "     ")
    for i, (child_name, child) in enumerate(children):
        branch = "└─" if i == len(children) - 1 else "├─"
        full_name = f"{name}.{child_name}" if name else child_name
        _add_rows(child, full_name, level + 1, stem + branch, depth, outputs, counters, shown, seen)


def _tensors(output):
    """The tensors in a forward's output (a tensor, or nested tuples, lists and dicts)."""
    if isinstance(output, ember.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _format_shapes(shapes):
    if not shapes:
        return "--"
    return ", ".join(str(shape) for shape in shapes)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where the returned table shows itself), not merely in a
    process that imported ipykernel (a test runner executing notebooks does)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"

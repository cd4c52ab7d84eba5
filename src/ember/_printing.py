"""repr(tensor) in PyTorch's format: tensor([...], dtype=..., grad_fn=<...>).

The layout follows torch 2.13 character for character: one width for every element, chosen
from the elements that will be shown; fixed-point with `precision` decimals, integers-valued
floats as `1.`, or scientific notation when the magnitudes span more than three decades, pass
1e8 or fall under 1e-4; past `threshold` elements only `edgeitems` rows and columns are kept at
each end, with `...` between them (and the rest is never formatted); rows wrap at `linewidth`.
"""

from __future__ import annotations

import contextlib
import math

import numpy

from ember import _backend, _dtype

_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80}
_PROFILES = {
    "default": _DEFAULTS,
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
_PRINT_OPTIONS = {**_DEFAULTS, "sci_mode": None}


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
):
    """Set how tensors print, as torch.set_printoptions.

    precision: decimals of floating-point elements (default 4). threshold: a tensor with more
    elements than this is summarized (default 1000). edgeitems: rows/columns kept at each end
    of every dimension of a summarized tensor (default 3). linewidth: characters per line
    before wrapping (default 80). profile: 'default', 'short' (precision 2, edgeitems 2) or
    'full' (never summarize) sets all four first; the other arguments then override it.
    sci_mode: True or False forces scientific notation on or off; None (what every call
    without it sets) lets the values decide. Unlike PyTorch, an unknown profile raises.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(
                f"set_printoptions: unknown profile {profile!r}; "
                f"use one of {', '.join(map(repr, _PROFILES))}"
            )
        _PRINT_OPTIONS.update(_PROFILES[profile])
    given = dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth)
    for key, value in given.items():
        if value is not None:
            _PRINT_OPTIONS[key] = value
    _PRINT_OPTIONS["sci_mode"] = sci_mode


def get_printoptions() -> dict:
    """The current print options, as keywords set_printoptions accepts."""
    return dict(_PRINT_OPTIONS)


@contextlib.contextmanager
def printoptions(**options):
    """Context manager: set_printoptions(**options) inside the block, the old options after."""
    saved = get_printoptions()
    set_printoptions(**options)
    try:
        yield
    finally:
        set_printoptions(**saved)


class _Formatter:
    """Formats single elements to one common width, decided from the elements shown."""

    def __init__(self, shown, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if shown.size == 0:
            return
        if not floating:
            self.width = max(len(str(v)) for v in (shown.min().item(), shown.max().item()))
            return
        values = shown[numpy.isfinite(shown) & (shown != 0)]
        if values.size == 0:
            return
        magnitudes = numpy.abs(values)
        small, big = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(numpy.all(values == numpy.ceil(values)))
        forced = _PRINT_OPTIONS["sci_mode"]
        if forced is None:
            with numpy.errstate(over="ignore"):  # 1e200 / 1e-200 is inf: still a wide span
                ratio = big / small
            self.sci_mode = bool(ratio > 1000.0 or big > 1.0e8 or small < 1.0e-4)
        else:
            self.sci_mode = bool(forced)
        # The widest string comes from an extreme: the largest or smallest magnitude of
        # either sign (rounding is monotone), so four candidates stand for all values.
        positive, negative = values[values > 0], values[values < 0]
        candidates = [part.min() for part in (positive, negative) if part.size]
        candidates += [part.max() for part in (positive, negative) if part.size]
        precision = _PRINT_OPTIONS["precision"]
        for value in candidates:
            if self.sci_mode:
                text = f"{value:.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}."
            else:
                text = f"{value:.{precision}f}"
            self.width = max(self.width, len(text))

    def format(self, value) -> str:
        """One element (a Python number) as text, right-aligned to the common width."""
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{_PRINT_OPTIONS['precision']}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("." if math.isfinite(value) else "")
        else:
            text = f"{value:.{_PRINT_OPTIONS['precision']}f}"
        return text.rjust(self.width)


def _summarized(array, edge):
    """Only the elements a summary shows: edge items at each end of every long dimension."""
    if array.ndim >= 2 and not edge:
        return array[(slice(0, 0),) * array.ndim]
    for axis, size in enumerate(array.shape):
        if size > 2 * edge:
            # edge 0 on a vector keeps it whole, as PyTorch's a[:0] + a[-0:] does
            tail_start = size - edge if edge else 0
            keep = numpy.concatenate([numpy.arange(edge), numpy.arange(tail_start, size)])
            array = numpy.take(array, keep, axis=axis)
    return array


def _python_values(array, floating):
    """Elements as Python numbers (floats widened to double, as PyTorch's .tolist())."""
    return (array.astype(numpy.float64) if floating else array).tolist()


def _vector_text(array, indent, summarize, formatter):
    options = _PRINT_OPTIONS
    edge = options["edgeitems"]
    per_line = max(1, math.floor((options["linewidth"] - indent) / (formatter.width + 2)))
    floating = formatter.floating
    if summarize and not edge:
        items = ["..."]
    elif summarize and array.shape[0] > 2 * edge:
        head = _python_values(array[:edge], floating)
        tail = _python_values(array[-edge:], floating)
        items = [*map(formatter.format, head), " ...", *map(formatter.format, tail)]
    else:
        items = [formatter.format(v) for v in _python_values(array, floating)]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _array_text(array, indent, summarize, formatter):
    if array.ndim == 0:
        return formatter.format(_python_values(array, formatter.floating))
    if array.ndim == 1:
        return _vector_text(array, indent, summarize, formatter)
    edge = _PRINT_OPTIONS["edgeitems"]
    size = array.shape[0]
    if summarize and size > 2 * edge:
        rows = [*range(edge), None, *range(size - edge, size)]
    else:
        rows = range(size)
    parts = [
        "..." if i is None else _array_text(array[i], indent + 1, summarize, formatter)
        for i in rows
    ]
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _body(array, indent):
    summarize = array.size > _PRINT_OPTIONS["threshold"]
    floating = _dtype.from_numpy_dtype(array.dtype).is_floating_point  # bfloat16's kind is "V"
    shown = _summarized(array, _PRINT_OPTIONS["edgeitems"]) if summarize else array
    formatter = _Formatter(shown.astype(numpy.float64) if floating else shown, floating)
    return _array_text(array, indent, summarize, formatter)


def _join_suffixes(text, suffixes, indent):
    # PyTorch measures the last line as its length + 2 when there is no newline yet (one
    # more than the truth); kept so the wrap point matches.
    last_line = len(text) - text.rfind("\n") + 1
    pieces = [text]
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _PRINT_OPTIONS["linewidth"]:
            pieces.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            pieces.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(pieces) + ")"


def _prefix(t) -> str:
    # A user's subclass prints under its own name, as PyTorch's do; ember's own are tensors.
    if type(t).__module__.split(".")[0] == "ember":
        return "tensor("
    return f"{type(t).__name__}("


def tensor_repr(t) -> str:
    """The string PyTorch prints for a tensor, with 'ember.' dtype names."""
    array = numpy.asarray(_backend.to_host(t._data))
    prefix = _prefix(t)
    indent = len(prefix)
    suffixes = []
    if t.device.type == "cuda":
        suffixes.append(f"device='{t.device}'")
    dtype = t.dtype
    if array.size == 0:
        body = "[]"
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype != _dtype.get_default_dtype():  # nothing to infer an integer dtype from
            suffixes.append(f"dtype={dtype!r}")
    else:
        if not _PRINT_OPTIONS["edgeitems"]:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool):
            suffixes.append(f"dtype={dtype!r}")
        body = _body(array, indent)
    try:
        grad_fn = t.grad_fn
        name = None if grad_fn is None else grad_fn.name()
    except RuntimeError:  # a view whose grad_fn cannot be re-made (PyTorch prints the same)
        name = "Invalid"
    if name is not None:
        suffixes.append(f"grad_fn=<{name}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    tangent = _tangent(t)
    if tangent is not None:  # a dual tensor of forward-mode AD, printed as PyTorch does
        suffixes.append(f"tangent={tensor_repr(tangent)}")
    return _join_suffixes(prefix + body, suffixes, indent)


def _tangent(t):
    from ember.autograd.grad_mode import DUAL_LEVEL_OPEN

    if not DUAL_LEVEL_OPEN[0]:
        return None
    from ember.autograd import forward_ad

    return forward_ad.tangent_of(t)

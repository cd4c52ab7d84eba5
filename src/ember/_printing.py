"""repr(tensor) in PyTorch's format: tensor([...], dtype=..., grad_fn=<...>)."""

from __future__ import annotations

import numpy

from ember import _backend, _dtype

_PRINT_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, **_):
    """Same as torch.set_printoptions (precision, threshold, edgeitems, linewidth)."""
    for key, value in dict(
        precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth
    ).items():
        if value is not None:
            _PRINT_OPTIONS[key] = value


def _float_formatter(array):
    finite = array[numpy.isfinite(array)]
    precision = _PRINT_OPTIONS["precision"]
    if finite.size == 0:
        return lambda x: str(x)
    magnitudes = numpy.abs(finite)
    if numpy.all(finite == numpy.round(finite)) and magnitudes.max() < 1e8:
        width = max(len(f"{v:.0f}") for v in (finite.min(), finite.max()))
        return lambda x: f"{x:.0f}.".rjust(width + 1) if numpy.isfinite(x) else str(x)
    nonzero = magnitudes[magnitudes > 0]
    big, small = magnitudes.max(), nonzero.min() if nonzero.size else 1.0
    if big >= 1e8 or small < 1e-4 or big / small > 1e3:
        return lambda x: f"{x:.{precision}e}"
    width = max(len(f"{v:.{precision}f}") for v in (finite.min(), finite.max()))
    return lambda x: f"{x:.{precision}f}".rjust(width)


def tensor_repr(t) -> str:
    """The string PyTorch prints for a tensor, with 'ember.' dtype names."""
    array = numpy.asarray(_backend.to_host(t._data))
    prefix = "tensor("
    if array.size == 0 and array.ndim == 1:
        body = "[]"
    else:
        formatter = {}
        if array.dtype.kind == "f":
            formatter["float_kind"] = _float_formatter(array.astype(numpy.float64))
        elif array.dtype.kind == "b":
            width = 5 if not array.all() else 4
            formatter["bool"] = lambda x: ("True" if x else "False").rjust(width)
        body = numpy.array2string(
            array,
            separator=", ",
            prefix=prefix,
            formatter=formatter,
            threshold=_PRINT_OPTIONS["threshold"],
            edgeitems=_PRINT_OPTIONS["edgeitems"],
            max_line_width=_PRINT_OPTIONS["linewidth"],
        )
    suffixes = []
    if t.device.type == "cuda":
        suffixes.append(f"device='{t.device}'")
    dtype = t.dtype
    if array.size == 0 and array.ndim != 1:
        suffixes.append(f"size={tuple(array.shape)}")
    if dtype not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool):
        suffixes.append(f"dtype={dtype!r}")
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
    return prefix + ", ".join([body, *suffixes]) + ")"


def _tangent(t):
    from ember.autograd.grad_mode import DUAL_LEVEL_OPEN

    if not DUAL_LEVEL_OPEN[0]:
        return None
    from ember.autograd import forward_ad

    return forward_ad.tangent_of(t)

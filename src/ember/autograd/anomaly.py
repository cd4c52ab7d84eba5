"""Anomaly mode: find the backward node that produced NaN, and the forward line that made it."""

from __future__ import annotations

import functools
import sys
import threading
import traceback
import warnings

from ember._dtype import is_floating
from ember.autograd.grad_mode import _state


def is_anomaly_enabled() -> bool:
    """Same as torch.is_anomaly_enabled."""
    return _state.anomaly


class set_detect_anomaly:  # noqa: N801
    """Same as torch.autograd.set_detect_anomaly: takes effect at once; also a context manager."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (_state.anomaly, _state.anomaly_check_nan)
        _state.anomaly, _state.anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.anomaly, _state.anomaly_check_nan = self._prev
        return False


class detect_anomaly:  # noqa: N801
    """Same as torch.autograd.detect_anomaly: a context manager (or decorator) that records each
    op's forward stack and makes backward raise at the first node returning NaN, naming that
    node and showing where its forward was called."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __enter__(self):
        self._prev = (_state.anomaly, _state.anomaly_check_nan)
        _state.anomaly, _state.anomaly_check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc):
        _state.anomaly, _state.anomaly_check_nan = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


class _Running(threading.local):
    node = None  # the node whose backward runs now on this thread, in anomaly mode


_running = _Running()


def record_trace(node) -> None:
    """Remember where the forward of `node` was called (called only in anomaly mode), and,
    when a backward made it (create_graph), which node's backward that was."""
    node._trace = "".join(traceback.format_stack()[:-2])
    if _running.node is not None:
        node._trace_parent = _running.node


def run_checked(node, grads):
    """Run a node's backward; if it raises, or returns NaN (with check_nan), warn where its
    forward was called (and the forwards of the backwards that made it), then raise."""
    outer, _running.node = _running.node, node
    try:
        fn = node._fn
        results = fn.backward(node, *grads) if fn is not None else node._run_backward(grads)
        if _state.anomaly_check_nan:
            outputs = results if isinstance(results, tuple) else (results,)
            for i, g in enumerate(outputs):
                if g is not None and hasattr(g, "_data") and is_floating(g._data.dtype):
                    xp_array = g._data
                    if (xp_array != xp_array).any():  # NaN is the one value unequal to itself
                        raise RuntimeError(
                            f"Function '{node.name()}' returned nan values in its {i}th output."
                        )
        return results
    except Exception:
        _report(node)
        raise
    finally:
        _running.node = outer


def _report(node) -> None:
    """Warn with the forward traceback of the failing node and of each node whose backward
    made it, as PyTorch does; if warnings are errors, print them to stderr instead (the
    backward's own error is the one raised)."""
    messages = [f"Error detected in {node.name()}. {_trace_of(node, 'caused the error')}"]
    parent = node.__dict__.get("_trace_parent")
    while parent is not None:
        messages.append(
            f"\n\nPrevious calculation was induced by {parent.name()}. "
            f"{_trace_of(parent, 'induced the previous calculation')}"
        )
        parent = parent.__dict__.get("_trace_parent")
    for message in messages:
        try:
            warnings.warn(message, UserWarning, stacklevel=3)
        except Exception:  # noqa: BLE001 - a warnings filter set to "error"
            print(message, file=sys.stderr)


def _trace_of(node, what) -> str:
    if node._trace is None:
        return (
            "No forward pass information available. Enable detect anomaly during forward pass "
            "for more information."
        )
    return f"Traceback of forward call that {what}:\n{node._trace}"

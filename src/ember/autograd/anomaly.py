"""Anomaly mode: find the backward node that produced NaN, and the forward line that made it."""

from __future__ import annotations

import functools
import traceback
import warnings

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


def record_trace(node) -> None:
    """Remember where the forward of `node` was called (called only in anomaly mode)."""
    node._trace = "".join(traceback.format_stack()[:-2])


def run_checked(node, grads):
    """Run a node's backward and raise if any gradient it returns holds NaN."""
    fn = node._fn
    results = fn.backward(node, *grads) if fn is not None else node._run_backward(grads)
    outputs = results if isinstance(results, tuple) else (results,)
    if not _state.anomaly_check_nan:  # detect_anomaly(check_nan=False): traces only
        return results
    for i, g in enumerate(outputs):
        if g is not None and hasattr(g, "_data") and g._data.dtype.kind == "f":
            xp_array = g._data
            if (xp_array != xp_array).any():  # NaN is the one value unequal to itself
                trace = node._trace or "(no forward trace: the op ran before anomaly mode)\n"
                warnings.warn(
                    f"Error detected in {node.name()}. Traceback of forward call that caused "
                    f"the error:\n{trace}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                raise RuntimeError(
                    f"Function '{node.name()}' returned nan values in its {i}th output."
                )
    return results

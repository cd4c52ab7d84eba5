"""Grad mode: whether ops record a graph. Thread-local, as in PyTorch."""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True
    anomaly = False


_state = _GradState()


def is_grad_enabled() -> bool:
    """Same as torch.is_grad_enabled."""
    return _state.enabled


class _GradModeContext:
    """A context manager that is also a decorator; subclasses say which mode to enter."""

    _mode = True

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)

        return wrapper

    def _args(self):
        return ()


class no_grad(_GradModeContext):  # noqa: N801
    """Same as torch.no_grad: ops inside record no graph."""

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Same as torch.enable_grad: record a graph again inside no_grad."""

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Same as torch.set_grad_enabled: takes effect at once, and also works as a context."""

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __enter__(self):
        pass

    def _args(self):
        return (self._mode,)


class inference_mode(_GradModeContext):  # noqa: N801
    """Same as torch.inference_mode; in ember it is no_grad (there is no extra to save)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode

    def _args(self):
        return (not self._mode,)

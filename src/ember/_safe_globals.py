"""The user's allow-list of globals a PyTorch checkpoint may name (add_safe_globals)."""

from __future__ import annotations

import contextlib
import threading

_LOCK = threading.Lock()
_ALLOWED: dict[str, object] = {}  # "module.qualname" -> the object it names


def _entry(item):
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], str):
            raise TypeError(
                f"add_safe_globals: a tuple entry must be (object, 'module.name'), got {item!r:.80}"
            )
        return item[1], item[0]
    module, name = getattr(item, "__module__", None), getattr(item, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(name, str)):
        raise TypeError(
            f"add_safe_globals: {item!r:.80} has no __module__/__qualname__; pass "
            "(object, 'module.name') instead"
        )
    return f"{module}.{name}", item


def add_safe_globals(safe_globals) -> None:
    """Same as torch.serialization.add_safe_globals: let checkpoints rebuild these objects.

    Each entry is a class or function, or a pair (object, "module.name") for an object saved
    under another name. ember.load then lets a PyTorch checkpoint call it, construct it and set
    its state; nothing else in the file can run code.
    """
    entries = [_entry(item) for item in safe_globals]  # validate all before changing any
    with _LOCK:
        _ALLOWED.update(entries)


def get_safe_globals() -> list:
    """Same as torch.serialization.get_safe_globals: the objects added so far."""
    with _LOCK:
        return list(_ALLOWED.values())


def clear_safe_globals() -> None:
    """Same as torch.serialization.clear_safe_globals."""
    with _LOCK:
        _ALLOWED.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Same as torch.serialization.safe_globals: add_safe_globals for the `with` block only."""
    entries = dict(_entry(item) for item in safe_globals)
    with _LOCK:
        before = {key: _ALLOWED[key] for key in entries if key in _ALLOWED}
        _ALLOWED.update(entries)
    try:
        yield
    finally:
        with _LOCK:
            for key in entries:
                _ALLOWED.pop(key, None)
            _ALLOWED.update(before)


def allowed(module: str, name: str):
    """The allow-listed object saved as module.name, or None."""
    with _LOCK:
        return _ALLOWED.get(f"{module}.{name}")

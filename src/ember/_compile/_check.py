"""Replay beside eager: run a plan, put the state back, run the step eagerly, compare.

Used on the first replay of every plan (and on the first few with check=True). The eager
run's results and state are the ones kept, so a mismatch never leaves a wrong value behind.
"""

from __future__ import annotations

import numpy as np

from ember._compile._plan import MISS, _get_rng_states, _put_rng_states
from ember._tensor import Tensor


class _Snapshot:
    """The arrays, .grad and version counters of some tensors, to put back later."""

    def __init__(self, tensors):
        self.entries = []
        for t in tensors:
            grad = t._grad
            g = None if grad is None else (grad, grad._data, grad._data.copy())
            self.entries.append((t, t._data, t._data.copy(), g, t._vc[0]))

    def restore(self):
        for t, data, saved, g, vc in self.entries:
            t._data = data
            np.copyto(data, saved)
            t._vc[0] = vc
            if g is None:
                t._grad = None
            else:
                grad, gdata, gsaved = g
                t._grad = grad
                grad._data = gdata
                np.copyto(gdata, gsaved)

    def state(self):
        """Copies of each tensor's values and .grad values now."""
        out = []
        for t, *_ in self.entries:
            grad = t._grad
            out.append((t._data.copy(), None if grad is None else grad._data.copy()))
        return out


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def _copy_output(value):
    if isinstance(value, Tensor):
        return ("tensor", value._data.copy())
    if isinstance(value, np.ndarray):
        return ("array", value.copy())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [_copy_output(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _copy_output(v) for k, v in value.items()})
    return ("value", value)


def _output_difference(a, b, where="output"):
    if a[0] != b[0]:
        return f"{where} is a {b[0]} eagerly but a {a[0]} replayed"
    kind = a[0]
    if kind in ("tensor", "array"):
        return None if _same(a[1], b[1]) else f"{where} differs"
    if kind in ("tuple", "list"):
        if len(a[1]) != len(b[1]):
            return f"{where} has another length"
        for i, (x, y) in enumerate(zip(a[1], b[1])):
            d = _output_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if kind == "dict":
        if a[1].keys() != b[1].keys():
            return f"{where} has other keys"
        for k in a[1]:
            d = _output_difference(a[1][k], b[1][k], f"{where}[{k!r}]")
            if d:
                return d
        return None
    try:
        equal = bool(a[1] == b[1]) or a[1] is b[1]
    except Exception:
        equal = a[1] is b[1]
    return None if equal else f"{where} differs ({a[1]!r} replayed, {b[1]!r} eagerly)"


def replay_beside_eager(cf, plan, w, args, kwargs, arrays):
    """Replay, then run eagerly on the state from before, and compare; keep eager's."""
    seen, tensors = set(), []
    for t in (*w.tensors, *plan.tensors, *w.args):
        if id(t) not in seen:
            seen.add(id(t))
            tensors.append(t)
    snapshot = _Snapshot(tensors)
    rng_states = _get_rng_states(plan.generators)
    out = plan.run(*arrays)
    if out is MISS:
        return MISS
    replayed_out = _copy_output(out)
    replayed = snapshot.state()
    snapshot.restore()
    _put_rng_states(plan.generators, rng_states)
    result = cf.fn(*args, **kwargs)
    eager = snapshot.state()
    problem = _output_difference(replayed_out, _copy_output(result))
    if problem is None:
        for (t, *_), (rd, rg), (ed, eg) in zip(snapshot.entries, replayed, eager):
            if not _same(rd, ed):
                problem = f"a tensor of shape {list(t.shape)} has other values"
            elif not _same(rg, eg):
                problem = f"the .grad of a tensor of shape {list(t.shape)} differs"
            if problem:
                break
    if problem is not None:
        cf.mismatch(
            f"a replay differed from eager execution: {problem} (the step's Python control "
            "flow or state may have changed since it was recorded)"
        )
    return result

"""ember.compile: record a training step once, then replay it straight on arrays.

See `compile` for what is recorded, what is guarded and what is not supported. The parts:
_trace.py (the Traced array), _recorder.py (the slot table and steps it records into),
_session.py (the hooks of one recording and what it changed), _plan.py (from a recording to a
generated replay function), _guard.py (the walk that keys plans), _check.py (replays compared
with eager).
"""

from __future__ import annotations

import functools
import threading
import warnings

from ember._compile import _check, _guard, _plan, _recorder, _session

__all__ = ["compile", "CompiledFunction"]

MAX_RECORDINGS = 8  # more than this many recordings: the step keeps changing; run it eagerly
_EAGER = "eager"  # a plan-table entry for a key whose recording cannot be replayed
_RECORDING = threading.Lock()  # recordings install process-wide hooks: one at a time


class CompiledFunction:
    """What `ember.compile(fn)` returns: call it like fn."""

    def __init__(self, fn, check=False, check_calls=3):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.check = bool(check)
        self.check_calls = int(check_calls) if check else 1
        self.plans = {}  # guard key -> list of Plans (tried in turn), or _EAGER
        self.recordings = 0
        self.eager_reason = None  # set once the whole function runs eagerly
        self.replays = 0
        self.fast = None  # a FastWalk, for a function that reaches only tensors and numbers

    def __call__(self, *args, **kwargs):
        if self.eager_reason is not None or _recorder._ACTIVE is not None:
            # (inside another recording, this function's operations are that one's steps)
            return self.fn(*args, **kwargs)
        w = None
        if self.fast is not None and not kwargs:
            w = self.fast.walk(args)
        if w is None:
            w = _guard.walk(self.fn, args, kwargs)
            self.fast = _guard.FastWalk.of(self.fn, w, args, kwargs)
        if w.opaque or w.foreign:
            self._give_up(
                f"tensors holding {w.foreign} arrays (compile replays NumPy arrays only)"
                if w.foreign
                else "a tensor argument that requires grad (close over it instead)"
            )
            return self.fn(*args, **kwargs)
        plans = self.plans.get(w.key)
        if plans is _EAGER:
            return self.fn(*args, **kwargs)
        if plans is not None:
            arrays = [t._data for t in w.args]
            for plan in plans:
                if plan.checked < self.check_calls:
                    result = _check.replay_beside_eager(self, plan, w, args, kwargs, arrays)
                    if result is not _plan.MISS:
                        plan.checked += 1
                        return result
                else:
                    result = plan.run(*arrays)
                    if result is not _plan.MISS:
                        self.replays += 1
                        return result
        return self._record(w, args, kwargs)

    def _record(self, w, args, kwargs):
        if self.recordings >= MAX_RECORDINGS:
            self._give_up(
                f"it was recorded {MAX_RECORDINGS} times (its guards keep changing: numbers "
                "or tensors it closes over, argument shapes, values it reads back, or Python "
                "state it updates)",
                depth=1,
            )
            return self.fn(*args, **kwargs)
        self.recordings += 1
        with _RECORDING:
            result, recording = _session.record(
                self.fn, args, kwargs, w.args, w.tensors, w.generators, w.arrays
            )
        if recording.rec.poisoned is not None:
            self._give_up(recording.rec.poisoned, depth=1)
            return result
        after = _guard.walk(self.fn, args, kwargs)
        if after.structure != w.structure:
            # the call changed what it closes over (new optimizer state, a counter, ...):
            # its plan would not redo that, so this key runs eagerly
            self.plans[w.key] = _EAGER
            return result
        known = {id(t) for t in w.tensors}
        known.update(id(grad) for _, _, grad, *_ in recording.before.values())
        undiscovered = [
            e.tensor
            for e in recording.session.ext.values()
            if recording.rec.slots[e.slot].kind == "ext" and id(e.tensor) not in known
        ]
        if undiscovered:
            warnings.warn(
                f"ember.compile({_name(self.fn)}): the step used {len(undiscovered)} tensor(s) "
                "compile could not find from its arguments, closure, globals, modules or "
                "optimizers; the plan uses those very tensors, so rebinding them later is not "
                "seen",
                stacklevel=4,
            )
        try:
            plan = _plan.build(recording, recording.session.arg_slots)
        except _plan.Unreplayable as e:
            self._give_up(str(e), depth=1)
            return result
        plans = self.plans.setdefault(w.key, [])
        plans.insert(0, plan)  # the newest first: a guard miss usually means things moved on
        return result

    def _give_up(self, reason, depth=0):
        """Run eagerly from now on; `depth`: calls between __call__ and here, less one."""
        self.eager_reason = reason
        warnings.warn(
            f"ember.compile({_name(self.fn)}) runs the step eagerly from now on: {reason}",
            stacklevel=3 + depth,  # the caller's line
        )

    def mismatch(self, message):
        """A replay differed from eager: raise (check=True) or fall back to eager."""
        if self.check:
            raise RuntimeError(f"ember.compile({_name(self.fn)}): {message}")
        self._give_up(message, depth=2)


def _name(fn):
    return getattr(fn, "__qualname__", None) or repr(fn)


def compile(fn=None, *, check=False):  # noqa: A001
    """Compile a training-step function: record its array operations once, replay them after.

    The first call runs `fn` eagerly while recording every array operation it performs:
    forward, backward (gradient buffers, .grad accumulation) and the optimizer update. Later
    calls whose guards match replay that plan straight on NumPy arrays: no Tensor or graph
    objects, ufunc results written into reused buffers, parameters, .grad and optimizer state
    updated in place. Results are bit-for-bit those of eager execution.

    Like torch.jit.trace, a plan bakes in the Python control flow taken while it was
    recorded. Guards, checked on every call, cover: the shapes, dtypes and devices of tensor
    arguments; grad mode; the tensors the function reaches through its arguments, closure,
    globals, bound self, modules and optimizers (so `p.data = ...` or a new parameter records
    anew) and whether each has a .grad; the numbers and NumPy arrays reached that way (a
    learning rate a scheduler changes, a global constant) and module training flags. A value
    the step reads back to Python before it updates anything in place (`bool(...)`,
    `.item()`, as in a bounds check) is read again on replay, and a different value means a
    guard miss. A miss records a new plan (after 8 recordings the step runs eagerly, with a
    warning). Whatever else the Python code depends on (an iterator, state compile does not
    walk, data read by another library) is baked in. So the first replay of every plan also
    runs eagerly and compares: a difference makes the step run eagerly from then on, with a
    warning; `check=True` compares the first 3 replays of every plan and raises RuntimeError.

    Run eagerly, with a one-time warning: a value read back to Python after an in-place update
    (`loss.item()` at the end of the step: return the tensor instead; Adam's step counter),
    draws from NumPy's random generators (ember's generators are replayed draw for draw, as
    in Dropout), results whose shape depends on the values (`nonzero`, `unique`, boolean masks
    computed from the data), tensor arguments that require grad, tensors on CUDA, a returned
    tensor whose graph is still to be backpropagated, and plain NumPy code that changes arrays
    outside NumPy's dispatch. Replays return new tensors, detached from any graph. Python side
    effects (appending to a list, printing) happen on recording calls only. A compiled
    function is not thread-safe: its replays reuse buffers.

    Usable as `compile(step)` or as a decorator, `@compile` / `@compile(check=True)`.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, check=check)
    return CompiledFunction(fn, check=check)

"""The recorder of one recording: its slot table (the arrays it knows) and its steps.

`_trace.Traced` arrays report to the active Recorder; `_plan` turns its steps into a replay.
"""

from __future__ import annotations

import math
import threading

import numpy as np

Traced = None  # the array class, set by _trace (which imports this module)

_ACTIVE = None  # the recorder of the recording in progress (one at a time)


def active():
    """The recorder that should see an operation now, or None (not recording, another
    thread, inside one of the recorder's own NumPy calls, or a recording already known not
    to be replayable: from then on the call just runs eagerly)."""
    rec = _ACTIVE
    if (
        rec is not None
        and rec.inside == 0
        and rec.poisoned is None
        and threading.get_ident() == rec.thread
    ):
        return rec
    return None


def set_active(rec):
    global _ACTIVE
    _ACTIVE = rec


_plain_view = np.ndarray.view
_asarray = np.asarray  # the real one: recordings patch numpy.asarray


class S:
    """A slot reference inside a recorded step's arguments."""

    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k


class C:
    """A constant (an object the plan keeps by reference) inside a step's arguments."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj


class Step:
    """One recorded call `fn(*args, **kwargs)`.

    `outs` is the result's structure with new slots in it (None for a call that only writes),
    `writes` the owner slots it writes in place, `ins` the slots it reads, `dynamic` whether
    any input depended on the call's data, `out_ok` whether the result may be computed into a
    reused buffer (ufunc methods that take `out=`).
    """

    __slots__ = ("fn", "args", "kwargs", "outs", "writes", "ins", "dynamic", "out_ok", "label")

    def __init__(self, fn, args, kwargs, outs, writes, ins, dynamic, out_ok, label):
        self.fn, self.args, self.kwargs, self.outs = fn, args, kwargs, outs
        self.writes, self.ins, self.dynamic = writes, ins, dynamic
        self.out_ok, self.label = out_ok, label


class Guard:
    """A value the step read back to Python: on a replay, `guard(array)` is True (a miss)
    when conv(array) is not exactly what the recording read (floats compared bit for bit)."""

    __slots__ = ("conv", "expected")

    def __init__(self, conv, expected):
        self.conv, self.expected = conv, expected

    def __call__(self, array):
        return _differs(self.conv(array), self.expected)


def _differs(a, b):
    if a.__class__ is not b.__class__:
        return True
    if a.__class__ is float:
        return a != b or math.copysign(1.0, a) != math.copysign(1.0, b)
    if a.__class__ is complex:
        return _differs(a.real, b.real) or _differs(a.imag, b.imag)
    return a != b


class Slot:
    """An array the plan knows.

    `kind` is 'ext' (an array that existed before the call, found through a tensor), 'arg' (a
    tensor argument's array), 'new' (made by a recorded step) or 'const' (made where the
    recorder could not see, kept by reference and treated as data). `owner` is the slot whose
    memory it lives in (itself for an owner). An owner's `dynamic` says whether its values
    depend on the call's data (external arrays, arguments, random draws, constants) at this
    point of the recording.
    """

    __slots__ = ("kind", "value", "owner", "step", "source", "snapshot", "traced", "dynamic")

    def __init__(self, kind, value, owner, step, source=None):
        self.kind, self.value, self.owner, self.step, self.source = kind, value, owner, step, source
        self.snapshot = None
        self.traced = None
        self.dynamic = kind in ("ext", "arg")


def slots_in(spec, acc):
    """Append the slot indices found in an argument specification to `acc`."""
    cls = spec.__class__
    if cls is S:
        acc.append(spec.k)
    elif cls is tuple or cls is list:
        for v in spec:
            slots_in(v, acc)
    elif cls is dict:
        for v in spec.values():
            slots_in(v, acc)
    return acc


class Recorder:
    """The slot table and step list of one recording."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.inside = 0
        self.slots = []
        self.steps = []
        self.by_id = {}  # id(plain array) -> slot index
        self.poisoned = None  # why this recording cannot be replayed (None: it can)

    def poison(self, reason):
        if self.poisoned is None:
            self.poisoned = reason

    # --- slots ---
    def add_slot(self, kind, plain, owner=None, step=None, source=None):
        k = len(self.slots)
        slot = Slot(kind, plain, k if owner is None else owner, step, source)
        self.slots.append(slot)
        self.by_id[id(plain)] = k
        traced = _plain_view(plain, Traced)
        traced._rec, traced._slot = self, k
        slot.traced = traced
        return k

    def known(self, plain):
        """The slot of this very plain array object, or None."""
        k = self.by_id.get(id(plain))
        if k is not None and self.slots[k].value is plain:
            return k
        return None

    def owner_of_plain(self, plain):
        """The owner slot whose memory `plain` lies in, following .base links; or None."""
        obj, depth = plain, 0
        while obj is not None and depth < 32:
            k = self.known(obj)
            if k is not None:
                return self.slots[k].owner
            obj = getattr(obj, "base", None)
            depth += 1
        return None

    def is_dynamic(self, k):
        return self.slots[self.slots[k].owner].dynamic

    def const(self, plain):
        """A plain array met as an operand: a constant kept by reference. A snapshot lets the
        end of the recording check that nothing changed it behind the recorder's back."""
        k = self.known(plain)
        if k is not None:
            return k
        if self.owner_of_plain(plain) is not None:
            self.poison("an array view made outside NumPy's dispatch (it cannot be followed)")
        k = self.add_slot("const", plain)
        slot = self.slots[k]
        slot.snapshot = plain.copy()
        slot.dynamic = True  # it may be a caller's array that changes between calls
        return k

    # --- converting operands ---
    def ref(self, x):
        """(spec, plain) for an operand: arrays become slot references, recursively."""
        cls = x.__class__
        if cls is Traced:
            if x._rec is self and x._slot >= 0:
                return S(x._slot), self.slots[x._slot].value
            if x._rec is self:
                self.poison("an array made by an ndarray method compile does not follow")
            plain = _plain_view(x, np.ndarray)
            return S(self.const(plain)), plain
        if cls is np.ndarray:
            return S(self.const(x)), x
        if cls in (int, float, bool, str, complex) or x is None or x is Ellipsis:
            return x, x
        if cls is tuple or cls is list:
            pairs = [self.ref(v) for v in x]
            return cls(p[0] for p in pairs), cls(p[1] for p in pairs)
        if cls is dict:
            pairs = {key: self.ref(v) for key, v in x.items()}
            return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
        if cls is slice:
            if any(isinstance(p, np.ndarray) for p in (x.start, x.stop, x.step)):
                self.poison("a slice bound that is an array")
            return x, x
        if isinstance(x, np.ndarray):  # another ndarray subclass: not a CPU NumPy array
            self.poison(f"an array of type {cls.__name__}")
            return C(x), x
        if _is_tensor(x):
            self.poison("a Tensor passed straight to a NumPy function")
        return C(x), x

    def refs(self, args, kwargs):
        specs, plains = [], []
        for a in args:
            s, p = self.ref(a)
            specs.append(s)
            plains.append(p)
        kw_specs, kw_plains = {}, {}
        for key, v in kwargs.items():
            kw_specs[key], kw_plains[key] = self.ref(v)
        return tuple(specs), plains, kw_specs, kw_plains

    def call(self, fn, args, kwargs):
        """fn on plain operands, with the recorder looking away (NumPy's own inner calls)."""
        self.inside += 1
        try:
            return fn(*args, **kwargs)
        finally:
            self.inside -= 1

    # --- recording ---
    def step(self, fn, args, kwargs, result, writes=(), out_ok=False, label=None, **how):
        """Append a step that produced the plain `result` and return the result with its
        arrays Traced. `args`/`kwargs` are specs; `writes` slot indices written in place.
        `how`: shape_only=True (the result depends on the inputs' shapes only) or
        random=True (a random draw: its values change on every call)."""
        ins = slots_in(args, [])
        slots_in({k: v for k, v in kwargs.items() if k != "out"}, ins)
        if how.get("random"):
            dynamic = True
        elif how.get("shape_only"):
            dynamic = False
        else:
            dynamic = any(self.is_dynamic(k) for k in ins)
        owners = tuple(dict.fromkeys(self.slots[k].owner for k in writes))
        if any(self.slots[o].kind == "const" for o in owners):
            self.poison("a write into an array compile did not see being made")
        if dynamic:
            for o in owners:
                self.slots[o].dynamic = True
        index = len(self.steps)
        if writes:
            self.steps.append(Step(fn, args, kwargs, None, owners, ins, dynamic, False, label))
            return self._known_result(result)
        n_slots = len(self.slots)
        outs, traced = self._wrap(result, index, dynamic)
        if len(self.slots) > n_slots:  # (a call that hands back its input changes nothing)
            self.steps.append(Step(fn, args, kwargs, outs, (), ins, dynamic, out_ok, label))
        return traced

    def _known_result(self, result):
        """What a writing call returns: None, or one of its (known) operands."""
        if result is None:
            return None
        if isinstance(result, tuple):
            return tuple(self._known_result(r) for r in result)
        k = self.known(result) if result.__class__ is np.ndarray else None
        if k is None:
            self.poison("an in-place NumPy call that also returned a new array")
            return result
        return self.slots[k].traced

    def _wrap(self, result, index, dynamic):
        cls = result.__class__
        if cls is np.ndarray:
            k = self.known(result)
            if k is not None:
                return S(k), self.slots[k].traced  # the call handed back one of its inputs
            owner = self.owner_of_plain(result)
            k = self.add_slot("new", result, owner, index)
            if owner is None:
                self.slots[k].dynamic = dynamic
            return S(k), self.slots[k].traced
        if isinstance(result, np.generic):  # NumPy's 0-d results: keep them arrays
            k = self.add_slot("new", _asarray(result), None, index, source="scalar")
            self.slots[k].dynamic = dynamic
            return S(k), self.slots[k].traced
        if isinstance(result, (tuple, list)):  # (a list result unpacks like a tuple)
            pairs = [self._wrap(r, index, dynamic) for r in result]
            values = [p[1] for p in pairs]
            if hasattr(result, "_fields"):
                value = type(result)(*values)
            else:
                value = values if cls is list else tuple(values)
            return tuple(p[0] for p in pairs), value
        if result is None:
            return None, None
        if isinstance(result, np.ndarray):
            self.poison(f"a result of type {cls.__name__}")
            return None, result
        if dynamic:
            self.poison("a NumPy call whose result is a Python value computed from the data")
        return C(result), result


def _is_tensor(x):
    from ember._tensor import Tensor

    return isinstance(x, Tensor)

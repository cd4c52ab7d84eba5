"""A recorded call turned into a plan: one generated Python function of NumPy calls.

Which recorded steps run again on a replay, and into which arrays:
- views of arrays that stay the same objects from call to call (external arrays, reused
  buffers, constants) are made once, when the plan is built;
- arrays that never depend on the call's data (index ranges, masks of constants, the ones of
  a root gradient) keep the values they got at recording, and their steps are dropped;
- ufunc results (and reductions) are computed into the buffers the recording allocated
  (`out=`), so a replay allocates almost nothing; arrays that outlive the call (a new .grad,
  a returned loss) get fresh buffers on every replay, since the caller may keep them;
- everything else runs as recorded.
A replay first checks that the external arrays are still the ones recorded (a tensor given
new data, a new .grad), and returns MISS before changing anything if not.
"""

from __future__ import annotations

import math

import numpy as np

from ember._compile._recorder import C, S
from ember._tensor import Tensor
from ember.ops._select import select

MISS = object()  # what a replay returns when its guards fail


class Unreplayable(Exception):
    """A recording that cannot become a plan (the message says why)."""


class Plan:
    """A replayable recording: `run(arg_arrays)` returns the outputs, or MISS."""

    def __init__(self, run, source, n_steps, n_live, checks, tensors, generators=()):
        self.run = run
        self.source = source  # the generated code, for debugging
        self.n_steps, self.n_live = n_steps, n_live
        self.checks = checks  # (tensor, attribute, object) the replay expects
        self.tensors = tensors  # every tensor the plan reads or writes (for check=True)
        self.checked = 0  # replays compared with eager so far
        self.generators = generators  # the ember Generators it draws from


def _owner_events(steps, slots):
    """For each owner slot: the index of its last write and of its first read (not counting
    the read of a target by the step that writes it)."""
    last_write, first_read = {}, {}
    for i, step in enumerate(steps):
        for o in step.writes:
            last_write[o] = i
        for k in step.ins:
            o = slots[k].owner
            if o in step.writes and step.outs is None:
                continue
            first_read.setdefault(o, i)
    return last_write, first_read


class _Namer:
    """Names for the generated code: fixed objects go in the closure, the rest are locals."""

    def __init__(self):
        self.env = {}
        self.ids = {}

    def const(self, obj, hint="c"):
        key = id(obj)
        name = self.ids.get(key)
        if name is None:
            name = f"{hint}{len(self.env)}"
            self.ids[key] = name
            self.env[name] = obj
        return name


_LITERALS = (bool, int, str, type(None))
_COPIES = (np.ndarray.astype, np.ndarray.copy)


def _unspec(spec):
    cls = spec.__class__
    if cls is C:
        return spec.obj
    if cls is tuple or cls is list:
        return cls(_unspec(v) for v in spec)
    if cls is dict:
        return {k: _unspec(v) for k, v in spec.items()}
    return spec


def _has_slot(spec):
    cls = spec.__class__
    if cls is S:
        return True
    if cls is tuple or cls is list:
        return any(_has_slot(v) for v in spec)
    if cls is dict:
        return any(_has_slot(v) for v in spec.values())
    return False


class _Builder:
    def __init__(self, recording, arg_slots):
        self.r = recording
        self.rec = recording.rec
        self.slots = self.rec.slots
        self.steps = self.rec.steps
        self.arg_slots = arg_slots
        self.names = _Namer()
        self.slot_expr = {}  # slot index -> expression in the generated code
        self.lines = []
        self.locals = set()
        self.saves_rng = None  # the generators whose states a guard miss restores

    # --- expressions ---
    def expr(self, spec):
        cls = spec.__class__
        if cls is S:
            return self.slot_expr[spec.k]
        if not _has_slot(spec):
            value = _unspec(spec)
            if value.__class__ in _LITERALS or value is Ellipsis:
                return repr(value)
            if value.__class__ is float and math.isfinite(value):
                return repr(value)
            return self.names.const(value)
        if cls is tuple:
            return "(" + "".join(self.expr(v) + ", " for v in spec) + ")"
        if cls is list:
            return "[" + ", ".join(self.expr(v) for v in spec) + "]"
        if cls is dict:
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in spec.items()) + "}"
        raise TypeError(f"cannot render {spec!r}")

    def call(self, step, extra=""):
        fn = step.fn
        if fn is np.where and len(step.args) == 3 and not step.kwargs:
            # a recording sees where() where the eager op ran its bit-mask form on a plain
            # array (ops/_select.py): the replay takes that form too (bit-identical, no
            # branch per element)
            fn = select
        fn = self.names.const(fn, "f")
        parts = [self.expr(a) for a in step.args]
        parts += [f"{k}={self.expr(v)}" for k, v in step.kwargs.items()]
        if extra:
            parts.append(extra)
        return f"{fn}({', '.join(parts)})"

    def fix(self, k):
        """Slot k keeps its recorded array on every replay."""
        self.slot_expr[k] = self.names.const(self.slots[k].value, "b")

    def local(self, k):
        """Slot k is a new array on every replay."""
        self.slot_expr[k] = f"v{k}"
        self.locals.add(k)

    # --- the plan ---
    def build(self):
        slots, steps = self.slots, self.steps
        last_write, first_read = _owner_events(steps, slots)
        escaping = self.r.escaping
        fixed = set()
        for k, slot in enumerate(slots):
            if slot.kind in ("ext", "const"):
                self.fix(k)
                fixed.add(k)
        for i, k in enumerate(self.arg_slots):
            self.slot_expr[k] = f"a{i}"
            self.locals.add(k)
        shared = {o for step in steps if len(step.writes) > 1 for o in step.writes}
        frozen = {
            o
            for o, s in enumerate(slots)
            if s.owner == o
            and s.kind == "new"
            and not s.dynamic
            and o not in escaping
            and o not in shared
            and last_write.get(o, -1) < first_read.get(o, math.inf)
        }
        live = 0
        written = False  # a replay cannot take back a write to an external array
        generators = []  # ember Generators drawn from so far: a miss puts their state back
        for step in steps:
            out_slots = slots_of(step.outs)
            if step.label == "guard":
                if written:
                    raise Unreplayable(
                        "a value read back to Python after the step updated a tensor in place "
                        "(move the read, e.g. loss.item(), out of the step: return the tensor "
                        "instead)"
                    )
                live += 1
                self.lines.append(f"if {self.call(step)}:")
                if generators:
                    self.saves_rng = generators
                    self.lines.append("    _put_rng_states(_GENERATORS, _rng_states)")
                self.lines.append("    return _MISS")
                continue
            if _is_draw(step) and step.fn.generator not in generators:
                generators.append(step.fn.generator)
            if any(slots[o].kind in ("ext", "arg") for o in step.writes):
                written = True
            if step.label == "flags":  # a flag set once on an array that stays is set for good
                if step.ins[0] not in fixed:
                    live += 1
                    self.lines.append(self.call(step))
                continue
            if step.outs is None:
                if all(o in frozen for o in step.writes):
                    continue  # writes into an array whose final value is kept
                live += 1
                self.lines.append(self.call(step))
                continue
            if out_slots and self._skippable(out_slots, fixed, frozen):
                for k in out_slots:
                    self.fix(k)
                    fixed.add(k)
                continue
            live += 1
            owners_new = all(slots[k].owner == k for k in out_slots)
            if (
                step.fn in _COPIES
                and owners_new
                and out_slots[0] not in escaping
                and step.args[0].__class__ is S
            ):
                # astype / copy into the recorded buffer: the same cast, no allocation
                (k,) = out_slots
                self.fix(k)
                fixed.add(k)
                src = self.expr(step.args[0])
                self.lines.append(f"_copyto({self.slot_expr[k]}, {src}, casting='unsafe')")
                continue
            if step.out_ok and out_slots and owners_new and _flat(step.outs):
                outs = []
                for k in out_slots:
                    if k in escaping:
                        proto = self.names.const(slots[k].value, "p")
                        self.lines.append(f"v{k} = _empty_like({proto})")
                        self.local(k)
                    else:
                        self.fix(k)
                        fixed.add(k)
                    outs.append(self.slot_expr[k])
                out = outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ")"
                self.lines.append(self.call(step, f"out={out}"))
                continue
            # a result that is one of the call's own inputs (broadcast_arrays returns arrays
            # that already have the shape) keeps its name: rebinding it would make it local
            bound = {k for k in out_slots if k in self.slot_expr}
            for k in out_slots:
                if k not in bound:
                    self.local(k)
            self.lines.append(f"{self.target(step.outs, bound)} = {self.call(step)}")
        return live

    def _skippable(self, out_slots, fixed, frozen):
        """A step that needs no rerun: each result is a frozen array (its value never depends
        on the call's data) or a view into memory that stays put from call to call."""
        for k in out_slots:
            o = self.slots[k].owner
            if not (o in frozen if o == k else o in fixed):
                return False
        return True

    def target(self, spec, bound=()):
        if spec.__class__ is S:
            return "_" if spec.k in bound else f"v{spec.k}"
        if isinstance(spec, tuple):
            if not spec:
                return "_"
            return "(" + "".join(self.target(s, bound) + ", " for s in spec) + ")"
        return "_"


def _is_draw(step):
    return (step.label or "").startswith("random.")


def slots_of(spec):
    out = []

    def walk(s):
        if s.__class__ is S:
            out.append(s.k)
        elif isinstance(s, tuple):
            for v in s:
                walk(v)

    if spec is not None:
        walk(spec)
    return out


def _flat(spec):
    return spec.__class__ is S or (isinstance(spec, tuple) and all(s.__class__ is S for s in spec))


def build(recording, arg_slots):
    """Turn a Recording into a Plan (the recording must not be poisoned)."""
    b = _Builder(recording, arg_slots)
    live = b.build()
    names = b.names
    rec, session = recording.rec, recording.session
    # guards: every external array must still be where the recording found it
    checks = []
    guard = []
    tracked = {id(t) for t in recording.tracked}
    grads = {}  # id(a .grad before the call) -> the tensor holding it
    for t, _data, grad, *_ in recording.before.values():
        if grad is not None:
            grads[id(grad)] = t
    for e in session.ext.values():
        slot = rec.slots[e.slot]
        if slot.kind != "ext":
            continue
        t = names.const(e.tensor, "t")
        guard.append(f"{t}._data is not {b.slot_expr[e.slot]}")
        checks.append((e.tensor, "_data", slot.value))
        holder = grads.get(id(e.tensor))
        if holder is not None:  # a .grad: the parameter must still hold this very tensor
            guard.append(f"{names.const(holder, 't')}._grad is not {t}")
            checks.append((holder, "_grad", e.tensor))
        elif id(e.tensor) not in tracked and holder is None:
            # found only while recording: the flags the walk would have keyed on
            guard.append(f"{t}._requires_grad is not {e.requires_grad}")
            guard.append(f"({t}._grad is None) is not {e.grad is None}")
    effects = []
    for kind, t, value in recording.effects:
        tn = names.const(t, "t")
        if kind == "bump":
            effects.append(f"{tn}._vc[0] += {value}")
        elif kind == "grad":
            effects.append(f"{tn}._grad = {_tensor_expr(b, value, recording)}")
        else:
            effects.append(f"{tn}._data = {_array_expr(b, value, recording)}")
    output = _output_expr(b, recording.output, recording)
    n_args = len(arg_slots)
    params = ", ".join(f"a{i}" for i in range(n_args))
    body = []
    if guard:
        body.append("if " + " or ".join(guard) + ":")
        body.append("    return _MISS")
    if b.saves_rng:
        names.env["_GENERATORS"] = tuple(b.saves_rng)
        body.append("_rng_states = _get_rng_states(_GENERATORS)")
    body += b.lines + effects
    body.append(f"return {output}")
    names.env.update(
        _MISS=MISS,
        _T=Tensor._make,
        _empty_like=np.empty_like,
        _copyto=np.copyto,
        _get_rng_states=_get_rng_states,
        _put_rng_states=_put_rng_states,
    )
    inner = "\n".join("        " + line for line in body)
    unpack = "\n".join(f"    {n} = _N[{n!r}]" for n in names.env)
    source = f"def _make(_N):\n{unpack}\n    def _replay({params}):\n{inner}\n    return _replay\n"
    namespace = {}
    exec(compile(source, "<ember.compile plan>", "exec"), namespace)  # noqa: S102
    run = namespace["_make"](names.env)
    tensors = list(
        {
            id(e.tensor): e.tensor for e in session.ext.values() if rec.slots[e.slot].kind != "arg"
        }.values()
    )
    generators = []
    for step in b.steps:
        if _is_draw(step) and step.fn.generator not in generators:
            generators.append(step.fn.generator)
    return Plan(run, source, len(b.steps), live, checks, tensors, tuple(generators))


def _get_rng_states(generators):
    return [g._rng.bit_generator.state for g in generators]


def _put_rng_states(generators, states):
    for g, state in zip(generators, states):
        g._rng.bit_generator.state = state


def _array_expr(b, spec, recording):
    """An array that outlives the call: a copy when its buffer is reused by every replay."""
    k = spec.k
    expr = b.slot_expr[k]
    slot = b.slots[k]
    if slot.kind in ("ext", "arg") or k in b.locals:  # not a buffer reused by every replay
        return expr
    return f"{expr}.copy(order='K')"


def _tensor_expr(b, value, recording):
    if value is None:
        return "None"
    if value.__class__ is C:
        return b.names.const(value.obj, "t")
    return f"_T({_array_expr(b, value, recording)})"


def _output_expr(b, spec, recording):
    if spec.__class__ is C:
        value = spec.obj
        if value.__class__ in _LITERALS:
            return repr(value)
        return b.names.const(value, "o")
    kind, inner = spec
    if kind == "t":
        return f"_T({_array_expr(b, inner, recording)})"
    if kind == "a":
        return _array_expr(b, inner, recording)
    if kind == "tuple":
        return "(" + "".join(_output_expr(b, s, recording) + ", " for s in inner) + ")"
    if kind == "list":
        return "[" + ", ".join(_output_expr(b, s, recording) for s in inner) + "]"
    return (
        "{" + ", ".join(f"{k!r}: {_output_expr(b, s, recording)}" for k, s in inner.items()) + "}"
    )

"""One recording call: the hooks that hand the step Traced arrays, and what the call changed.

For the length of the call, through ember's documented seams (nothing of ember's is patched):
- `ember._tensor.observe_arrays`: the first time a tensor that existed before the call has its
  array read, the array is registered as an external slot and swapped for its Traced view; an
  array assigned to a tensor (a new tensor, or `p.data = ...`) is swapped the same way. So
  every array reached through a tensor is seen, whether or not compile found the tensor first.
- `ember._random.intercept_draws`: `rng()` hands out a recording proxy, so random draws become
  steps that draw again from the same generator on every replay: replays give eager's numbers.
- `ember.autograd.engine.observe_nodes`: which graph nodes backward ran through.
- NumPy's array creators and converters (`numpy.zeros`, `numpy.asarray`, `as_strided`, ...)
  are replaced on the numpy module itself, since they do not dispatch on their arguments.
Afterwards every tensor gets its plain array back.
"""

from __future__ import annotations

import contextlib
import gc
import weakref

import numpy as np

from ember import _random
from ember._compile import _recorder
from ember._compile._recorder import C, S, active
from ember._compile._trace import Traced
from ember._tensor import Tensor, observe_arrays
from ember._tensor import raw_array as _get_data
from ember._tensor import set_raw_array as _set_data
from ember.autograd import engine


def _read_data(t, array):
    """What `t._data` gives while a recording runs (the observer of observe_arrays)."""
    rec = active()
    if rec is None or (array.__class__ is Traced and array._rec is rec and array._slot >= 0):
        return array
    return rec.session.adopt(t, array)


def _write_data(t, value):
    """What `t._data = value` stores while a recording runs."""
    rec = active()
    if rec is not None:
        value = rec.session.assign(t, value)
    return value


class Ext:
    """A tensor that existed before the call and whose array the step used, with its state
    when first met."""

    __slots__ = ("tensor", "array", "slot", "grad", "vc", "requires_grad", "grad_fn")

    def __init__(self, t, array, slot):
        self.tensor, self.array, self.slot = t, array, slot
        self.grad, self.vc = t._grad, t._vc[0]
        self.requires_grad, self.grad_fn = t._requires_grad, t.grad_fn


class Session:
    """The tensor side of one recording (the array side is the Recorder)."""

    def __init__(self, rec):
        self.rec = rec
        rec.session = self
        self.ext = {}  # id(tensor) -> Ext
        self.new = []  # weak references to the tensors made during the call
        self.new_ids = set()
        self.arg_slots = []  # slot of each tensor argument, in order
        self.backward_ran = set()  # ids of the graph nodes backward ran through

    def add_arg(self, t):
        array = _get_data(t)
        if array.__class__ is Traced and array._rec is self.rec:  # the same tensor again
            self.arg_slots.append(array._slot)
            return
        k = self.rec.known(array)
        if k is None:
            if array.__class__ is not np.ndarray:
                self.rec.poison(f"a tensor argument holding {type(array).__name__}")
                self.arg_slots.append(None)
                return
            k = self.rec.add_slot("arg", array)
        self.arg_slots.append(k)
        self.ext.setdefault(id(t), Ext(t, array, k))
        _set_data(t, self.rec.slots[k].traced)

    def adopt(self, t, array):
        """A pre-existing tensor's array, met for the first time: make it an external slot."""
        rec = self.rec
        if id(t) in self.ext or id(t) in self.new_ids:  # a leftover Traced array
            plain = np.ndarray.view(array, np.ndarray)
            return rec.slots[rec.const(plain)].traced
        plain = array
        if array.__class__ is Traced:  # left over from another recording
            plain = np.ndarray.view(array, np.ndarray)
        elif array.__class__ is not np.ndarray:
            rec.poison(f"a tensor holding {type(array).__name__} (compile runs on NumPy arrays)")
            return array
        k = rec.known(plain)
        if k is not None and rec.slots[k].kind == "arg":
            rec.poison("a tensor argument's array also held by a tensor the step reaches")
        if k is None:
            k = rec.add_slot("ext", plain, source=t)
        self.ext[id(t)] = Ext(t, array, k)
        traced = rec.slots[k].traced
        _set_data(t, traced)
        return traced

    def assign(self, t, value):
        """An array assigned to a tensor's `_data`: keep the tensor's arrays Traced."""
        rec = self.rec
        try:
            _get_data(t)
        except AttributeError:  # a tensor being made
            self.new.append(weakref.ref(t))
            self.new_ids.add(id(t))
        else:
            if id(t) not in self.ext and id(t) not in self.new_ids:
                self.adopt(t, _get_data(t))  # `p.data = ...` on a pre-existing tensor
        if value.__class__ is Traced and value._rec is rec and value._slot >= 0:
            return value
        if value.__class__ is np.ndarray:
            return rec.slots[rec.const(value)].traced
        if value.__class__ is Traced:
            plain = np.ndarray.view(value, np.ndarray)
            return rec.slots[rec.const(plain)].traced
        rec.poison(f"a tensor given a {type(value).__name__} (compile runs on NumPy arrays)")
        return value

    def alive_new_tensors(self):
        return [t for t in (r() for r in self.new) if t is not None]

    def restore(self):
        """Give every tensor seen its plain array back."""
        slots = self.rec.slots
        for e in self.ext.values():
            _plain_back(e.tensor, slots)
        for t in self.alive_new_tensors():
            _plain_back(t, slots)


def _plain_back(t, slots):
    array = _get_data(t)
    if array.__class__ is Traced:
        k = array._slot
        _set_data(t, slots[k].value if k >= 0 else np.ndarray.view(array, np.ndarray))


# --- NumPy functions that do not dispatch on their arguments ---
# ember's ops call these on the array module (`xp.zeros(...)`); they take no array argument
# (or take a Tensor, a list, ...), so neither __array_function__ nor __array_ufunc__ lets a
# Traced array see them. They are NumPy's names, not ember's: replacing them on the numpy
# module for the length of a recording is the one patch compile still makes.
_CREATORS = ("zeros", "ones", "empty", "full", "arange", "eye", "identity", "tri", "linspace")
_CONVERTERS = ("asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "array")


def _creator(name, real):
    def creator(*args, **kwargs):
        rec = active()
        if rec is None:
            return real(*args, **kwargs)
        specs, plains, kw, kw_plains = rec.refs(args, kwargs)
        result = rec.call(real, plains, kw_plains)
        if result.__class__ is not np.ndarray:
            return result
        return rec.step(real, specs, kw, result, label=name)

    creator.__name__ = name
    return creator


def _converter(name, real):
    def converter(a, *args, **kwargs):
        rec = active()
        if rec is None:
            return real(a, *args, **kwargs)
        if isinstance(a, Tensor):
            a = a._data
        specs, plains, kw, kw_plains = rec.refs((a, *args), kwargs)
        result = rec.call(real, plains, kw_plains)
        if result.__class__ is not np.ndarray:
            return result
        return rec.step(real, specs, kw, result, label=name)

    converter.__name__ = name
    return converter


@contextlib.contextmanager
def _numpy_recording():
    """NumPy's creators and converters record their calls while the block runs (see above)."""
    saved = [(n, getattr(np, n)) for n in (*_CREATORS, *_CONVERTERS)]
    as_strided = np.lib.stride_tricks.as_strided
    for name, real in saved:
        setattr(np, name, (_creator if name in _CREATORS else _converter)(name, real))
    np.lib.stride_tricks.as_strided = _converter("as_strided", as_strided)
    try:
        yield
    finally:
        np.lib.stride_tricks.as_strided = as_strided
        for name, real in saved:
            setattr(np, name, real)


class _Draw:
    """A random draw replayed from the same ember Generator (whatever NumPy generator it
    holds at the time, since manual_seed replaces it)."""

    def __init__(self, generator, name):
        self.generator, self.name = generator, name

    def __call__(self, *args, **kwargs):
        return getattr(self.generator._rng, self.name)(*args, **kwargs)


class _RngProxy:
    """What `ember._random.rng()` returns while recording (the hook of intercept_draws):
    draws become steps."""

    def __init__(self, generator):
        self._generator = generator

    def __getattr__(self, name):
        real = getattr(self._generator._rng, name)
        if not callable(real):
            return real
        draw = _Draw(self._generator, name)

        def method(*args, **kwargs):
            rec = active()
            if rec is None:
                return real(*args, **kwargs)
            specs, plains, kw, kw_plains = rec.refs(args, kwargs)
            result = rec.call(real, plains, kw_plains)
            return rec.step(draw, specs, kw, result, label=f"random.{name}", random=True)

        return method


def _node_ran(node):
    """The observer of engine.observe_nodes: notes the nodes backward runs while recording."""
    rec = active()
    if rec is not None:
        rec.session.backward_ran.add(id(node))


class Hooks:
    """Installs and removes everything above."""

    def install(self):
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(_numpy_recording())
            stack.enter_context(_random.intercept_draws(_RngProxy))
            stack.enter_context(engine.observe_nodes(_node_ran))
            stack.enter_context(observe_arrays(_read_data, _write_data))
        except BaseException:
            stack.close()
            raise
        self.stack = stack

    def remove(self):
        self.stack.close()


def _numpy_rng_states(generators):
    """Something that changes when NumPy's global generator or one of `generators` draws."""
    states = [np.random.get_state(legacy=False)]
    for g in generators:
        if isinstance(g, np.random.Generator):
            states.append(g.bit_generator.state)
        else:
            states.append(g.get_state(legacy=False))
    return _comparable(states)


def _comparable(value):
    if isinstance(value, np.ndarray):
        return value.tobytes()
    if isinstance(value, dict):
        return tuple((k, _comparable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value


class Recording:
    """What one recorded call did: the Recorder's steps, the tensors involved, the Python
    effects on them (new .grad, reassigned .data, version bumps), the outputs, and which
    arrays outlive the call."""

    def __init__(self, rec, session, tracked):
        self.rec, self.session = rec, session
        self.tracked = tracked  # tensors found before the call (compile's walk)
        self.effects = []  # (kind, tensor, value): 'grad' / 'data' / 'bump'
        self.output = None
        self.escaping = set()  # owner slots that outlive the call


def record(fn, args, kwargs, arg_tensors, tracked, generators=(), arrays=()):
    """Run fn(*args, **kwargs) eagerly while recording it; return (result, Recording)."""
    rec = _recorder.Recorder()
    session = Session(rec)
    before = {
        id(t): (t, _get_data(t), t._grad, t._vc[0], t._requires_grad, t.grad_fn) for t in tracked
    }
    rng_before = _numpy_rng_states(generators)
    arrays_before = [(a, a.copy()) for a in arrays]
    hooks = Hooks()
    hooks.install()
    _recorder.set_active(rec)
    try:
        for t in arg_tensors:
            session.add_arg(t)
        result = fn(*args, **kwargs)
    except BaseException:
        _recorder.set_active(None)
        hooks.remove()
        session.restore()
        raise
    _recorder.set_active(None)
    hooks.remove()
    recording = Recording(rec, session, tracked)
    recording.before = before
    try:
        if _numpy_rng_states(generators) != rng_before:
            rec.poison("a draw from a NumPy random generator (ember's own are replayed)")
        recording.output = _output_spec(rec, session, result, recording)
        _effects(rec, session, before, recording)
        # young generations only: a full collection costs ~1 s in a big process, and a dead
        # object it would have found only makes a buffer count as escaping (slower, not wrong)
        gc.collect(1)
        for t in session.alive_new_tensors():
            array = _get_data(t)
            if array.__class__ is Traced and array._rec is rec and array._slot >= 0:
                recording.escaping.add(rec.slots[array._slot].owner)
        _check_constants(rec)
        _check_arrays(rec, arrays_before)
    finally:
        session.restore()
    return result, recording


def _effects(rec, session, before, recording):
    """Compare the tensors' Python state before and after the call."""
    states = dict(before)
    for key, e in session.ext.items():
        if key not in states:
            states[key] = (e.tensor, e.array, e.grad, e.vc, e.requires_grad, e.grad_fn)
    args = {key for key, e in session.ext.items() if rec.slots[e.slot].kind == "arg"}
    for t, data0, grad0, vc0, rg0, fn0 in states.values():
        if t._requires_grad != rg0 or t.grad_fn is not fn0:
            rec.poison("a tensor's requires_grad or grad_fn changed")
        if id(t) in args:  # a replay gets other argument tensors: only their arrays count
            if (
                _get_data(t) is not rec.slots[session.ext[id(t)].slot].traced
                or t._grad is not grad0
            ):
                rec.poison("the step gives a tensor argument new .data or .grad")
            continue
        data = _get_data(t)
        e = session.ext.get(id(t))
        if data is not data0 and not (e is not None and data is rec.slots[e.slot].traced):
            recording.effects.append(("data", t, _array_spec(rec, data, recording)))
        grad = t._grad
        if grad is not grad0:
            if grad is None:
                recording.effects.append(("grad", t, None))
            elif id(grad) in session.new_ids:
                if grad._requires_grad or grad.grad_fn is not None:
                    rec.poison("a .grad that records a graph (create_graph=True)")
                recording.effects.append(("grad", t, _array_spec(rec, _get_data(grad), recording)))
            else:
                recording.effects.append(("grad", t, C(grad)))
        if t._vc[0] != vc0:
            recording.effects.append(("bump", t, t._vc[0] - vc0))


def _array_spec(rec, array, recording):
    """A slot reference for an array that something outside the call now holds."""
    if array.__class__ is Traced and array._rec is rec and array._slot >= 0:
        k = array._slot
    elif array.__class__ is np.ndarray:
        k = rec.known(array)
        if k is None:
            rec.poison("a tensor given an array compile did not see being made")
            return None
    else:
        rec.poison(f"a tensor given a {type(array).__name__}")
        return None
    recording.escaping.add(rec.slots[k].owner)
    return S(k)


def _output_spec(rec, session, value, recording):
    """The returned value with arrays as slot references ('t' marks a new tensor)."""
    cls = value.__class__
    if isinstance(value, Tensor):
        if id(value) in session.new_ids:
            fn = value.grad_fn
            if value._requires_grad and (fn is None or id(fn) not in session.backward_ran):
                # replays return detached tensors: a caller's backward would miss this part
                rec.poison("a returned tensor whose autograd graph outlives the step")
            return ("t", _array_spec(rec, _get_data(value), recording))
        return C(value)  # a tensor that existed before the call: the same object
    if cls is Traced or cls is np.ndarray:
        return ("a", _array_spec(rec, value, recording))
    if cls is tuple or cls is list:
        return (cls.__name__, [_output_spec(rec, session, v, recording) for v in value])
    if cls is dict:
        return ("d", {k: _output_spec(rec, session, v, recording) for k, v in value.items()})
    return C(value)


def _check_arrays(rec, before):
    """A NumPy array the step reaches may change only through recorded steps."""
    written = {o for step in rec.steps for o in step.writes}
    for array, saved in before:
        k = rec.known(array)
        if k is not None and rec.slots[k].owner in written:
            continue
        if array.tobytes() != saved.tobytes():
            rec.poison("a NumPy array the step reaches was changed by code compile cannot see")


def _check_constants(rec):
    """A constant kept by reference must not have changed behind the recorder's back."""
    written = {o for step in rec.steps for o in step.writes}
    for k, slot in enumerate(rec.slots):
        if slot.kind == "const" and k not in written and slot.snapshot is not None:
            v, s = slot.value, slot.snapshot
            if v.shape != s.shape or v.tobytes() != s.tobytes():
                rec.poison("an array changed by code compile could not see")

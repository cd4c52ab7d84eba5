"""Recording a step at the array level: a traced ndarray subclass and the recorder behind it.

While a step is recorded, every array it touches is a `Traced` array: a view of the real
array that computes exactly what the plain array would (so the recording call is the eager
call) and also appends what it did to the recorder's list of steps. Ufuncs and NumPy functions
arrive through `__array_ufunc__` / `__array_function__`; ndarray methods are overridden one by
one. A value read back to Python (`.item()`, `bool()`, ...) becomes a guard step: the replay
reads it again and misses unless it is the same. Whatever the recorder cannot replay faithfully
(an array it lost track of, a raw buffer handed out) poisons the recording: the call still
finishes eagerly, and the step is not replayed.
"""

from __future__ import annotations

import inspect
import operator

import numpy as np

from ember._compile import _recorder
from ember._compile._recorder import Guard, S, Step, active

_plain_view = np.ndarray.view


def _bytes_of(array):
    """What a value guard compares for a whole array: shape, dtype and bytes."""
    return (array.shape, array.dtype.str, array.tobytes())


def _from_bytes(triple):
    shape, dtype, data = triple
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _written(spec):
    """Slot indices in an `out=` specification."""
    if spec.__class__ is S:
        return (spec.k,)
    if isinstance(spec, tuple):
        return tuple(s.k for s in spec if s.__class__ is S)
    return ()


_OUT_METHODS = frozenset(("__call__", "reduce", "accumulate", "outer", "reduceat"))
# ndarray methods and NumPy functions that take `out=` (a result computed into a buffer is
# bit-for-bit the result computed into a new array)
_OUT_ND_METHODS = frozenset(
    "all any argmax argmin clip cumprod cumsum dot max mean min prod round std sum var".split()
)
_OUT_FUNCTIONS = _OUT_ND_METHODS | frozenset(
    "amax amin around concatenate einsum stack take".split()
)

# NumPy functions whose results depend on shapes and strides only, never on the values.
_METADATA_FUNCTIONS = frozenset(
    (
        "shape",
        "ndim",
        "size",
        "result_type",
        "may_share_memory",
        "shares_memory",
        "min_scalar_type",
        "can_cast",
        "iscomplexobj",
        "isrealobj",
        "broadcast_shapes",
    )
)
# *_like creators: new arrays whose values do not depend on the input's values.
_SHAPE_ONLY_FUNCTIONS = frozenset(("zeros_like", "ones_like", "empty_like", "full_like"))
# NumPy functions that write into their first argument.
_MUTATING_FUNCTIONS = frozenset(("copyto", "putmask", "place", "put", "put_along_axis"))
# NumPy functions whose result's shape depends on the values.
_VALUE_SHAPED = frozenset(("nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract"))


class Traced(np.ndarray):
    """An ndarray that records what is done with it (see the module docstring)."""

    _rec = None
    _slot = -1

    # --- the two NumPy protocols ---
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = active()
        if rec is None:
            return _plain_ufunc(ufunc, method, inputs, kwargs)
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        args, plains, kw, kw_plains = rec.refs(inputs, kwargs)
        result = rec.call(fn, plains, kw_plains)
        if "out" in kw:
            out = kwargs["out"]
            rec.step(fn, args, kw, None, _written(kw["out"]), label=ufunc.__name__)
            if isinstance(out, tuple):
                return out[0] if len(out) == 1 else out
            return out
        if method == "at":
            rec.step(fn, args, kw, None, _written(args[0]), label=f"{ufunc.__name__}.at")
            return None
        return rec.step(fn, args, kw, result, out_ok=method in _OUT_METHODS, label=ufunc.__name__)

    def __array_function__(self, func, types, args, kwargs):
        rec = active()
        if rec is None:
            return func(*_plain_tree(args), **_plain_tree(kwargs))
        name = func.__name__
        kwargs = _without_none_out(kwargs)
        position = _out_position(func)
        if position is not None and len(args) > position:
            rec.poison(f"numpy.{name} given its out= positionally")
        specs, plains, kw, kw_plains = rec.refs(args, kwargs)
        if name in _METADATA_FUNCTIONS:
            return rec.call(func, plains, kw_plains)
        if name in _VALUE_SHAPED or (name == "where" and len(args) + len(kwargs) == 1):
            rec.poison(f"numpy.{name}, whose result's shape depends on the values")
        writes = ()
        if name in _MUTATING_FUNCTIONS and specs and specs[0].__class__ is S:
            writes = (specs[0].k,)
        if "out" in kw:
            writes += _written(kw["out"])
        result = rec.call(func, plains, kw_plains)
        if writes:
            rec.step(func, specs, kw, None, writes, label=name)
            out = kwargs.get("out")
            if out is not None:
                return out
            return args[0] if result is plains[0] else None
        return rec.step(
            func,
            specs,
            kw,
            result,
            out_ok=name in _OUT_FUNCTIONS,
            label=name,
            shape_only=name in _SHAPE_ONLY_FUNCTIONS,
        )

    # --- what ember reads off arrays ---
    @property
    def flags(self):
        return _Flags(self)

    def setflags(self, write=None, align=None, uic=None):
        """Set on the recorded array too (`d.flags.writeable = True` on a diagonal view),
        and replayed on views made anew each replay."""
        np.ndarray.setflags(self, write, align, uic)
        rec = active()
        if rec is not None and self._rec is rec and self._slot >= 0:
            kwargs = {"write": write, "align": align, "uic": uic}
            rec.slots[self._slot].value.setflags(**kwargs)
            rec.steps.append(
                Step(
                    _SetFlags(kwargs),
                    (S(self._slot),),
                    {},
                    None,
                    (),
                    [self._slot],
                    False,
                    False,
                    "flags",
                )
            )

    @property
    def base(self):
        rec = self._rec
        plain_base = _plain_view(self, np.ndarray).base  # the plain view's base: our plain
        if rec is None or self._slot < 0:
            return plain_base
        plain = rec.slots[self._slot].value
        b = plain.base
        if b is None:
            return None
        k = rec.by_id.get(id(b))
        if k is not None and rec.slots[k].value is b:
            return rec.slots[k].traced
        return b

    def view(self, *args, **kwargs):
        if args and isinstance(args[0], type) and issubclass(args[0], np.ndarray):
            if args[0] is np.ndarray and active() is not None:
                active().poison("an array turned back into a plain ndarray with .view()")
            return np.ndarray.view(self, *args, **kwargs)
        return _method(self, "view", args, kwargs)

    def __getitem__(self, index):
        rec = active()
        if rec is None:
            return _plain_view(self, np.ndarray)[_plain_tree(index)]
        if _has_bool_array(index, rec):
            rec.poison("boolean-mask indexing with a computed mask (its result's shape varies)")
        return _method(self, "__getitem__", (index,), {})

    def __setitem__(self, index, value):
        rec = active()
        if rec is None:
            _plain_view(self, np.ndarray)[_plain_tree(index)] = _plain_tree(value)
            return
        _method(self, "__setitem__", (index, value), {}, mutates=True)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --- values read back to Python: each becomes a guard of the replay ---
    def _read(self, conv):
        """conv(array) for Python; while recording, a guard that the replay checks."""
        plain = _plain_view(self, np.ndarray)
        value = conv(plain)
        rec = active()
        if rec is not None:
            if self._rec is not rec or self._slot < 0:
                rec.poison("a value read from an array compile lost track of")
            elif rec.is_dynamic(self._slot):
                rec.steps.append(
                    Step(
                        Guard(conv, value),
                        (S(self._slot),),
                        {},
                        None,
                        (),
                        [self._slot],
                        True,
                        False,
                        "guard",
                    )
                )
        return value

    def item(self, *args):
        if args:
            return self._read(lambda a: a.item(*args))
        return self._read(np.ndarray.item)

    def tolist(self):
        return _from_bytes(self._read(_bytes_of)).tolist()

    def tobytes(self, order="C"):
        return _from_bytes(self._read(_bytes_of)).tobytes(order)

    def __float__(self):
        return self._read(float)

    def __int__(self):
        return self._read(int)

    def __index__(self):
        return self._read(operator.index)

    def __bool__(self):
        return self._read(bool)

    def __complex__(self):
        return self._read(complex)

    def __contains__(self, value):
        return value in _from_bytes(self._read(_bytes_of))

    def __repr__(self):
        return repr(_from_bytes(self._read(_bytes_of)))

    def __str__(self):
        return str(_from_bytes(self._read(_bytes_of)))

    def __format__(self, spec):
        return format(_from_bytes(self._read(_bytes_of)), spec)

    def __reduce_ex__(self, protocol):
        return _from_bytes(self._read(_bytes_of)).__reduce_ex__(protocol)

    def __deepcopy__(self, memo):
        return _from_bytes(self._read(_bytes_of))

    # --- ways out of the recorder's sight: allowed eagerly, not replayable ---
    def _escape(self, what):
        rec = active()
        if rec is not None:
            rec.poison(f"{what} on an array (compile cannot follow what is done with it)")
        return _plain_view(self, np.ndarray)

    def __array__(self, dtype=None, copy=None):
        return self._escape("__array__").__array__(dtype, copy=copy)

    def __dlpack__(self, *args, **kwargs):
        return self._escape("dlpack").__dlpack__(*args, **kwargs)

    @property
    def ctypes(self):
        return self._escape("ctypes").ctypes

    @property
    def data(self):
        return self._escape("the buffer").data

    @property
    def flat(self):
        return self._escape("flat").flat

    @property
    def T(self):  # noqa: N802
        return _method(self, "transpose", (), {})

    @property
    def mT(self):  # noqa: N802
        return _method(self, "swapaxes", (-1, -2), {})

    @property
    def real(self):
        return _method(self, "_real", (), {})

    @property
    def imag(self):
        return _method(self, "_imag", (), {})


_real_flags = np.ndarray.flags.__get__


class _Flags:
    """A Traced array's flags (NumPy's flag setters call `setflags`, which records)."""

    __slots__ = ("_array",)

    def __init__(self, array):
        object.__setattr__(self, "_array", array)

    def __getattr__(self, name):
        return getattr(_real_flags(self._array), name)

    def __getitem__(self, name):
        return _real_flags(self._array)[name]

    def __setattr__(self, name, value):
        setattr(_real_flags(self._array), name, value)

    def __repr__(self):
        return repr(_real_flags(self._array))


class _SetFlags:
    """A replayed `array.setflags(...)`."""

    def __init__(self, kwargs):
        self.kwargs = kwargs

    def __call__(self, array):
        array.setflags(**self.kwargs)


def _real(a):
    return a.real


def _imag(a):
    return a.imag


_SPECIAL = {"_real": _real, "_imag": _imag}


def _has_bool_array(index, rec):
    """True for an index holding a boolean array whose values depend on the call's data."""
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if i.__class__ is Traced and i.dtype == bool:
            if i._rec is not rec or i._slot < 0 or rec.is_dynamic(i._slot):
                return True
    return False


def _plain_tree(x):
    cls = x.__class__
    if cls is Traced:
        return _plain_view(x, np.ndarray)
    if cls is tuple or cls is list:
        return cls(_plain_tree(v) for v in x)
    if cls is dict:
        return {k: _plain_tree(v) for k, v in x.items()}
    return x


def _plain_ufunc(ufunc, method, inputs, kwargs):
    """A ufunc on arrays left Traced after their recording ended: behave as plain ones."""
    inputs = _plain_tree(inputs)
    if "out" in kwargs:
        kwargs = dict(kwargs, out=_plain_tree(kwargs["out"]))
    return getattr(ufunc, method)(*inputs, **kwargs)


# ndarray reductions are NumPy's Python wrappers around these ufunc reductions: recording the
# ufunc itself skips the wrapper on every replay (same arguments, same result)
_REDUCTIONS = {
    "sum": np.add.reduce,
    "prod": np.multiply.reduce,
    "max": np.maximum.reduce,
    "min": np.minimum.reduce,
    "all": np.logical_and.reduce,
    "any": np.logical_or.reduce,
}
_REDUCE_KEYWORDS = frozenset(("axis", "dtype", "keepdims"))


_OUT_FUNCTION_POSITIONS = {}


def _out_position(func):
    """Where a NumPy function takes `out` positionally (None: it does not)."""
    try:
        return _OUT_FUNCTION_POSITIONS[func]
    except KeyError:
        pass
    position = None
    try:
        for i, (name, p) in enumerate(inspect.signature(func).parameters.items()):
            if name == "out":
                if p.kind is p.POSITIONAL_OR_KEYWORD:
                    position = i
                break
    except (TypeError, ValueError):  # no signature: assume the worst case of none
        pass
    _OUT_FUNCTION_POSITIONS[func] = position
    return position


def _without_none_out(kwargs):
    out = kwargs.get("out", 0)
    if out is None or out == (None,):
        return {k: v for k, v in kwargs.items() if k != "out"}
    return kwargs


# where ndarray methods take `out` positionally (after self)
_METHOD_OUT_POSITIONS = {
    **dict.fromkeys("max min all any argmax argmin round dot choose".split(), 1),
    **dict.fromkeys("sum prod mean std var cumsum cumprod clip take".split(), 2),
    "trace": 4,
}


def _method(self, name, args, kwargs, mutates=False):
    """Call ndarray method `name` on the plain array and record it."""
    fn = _SPECIAL.get(name) or getattr(np.ndarray, name)
    kwargs = _without_none_out(kwargs)
    rec = active()
    if rec is not None and len(args) > _METHOD_OUT_POSITIONS.get(name, len(args)):
        rec.poison(f"ndarray.{name} given its out= positionally")
    if "out" in kwargs:
        mutates = True
    if name in _REDUCTIONS and not args and _REDUCE_KEYWORDS.issuperset(kwargs):
        if name in ("sum", "prod") or "dtype" not in kwargs:
            fn = _REDUCTIONS[name]
            kwargs = {"axis": None, **kwargs}  # the methods' default; ufunc.reduce's is 0
    rec = active()
    if rec is None:
        return fn(_plain_view(self, np.ndarray), *_plain_tree(args), **_plain_tree(kwargs))
    specs, plains, kw, kw_plains = rec.refs((self, *args), kwargs)
    result = rec.call(fn, plains, kw_plains)
    if mutates:
        target = kw["out"] if "out" in kw else specs[0]
        rec.step(fn, specs, kw, None, _written(target), label=name)
        if result is None:
            return None
        return kwargs["out"] if "out" in kwargs else self
    out_ok = name in _OUT_ND_METHODS or isinstance(fn, _ufunc_method)
    return rec.step(fn, specs, kw, result, out_ok=out_ok, label=name)


_ufunc_method = type(np.add.reduce)


def _make_pure(name):
    def method(self, *args, **kwargs):
        return _method(self, name, args, kwargs)

    method.__name__ = name
    return method


def _make_mutating(name):
    def method(self, *args, **kwargs):
        return _method(self, name, args, kwargs, mutates=True)

    method.__name__ = name
    return method


def _make_refused(name):
    def method(self, *args, **kwargs):
        rec = active()
        if rec is not None:
            rec.poison(f"ndarray.{name}, which compile cannot replay")
        return getattr(np.ndarray, name)(_plain_view(self, np.ndarray), *args, **kwargs)

    method.__name__ = name
    return method


_PURE = (
    "all any argmax argmin argpartition argsort astype choose clip conj conjugate copy cumprod "
    "cumsum diagonal dot flatten getfield max mean min prod ravel repeat reshape round "
    "searchsorted squeeze std sum swapaxes take trace transpose var __copy__"
).split()
_MUTATING = "fill sort partition put".split()
_REFUSED = "nonzero compress resize setfield byteswap dump dumps tofile to_device".split()


for _name in _PURE:
    setattr(Traced, _name, _make_pure(_name))
for _name in _MUTATING:
    setattr(Traced, _name, _make_mutating(_name))
for _name in _REFUSED:
    setattr(Traced, _name, _make_refused(_name))

_recorder.Traced = Traced

"""dtypes, the default dtype, and PyTorch's type-promotion rules.

bfloat16's NumPy type comes from the optional `ml_dtypes` package (`pip install
'ember[bfloat16]'`), imported on first use (it takes longer to import than ember itself):
`ember.bfloat16` always exists, and making a tensor of it without ml_dtypes raises an error
that says how to get it. Promotion with bfloat16 needs no ml_dtypes.
"""

from __future__ import annotations

import numpy


class dtype:  # noqa: N801  (PyTorch's spelling)
    """Same as torch.dtype: a named element type backed by a NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "category")

    def __init__(self, name: str, np_dtype, category: int, itemsize: int = 0):
        self.name = name
        self.category = category  # 0 bool, 1 integer, 2 floating: PyTorch's promotion categories
        self.is_floating_point = category == 2
        if np_dtype is None:  # its NumPy type is looked up on first use (see __getattr__)
            self.is_signed, self.itemsize = True, itemsize
            return
        self.np = numpy.dtype(np_dtype)
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize

    def __getattr__(self, attr):
        # only reached while the `np` slot is unset: bfloat16 before ml_dtypes is loaded
        if attr == "np":
            return _load_bfloat16()
        raise AttributeError(f"'ember.dtype' object has no attribute '{attr}'")

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        """Same as torch.dtype.to_real (ember has no complex dtypes)."""
        return self


float16 = half = dtype("float16", numpy.float16, 2)
float32 = float = dtype("float32", numpy.float32, 2)  # noqa: A001
float64 = double = dtype("float64", numpy.float64, 2)
uint8 = dtype("uint8", numpy.uint8, 1)
int8 = dtype("int8", numpy.int8, 1)
int16 = short = dtype("int16", numpy.int16, 1)
int32 = int = dtype("int32", numpy.int32, 1)  # noqa: A001
int64 = long = dtype("int64", numpy.int64, 1)
bool = dtype("bool", numpy.bool_, 0)  # noqa: A001
bfloat16 = dtype("bfloat16", None, 2, itemsize=2)  # NumPy type: ml_dtypes.bfloat16, on first use

ALL = (float16, bfloat16, float32, float64, uint8, int8, int16, int32, int64, bool)
_FROM_NP = {d.np: d for d in ALL if d is not bfloat16}  # bfloat16 joins once loaded
_NAMES = {d.name: d for d in ALL}
# bfloat16's NumPy dtype once ml_dtypes is loaded, else None (ops check it, see _primitive)
BF16 = [None]
SUPPORTED = "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8 and bool"
_NO_ML_DTYPES = (
    "unsupported dtype bfloat16: ember needs the ml_dtypes package for it "
    "(pip install 'ember[bfloat16]' or pip install ml_dtypes)"
)


# PyTorch dtypes ember has no dtype for, as files name them: by PyTorch's dtype name, by the
# storage type torch.save writes, and by safetensors' name. Loads refuse them with
# unsupported_in_file's message (an error about the data, not about the file's safety).
UNSUPPORTED_STORAGES = {
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
}
UNSUPPORTED_SAFETENSORS = {
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0fnu",
    "F6_E2M3": "float6_e2m3fn",
    "F6_E3M2": "float6_e3m2fn",
    "F4": "float4_e2m1fn_x2",
}
UNSUPPORTED_TORCH = {
    *UNSUPPORTED_STORAGES.values(),
    *UNSUPPORTED_SAFETENSORS.values(),
    *("complex128", "cfloat", "cdouble", "complex32", "chalf", "float8_e4m3fnuz"),
    *("float8_e5m2fnuz", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"),
    *(f"int{n}" for n in range(1, 8)),
    *(f"uint{n}" for n in range(1, 8)),
}


def unsupported_in_file(name: str, where: str) -> str:
    """The message refusing a file's tensor of a dtype ember does not have (`where`: which
    tensor has it)."""
    return (
        f"unsupported dtype {name}: {where} has it, and ember's dtypes are {SUPPORTED}. Convert "
        "it to a supported dtype in PyTorch first (e.g. t.to(torch.float32), t.to(torch.int64), "
        "or t.real for a complex tensor) and save again."
    )


def bfloat16_for_load(what: str):
    """bfloat16's NumPy dtype for a load; False, after a warning naming `what`, without
    ml_dtypes (the caller then widens bfloat16 to float32: exact, as a bfloat16 is the high
    half of a float32)."""
    try:
        return _load_bfloat16()
    except RuntimeError:
        from ember._warn import warn

        warn(
            f"ember.load: {what} bfloat16 tensors and the ml_dtypes package is not installed, so "
            "they are loaded as float32 (the same values). pip install ml_dtypes (or "
            "'ember[bfloat16]') to load them as bfloat16."
        )
        return False


def _load_bfloat16():
    """bfloat16's NumPy dtype, importing ml_dtypes the first time (RuntimeError without it)."""
    np_dtype = BF16[0]
    if np_dtype is not None:
        return np_dtype
    try:
        import ml_dtypes
    except ImportError:
        raise RuntimeError(_NO_ML_DTYPES) from None
    np_dtype = numpy.dtype(ml_dtypes.bfloat16)
    bfloat16.np = np_dtype
    _FROM_NP[np_dtype] = bfloat16
    BF16[0] = np_dtype
    return np_dtype


def _by_name(name):
    return _NAMES[name]


def is_floating(np_dtype) -> bool:
    """Whether an array's NumPy dtype is one of ember's floating types. Use it rather than
    `kind == "f"`: bfloat16's NumPy kind is "V"."""
    return np_dtype.kind == "f" or np_dtype is BF16[0]


def kind(np_dtype) -> str:
    """An array's NumPy dtype kind ("b", "u", "i", "f", "c"), with bfloat16 read as "f"
    (NumPy says "V"). Use it where a check tells more kinds apart than is_floating does."""
    k = np_dtype.kind
    return "f" if k == "V" and np_dtype is BF16[0] else k


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def category(np_dtype) -> int:
    """bool 0 < integer 1 < floating 2 (bfloat16 included) < complex 3, for an array's NumPy
    dtype: PyTorch's canCast order."""
    return _CATEGORY[kind(np_dtype)]


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype for a NumPy dtype (ml_dtypes.bfloat16 included); TypeError naming the
    unsupported dtype for types ember does not have."""
    try:
        return _FROM_NP[np_dtype]
    except (KeyError, TypeError):
        pass
    try:
        np_dtype = numpy.dtype(np_dtype)
    except TypeError:
        raise TypeError(
            f"unsupported dtype {np_dtype!r:.80}: not a dtype ember knows; ember's dtypes are "
            f"{SUPPORTED}"
        ) from None
    found = _FROM_NP.get(np_dtype)
    if found is not None:
        return found
    if np_dtype.name == "bfloat16" and np_dtype.itemsize == 2:  # ml_dtypes', not yet loaded
        _load_bfloat16()
        if np_dtype in _FROM_NP:
            return _FROM_NP[np_dtype]
    raise TypeError(
        f"unsupported dtype {np_dtype.name}: can't convert np.ndarray of type {np_dtype.name}. "
        f"The only supported types are: {SUPPORTED}; convert it first (e.g. "
        "array.astype(numpy.float32))."
    )


def to_dtype(d) -> dtype:
    """Accept an ember dtype, a NumPy dtype, a Python type or a name; return an ember dtype."""
    if d.__class__ is dtype:
        return d
    if d is None:
        return get_default_dtype()
    if d is _py_float:
        return get_default_dtype()
    if d is _py_int:
        return int64
    if d is _py_bool:
        return bool
    if isinstance(d, str):
        name = d.removeprefix("torch.").removeprefix("ember.")
        if name in _NAMES:
            return _NAMES[name]
    return from_numpy_dtype(d)


_py_float, _py_int, _py_bool = type(1.0), type(1), type(True)  # noqa: UP003 (names shadowed)
_default = [float32]


def get_default_dtype() -> dtype:
    """Same as torch.get_default_dtype (float32 unless changed)."""
    return _default[0]


def set_default_dtype(d) -> None:
    """Same as torch.set_default_dtype: the dtype of new floating tensors."""
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def promote_types(a: dtype, b: dtype) -> dtype:
    """Same as torch.promote_types: an integer meets a float in the float's type."""
    if a is b:
        return a
    if a.category != b.category and 2 in (a.category, b.category):
        return a if a.category == 2 else b
    if a is bfloat16 or b is bfloat16:  # with another float: float32 at least, as PyTorch
        other = b if a is bfloat16 else a
        return float32 if other is float16 else other
    return _FROM_NP[numpy.promote_types(a.np, b.np)]


def scalar_dtype(value) -> dtype:
    """The dtype a Python number takes on its own (PyTorch's 'wrapped number' rule)."""
    if isinstance(value, (_py_bool, numpy.bool_)):
        return bool
    if isinstance(value, (_py_int, numpy.integer)):
        return int64
    if isinstance(value, (_py_float, numpy.floating)):
        return get_default_dtype()
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """PyTorch's rule: a lower-priority group only matters if it is of a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.category >= lower.category:
        return higher
    if higher.category == 0 or lower.category == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> dtype:
    """Same as torch.result_type over Tensors and Python numbers.

    Dimensioned tensors outrank 0-d tensors, which outrank Python numbers; a lower-ranked
    operand changes the result only when its category (bool < int < float) is higher.
    """
    dims = zeros = scalars = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if d.__class__ is dtype:
            if x.ndim:
                dims = d if dims is None else promote_types(dims, d)
            else:
                zeros = d if zeros is None else promote_types(zeros, d)
        else:
            d = scalar_dtype(x)
            scalars = d if scalars is None else promote_types(scalars, d)
    return _combine(dims, _combine(zeros, scalars))

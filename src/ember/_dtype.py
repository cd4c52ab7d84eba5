"""dtypes, the default dtype, and PyTorch's type-promotion rules."""

from __future__ import annotations

import numpy


class dtype:  # noqa: N801  (PyTorch's spelling)
    """Same as torch.dtype: a named element type backed by a NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "category")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = numpy.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating: PyTorch's promotion categories
        self.is_floating_point = category == 2
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize

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

ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}


def _by_name(name):
    return _NAMES[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype for a NumPy dtype; raises for types ember does not have."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        pass
    try:
        return _FROM_NP[numpy.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np_dtype}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


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

"""Comparisons and logical/bitwise ops: no gradient, so plain functions, not Primitives."""

from __future__ import annotations

from ember import _backend
from ember._dtype import is_floating, result_type
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, make_primitive
from ember.ops._table import S, register


def _unwrap(op, *args):
    data = []
    kind = None
    for a in args:
        if isinstance(a, Tensor):
            if kind is not None and a.device != kind:
                raise RuntimeError(
                    "Expected all tensors to be on the same device, but found at least two "
                    f"devices, {kind} and {a.device}! (in {op})"
                )
            kind = a.device
            data.append(a._data)
        elif _backend.is_scalar_result(a) or isinstance(a, (int, float, bool)):
            data.append(a)
        else:
            raise TypeError(f"{op}(): expected a Tensor or a number, got {type(a).__name__}")
    return data


def _nondiff(name, ufunc_name, doc):
    def fn(input, other):
        a, b = _unwrap(name, input, other)
        xp = _backend.array_module(a, b)
        try:
            result = getattr(xp, ufunc_name)(a, b)
        except ValueError as e:
            raise RuntimeError(
                f"{name}: shapes {list(getattr(a, 'shape', ()))} and "
                f"{list(getattr(b, 'shape', ()))} cannot be broadcast together"
            ) from e
        return Tensor._make(_as_result(result, a, b))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _as_result(result, *inputs):
    if _backend.is_scalar_result(result):
        like = next((x.__class__ for x in inputs if hasattr(x, "flags")), None)
        return _backend.scalar_to_array(result, like)
    return result


eq = _nondiff("eq", "equal", "Same as torch.eq: elementwise ==, a bool tensor.")
ne = _nondiff("ne", "not_equal", "Same as torch.ne: elementwise !=, a bool tensor.")
lt = _nondiff("lt", "less", "Same as torch.lt: elementwise <, a bool tensor.")
le = _nondiff("le", "less_equal", "Same as torch.le: elementwise <=, a bool tensor.")
gt = _nondiff("gt", "greater", "Same as torch.gt: elementwise >, a bool tensor.")
ge = _nondiff("ge", "greater_equal", "Same as torch.ge: elementwise >=, a bool tensor.")
logical_and = _nondiff("logical_and", "logical_and", "Same as torch.logical_and.")
logical_or = _nondiff("logical_or", "logical_or", "Same as torch.logical_or.")
logical_xor = _nondiff("logical_xor", "logical_xor", "Same as torch.logical_xor.")


def _float_word(x):
    """PyTorch's name for a float operand's type ("Float", "BFloat16") in error messages."""
    if not isinstance(x, Tensor):
        return "Float"
    from ember.ops.indexing import type_word  # a family module: imported when first needed

    return type_word(x)


def _bitwise(name, ufunc_name):
    fn = _nondiff(name, ufunc_name, f"Same as torch.{name} (logical on bool tensors).")

    def checked(input, other):
        for x in (input, other):
            if isinstance(x, Tensor) and is_floating(x._data.dtype) or isinstance(x, float):
                word = _float_word(x)
                raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{word}'")
        return fn(input, other)

    checked.__name__ = checked.__qualname__ = name
    checked.__doc__ = fn.__doc__
    return checked


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")


def bitwise_not(input):
    """Same as torch.bitwise_not (logical not on bool tensors)."""
    if is_floating(input._data.dtype):
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for '{_float_word(input)}'")
    xp = _backend.array_module(input._data)
    return Tensor._make(_as_result(xp.invert(input._data), input._data))


def logical_not(input):
    """Same as torch.logical_not."""
    xp = _backend.array_module(input._data)
    return Tensor._make(_as_result(xp.logical_not(input._data), input._data))


def equal(input, other):
    """Same as torch.equal: True when shapes and all values match."""
    return input.shape == other.shape and bool(eq(input, other).all())


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Same as torch.allclose."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Same as torch.isclose."""
    a, b = _unwrap("isclose", input, other)
    xp = _backend.array_module(a, b)
    return Tensor._make(_as_result(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan), a))


_PICKS = {  # isin's samples: test elements taken from x, so some entries match
    "rows": lambda x: x[1:],  # contiguous: PyTorch's isin refuses some non-contiguous ones
    "row": lambda x: x[0],
    "number": lambda x: 0.5,  # matches nothing; tests/ops/test_new_names.py has matches
    "itself": lambda x: x,
}


@register(
    "isin",
    lambda lib, x, **kw: x * lib.isin(x, _PICKS[kw["pick"]](x), invert=kw["invert"]),
    (
        S((3, 4), pick="rows", invert=False),
        S((3, 4), pick="row", invert=True),
        S((2, 3), pick="number", invert=False),
        S((), pick="itself", invert=False),
    ),
)
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Same as torch.isin: a bool tensor of `elements`' shape, True where an element equals
    one of `test_elements` (False with invert=True). Either argument may be a number, not
    both; values are compared in their promoted dtype (PyTorch's result_type), and NaN
    matches nothing. assume_unique=True promises that each argument holds no repeats (a
    faster path; with repeats the result is undefined, as in PyTorch). Not differentiable.
    """
    numbers = [not isinstance(x, Tensor) for x in (elements, test_elements)]
    if all(numbers):
        raise TypeError(
            "isin() received an invalid combination of arguments - got "
            f"({type(elements).__name__}, {type(test_elements).__name__}), but expected one of "
            "(Tensor elements, Tensor test_elements), (Number element, Tensor test_elements), "
            "(Tensor elements, Number test_element)"
        )
    a, b = _unwrap("isin", elements, test_elements)
    for x in (elements, test_elements):
        if isinstance(x, bool) or isinstance(x, Tensor) and x._data.dtype.kind == "b":
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    xp = _backend.array_module(a, b)
    common = result_type(elements, test_elements).np
    a, b = (xp.asarray(x, dtype=common) for x in (a, b))
    result = xp.isin(a, b, assume_unique=bool(assume_unique), invert=bool(invert))
    return Tensor._make(_as_result(result, a, b))


# --- in place: x.eq_(other) and friends ---
_UFUNC = {
    "eq": "equal",
    "ne": "not_equal",
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
}


def _compare_into(name, a, b):
    """`a op b` as an array of a's shape and dtype (1 where true, 0 where false)."""
    result = getattr(_backend.array_module(a), _UFUNC[name])(a, b)
    shape = getattr(result, "shape", ())
    if shape != a.shape:
        raise RuntimeError(
            f"{name}_: output with shape {list(a.shape)} doesn't match the broadcast shape "
            f"{list(shape)}"
        )
    return _as_result(result, a).astype(a.dtype)


def _compare_inplace(name):
    """The Primitive behind `Tensor.<name>_` (its result has x's dtype, so a float tensor stays
    in the graph with a zero gradient, as PyTorch), and the method itself."""

    class Op(Primitive):
        float_safe = True
        node_name = f"{name.capitalize()}Backward0"

        @staticmethod
        def forward(ctx, x, other):
            return _compare_into(name, x, other)

        @staticmethod
        def backward(ctx, grad):
            needs = ctx.needs_input_grad
            zero = grad.new_zeros(grad.shape)
            return (zero if needs[0] else None), (zero if needs[1] else None)

    Op.__module__ = __name__
    make_primitive(Op, f"{name}_inplace")
    register(
        f"{name}_",
        lambda lib, x, y: getattr(x.clone(), f"{name}_")(y) + x,
        (S((3, 4), (3, 4)), S((3, 4), (4,)), S((), ())),
    )(Op)

    def method(self, other):
        from ember.ops.inplace import apply_inplace, write_through

        _unwrap(f"{name}_", self, other)
        if write_through(self, other):
            b = other._data if isinstance(other, Tensor) else other
            self._data[...] = _compare_into(name, self._data, b)
            self._vc[0] += 1
            return self
        return apply_inplace(self, lambda x: Op.apply(x, other), (other,), f"{name}_")

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = (
        f"Same as torch.Tensor.{name}_: this tensor becomes `self {name} other` in its own "
        "dtype (1 where true, 0 where false); its gradient is zero."
    )
    return method


_COMPARE_INPLACE = {f"{name}_": _compare_inplace(name) for name in _UFUNC}


__all__ = [
    "allclose",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "eq",
    "equal",
    "ge",
    "gt",
    "isclose",
    "isin",
    "le",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "lt",
    "ne",
]
ALIASES = {
    "greater": gt,
    "greater_equal": ge,
    "less": lt,
    "less_equal": le,
    "not_equal": ne,
}
# PyTorch has no Tensor.isin
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__ if name != "isin"},
    **ALIASES,
    **_COMPARE_INPLACE,
    **{f"{alias}_": _COMPARE_INPLACE[f"{fn.__name__}_"] for alias, fn in ALIASES.items()},
}

"""The front door: how an op family's functions become `ember.<name>` and Tensor methods.

Where a new op goes: its stanza (a Primitive with `@register`, or `unary(...)`) and its public
function live in the family module of its kind (`ops/pointwise.py`, `ops/linalg.py`, ...);
the module names the function in `__all__` (and any extra spellings in `ALIASES`, its Tensor
methods in `TENSOR_METHODS`). That is all: `ember.ops` passes every public function through
`public_function` below, and what it gets for free is
- the `out=` keyword, with PyTorch's rules (`_out.py`), when PyTorch's function of that name
  has one (`TAKES_OUT`); an unknown keyword is Python's own TypeError, since every function
  spells out its signature;
- its Tensor method (Tensor methods take no `out=`, as PyTorch's), its entry in the type stubs
  (`python tools/stubs.py`), and its rows in the op table's generated tests.
No op function takes `out` itself (a test checks it), so none can drop it, and `out=` has one
implementation. Namespaces other than `ember` (`ember.linalg`) call `with_out` by name.
"""

from __future__ import annotations

import functools
import inspect

from ember.ops._out import check_out, write_out

# The functions of ember's namespace whose PyTorch namesake accepts out= (PyTorch 2.13; the
# test suite checks each against PyTorch).
TAKES_OUT = frozenset(
    {
        "abs",
        "absolute",
        "acos",
        "acosh",
        "add",
        "addbmm",
        "addcdiv",
        "addcmul",
        "addmm",
        "addmv",
        "addr",
        "all",
        "amax",
        "amin",
        "any",
        "arange",
        "arccos",
        "arccosh",
        "arcsin",
        "arcsinh",
        "arctan",
        "arctan2",
        "arctanh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "baddbmm",
        "bernoulli",
        "bitwise_and",
        "bitwise_not",
        "bitwise_or",
        "bitwise_xor",
        "bmm",
        "cat",
        "ceil",
        "cholesky",
        "cholesky_inverse",
        "cholesky_solve",
        "clamp",
        "clip",
        "column_stack",
        "concat",
        "concatenate",
        "cos",
        "cosh",
        "cross",
        "cumprod",
        "cumsum",
        "diag",
        "div",
        "divide",
        "dot",
        "dstack",
        "empty",
        "eq",
        "erf",
        "erfc",
        "erfinv",
        "exp",
        "exp2",
        "expm1",
        "eye",
        "fix",
        "floor",
        "floor_divide",
        "fmax",
        "fmin",
        "fmod",
        "frac",
        "full",
        "gather",
        "ge",
        "ger",
        "greater",
        "greater_equal",
        "gt",
        "hstack",
        "hypot",
        "index_add",
        "index_select",
        "inverse",
        "isneginf",
        "isposinf",
        "kron",
        "kthvalue",
        "le",
        "lerp",
        "less",
        "less_equal",
        "linspace",
        "log",
        "log10",
        "log1p",
        "log2",
        "logical_and",
        "logical_not",
        "logical_or",
        "logical_xor",
        "logit",
        "logspace",
        "logsumexp",
        "lt",
        "masked_select",
        "matmul",
        "matrix_power",
        "max",
        "maximum",
        "mean",
        "median",
        "min",
        "minimum",
        "mm",
        "msort",
        "mul",
        "multinomial",
        "multiply",
        "mv",
        "nan_to_num",
        "nanmean",
        "nanmedian",
        "ne",
        "neg",
        "negative",
        "nonzero",
        "norm",
        "normal",
        "not_equal",
        "ones",
        "outer",
        "pow",
        "qr",
        "rand",
        "randint",
        "randn",
        "randperm",
        "reciprocal",
        "remainder",
        "round",
        "row_stack",
        "rsqrt",
        "sigmoid",
        "sign",
        "sin",
        "sinh",
        "slogdet",
        "softmax",
        "sort",
        "sqrt",
        "square",
        "stack",
        "std",
        "sub",
        "subtract",
        "svd",
        "take_along_dim",
        "tan",
        "tanh",
        "tensordot",
        "topk",
        "tril",
        "triu",
        "true_divide",
        "trunc",
        "var",
        "vdot",
        "vstack",
        "where",
        "xlogy",
        "zeros",
    }
)


def public_function(name: str, fn):
    """`ember.<name>`: `fn` itself, or `fn` with the `out=` keyword when PyTorch's has one."""
    if name not in TAKES_OUT or not callable(fn) or isinstance(fn, type):
        return fn
    return with_out(name, fn)


def with_out(name: str, fn):
    """`fn` with PyTorch's `out=` keyword (see `_out.py` for the rules)."""
    signature = inspect.signature(fn)
    if "out" in signature.parameters:
        raise TypeError(f"{name}: the front door adds out=; the function must not take it")

    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        check_out(name, out, args)
        return write_out(name, fn(*args, **kwargs), out)

    params = list(signature.parameters.values())
    keyword = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, keyword)
    op.__signature__ = signature.replace(parameters=params)
    op.__name__ = op.__qualname__ = name.rsplit(".", 1)[-1]
    del op.__wrapped__  # tools read __signature__, not fn's
    return op

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

from ember._tensor import Tensor
from ember.ops._out import check_out, write_out

# The functions of ember's namespace whose PyTorch namesake accepts out= (PyTorch 2.13; the
# test suite checks each against PyTorch).
TAKES_OUT = frozenset(
    """
abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin any arange
arccos arccosh arcsin arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh baddbmm
bernoulli bitwise_and bitwise_not bitwise_or bitwise_xor bmm bucketize cat ceil cholesky
cholesky_inverse cholesky_solve clamp clip column_stack concat concatenate copysign cos cosh
cross cummax cummin cumprod cumsum deg2rad diag diff digamma div divide dot dstack empty eq erf
erfc erfinv exp exp2 expm1 eye fix float_power floor floor_divide fmax fmin fmod frac frexp
full gather gcd ge ger greater greater_equal gt heaviside histc hstack hypot i0 index_add
index_copy index_select inner inverse isin isneginf isposinf kron kthvalue lcm ldexp le lerp
less less_equal lgamma linspace log log10 log1p log2 logaddexp logaddexp2 logcumsumexp
logical_and logical_not logical_or logical_xor logit logspace logsumexp lt masked_select matmul
matrix_power max maximum mean median min minimum mm mode msort mul multinomial multiply mv
mvlgamma nan_to_num nanmean nanmedian nanquantile ne neg negative nonzero norm normal not_equal
ones outer polygamma pow qr quantile rad2deg rand randint randn randperm reciprocal remainder
renorm round row_stack rsqrt scatter_reduce searchsorted sgn sigmoid sign sin sinc sinh slogdet
softmax sort sqrt square stack std sub subtract svd take_along_dim tan tanh tensordot topk tril
triu true_divide trunc var vdot vstack where xlogy zeros
""".split()
)


def public_function(name: str, fn):
    """`ember.<name>`: `fn` with PyTorch's argument errors, and with the `out=` keyword when
    PyTorch's function of that name has one. Classes and non-functions pass through."""
    if not callable(fn) or isinstance(fn, type):
        return fn
    if name in TAKES_OUT:
        return with_out(name, fn)
    return _checked(name, fn, inspect.signature(fn))


def with_out(name: str, fn):
    """`fn` with PyTorch's `out=` keyword (see `_out.py` for the rules) and argument errors."""
    signature = inspect.signature(fn)
    if "out" in signature.parameters:
        raise TypeError(f"{name}: the front door adds out=; the function must not take it")
    short = name.rsplit(".", 1)[-1]

    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        try:
            if out is None:
                return fn(*args, **kwargs)
            check_out(short, out, args)
            return write_out(short, fn(*args, **kwargs), out)
        except AttributeError as error:
            _raise_not_tensor(short, signature, args, kwargs, error)
            raise

    params = list(signature.parameters.values())
    keyword = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, keyword)
    return _named(op, short, signature.replace(parameters=params))


def _checked(name, fn, signature):
    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AttributeError as error:
            _raise_not_tensor(name, signature, args, kwargs, error)
            raise

    return _named(op, name, signature)


def _named(op, name, signature):
    op.__signature__ = signature
    op.__name__ = op.__qualname__ = name
    del op.__wrapped__  # tools read __signature__, not fn's
    return op


def _raise_not_tensor(name, signature, args, kwargs, error):
    """PyTorch's TypeError when an op reached for a tensor's attribute in an argument that is
    not a tensor (`'list' object has no attribute '_data'`); otherwise nothing (the caller
    re-raises the AttributeError: a bug in ember)."""
    missing = getattr(error, "name", None)
    if missing is None or not hasattr(Tensor, missing) or isinstance(error.obj, Tensor):
        return
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return
    kinds = signature.parameters
    for position, (argument, value) in enumerate(bound.arguments.items(), start=1):
        inside = (
            value
            if kinds[argument].kind is inspect.Parameter.VAR_POSITIONAL
            or isinstance(value, (list, tuple))
            else ()
        )
        nested = [v for v in inside if isinstance(v, (list, tuple))]
        if any(v is error.obj for v in inside) or any(w is error.obj for v in nested for w in v):
            raise TypeError(
                f"{name}(): argument '{argument}' must be tuple of Tensors, not "
                f"{type(error.obj).__name__}"
            ) from None
        if value is error.obj:
            raise TypeError(
                f"{name}(): argument '{argument}' (position {position}) must be Tensor, not "
                f"{type(value).__name__}"
            ) from None

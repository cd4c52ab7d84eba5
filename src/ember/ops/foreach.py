"""PyTorch's `_foreach_*` functions: one op over a list of tensors (what its optimizers use).

Each is a plain loop over ember's own ops, so gradients, forward mode and in-place rules are
exactly those of the op applied to each tensor. Out-of-place forms return a tuple of new
tensors; in-place forms (`_foreach_add_`) change each tensor and return the list. A second
argument may be a number, a list of numbers, a list of tensors, or one tensor, as PyTorch.
"""

from __future__ import annotations

from ember._tensor import Tensor
from ember.ops import pointwise, pointwise_extra, rounding
from ember.ops.inplace import apply_inplace
from ember.ops.linalg_extra import vector_norm

_MODULES = (pointwise, pointwise_extra, rounding)


def _op(name):
    for module in _MODULES:
        fn = getattr(module, name, None)
        if fn is not None:
            return fn
    raise AttributeError(name)


def _tensors(tensors, op):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{op}(): argument 'self' must be tuple of Tensors, not {type(tensors).__name__}"
        )
    if not tensors:
        raise RuntimeError("Tensor list must have at least one tensor.")
    return list(tensors)


def _spread(other, n, op):
    """The second argument, one per tensor."""
    if isinstance(other, (list, tuple)):
        if len(other) != n:
            what = "tensor" if other and isinstance(other[0], Tensor) else "scalar"
            raise RuntimeError(
                f"Tensor list must have same number of elements as {what} list."
                if what == "scalar"
                else f"{op}(): Tensor lists must have the same number of tensors, got {n} and "
                f"{len(other)}"
            )
        return list(other)
    return [other] * n


def _inplace(self, tensors, name, others):
    fn = _op(name)
    for t, extra in zip(tensors, others):
        apply_inplace(t, lambda x, e=extra: fn(x, *e), extra, f"{name}_")
    return self


def _unary(name):
    fn = _op(name)

    def outplace(self):
        return tuple(fn(t) for t in _tensors(self, f"_foreach_{name}"))

    def inplace(self):
        tensors = _tensors(self, f"_foreach_{name}_")
        return _inplace(self, tensors, name, [()] * len(tensors))

    return outplace, inplace


def _binary(name):
    fn = _op(name)
    takes_alpha = name in ("add", "sub")

    def outplace(self, other, *, alpha=1):
        tensors = _tensors(self, f"_foreach_{name}")
        others = _spread(other, len(tensors), f"_foreach_{name}")
        if takes_alpha and alpha != 1:
            return tuple(fn(t, o, alpha=alpha) for t, o in zip(tensors, others))
        return tuple(fn(t, o) for t, o in zip(tensors, others))

    def inplace(self, other, *, alpha=1):
        tensors = _tensors(self, f"_foreach_{name}_")
        others = _spread(other, len(tensors), f"_foreach_{name}_")
        if takes_alpha and alpha != 1:
            others = [pointwise.mul(o, alpha) for o in others]
        return _inplace(self, tensors, name, [(o,) for o in others])

    if not takes_alpha:  # PyTorch's maximum, pow, ... take no alpha
        plain_out, plain_in = outplace, inplace
        outplace = lambda self, other: plain_out(self, other)  # noqa: E731
        inplace = lambda self, other: plain_in(self, other)  # noqa: E731
    return outplace, inplace


def _pointwise3(name):
    fn = _op(name)

    def outplace(self, tensor1, tensor2, value=1):
        tensors = _tensors(self, f"_foreach_{name}")
        n = len(tensors)
        ones, twos = _spread(tensor1, n, name), _spread(tensor2, n, name)
        values = _spread(value, n, name)
        return tuple(fn(t, a, b, value=v) for t, a, b, v in zip(tensors, ones, twos, values))

    def inplace(self, tensor1, tensor2, value=1):
        tensors = _tensors(self, f"_foreach_{name}_")
        n = len(tensors)
        ones, twos = _spread(tensor1, n, name), _spread(tensor2, n, name)
        values = _spread(value, n, name)
        for t, a, b, v in zip(tensors, ones, twos, values):
            apply_inplace(t, lambda x, a=a, b=b, v=v: fn(x, a, b, value=v), (a, b), f"{name}_")
        return self

    return outplace, inplace


_UNARY = (
    "abs acos asin atan ceil cos cosh erf erfc exp expm1 floor frac log log10 log1p log2 neg "
    "reciprocal round rsqrt sigmoid sign sin sinh sqrt tan tanh trunc"
).split()
_BINARY = "add sub mul div maximum minimum pow clamp_min clamp_max".split()

_FUNCTIONS = {}
for _name in _UNARY:
    _FUNCTIONS[f"_foreach_{_name}"], _FUNCTIONS[f"_foreach_{_name}_"] = _unary(_name)
for _name in _BINARY:
    _FUNCTIONS[f"_foreach_{_name}"], _FUNCTIONS[f"_foreach_{_name}_"] = _binary(_name)
for _name in ("addcmul", "addcdiv"):
    _FUNCTIONS[f"_foreach_{_name}"], _FUNCTIONS[f"_foreach_{_name}_"] = _pointwise3(_name)


def _foreach_lerp(self, tensors1, weight):
    """Same as torch._foreach_lerp: lerp(self[i], tensors1[i], weight[i])."""
    tensors = _tensors(self, "_foreach_lerp")
    ends = _spread(tensors1, len(tensors), "_foreach_lerp")
    weights = _spread(weight, len(tensors), "_foreach_lerp")
    return tuple(pointwise_extra.lerp(t, e, w) for t, e, w in zip(tensors, ends, weights))


def _foreach_lerp_(self, tensors1, weight):
    """Same as torch._foreach_lerp_: lerp in place on each tensor."""
    tensors = _tensors(self, "_foreach_lerp_")
    ends = _spread(tensors1, len(tensors), "_foreach_lerp_")
    weights = _spread(weight, len(tensors), "_foreach_lerp_")
    for t, e, w in zip(tensors, ends, weights):
        apply_inplace(t, lambda x, e=e, w=w: pointwise_extra.lerp(x, e, w), (e, w), "lerp_")
    return self


def _foreach_zero_(self):
    """Same as torch._foreach_zero_: zero each tensor in place."""
    tensors = _tensors(self, "_foreach_zero_")
    for t in tensors:
        t.zero_()
    return self


def _foreach_copy_(self, src, non_blocking=False):
    """Same as torch._foreach_copy_: copy src[i] into self[i]."""
    tensors = _tensors(self, "_foreach_copy_")
    for t, s in zip(tensors, _spread(src, len(tensors), "_foreach_copy_")):
        t.copy_(s)
    return self


def _foreach_clone(self):
    """Same as torch._foreach_clone: a clone of each tensor."""
    return tuple(t.clone() for t in _tensors(self, "_foreach_clone"))


def _foreach_norm(self, ord=2, dtype=None):  # noqa: A002
    """Same as torch._foreach_norm: the vector `ord`-norm of each tensor (a 0-d tensor each)."""
    return tuple(vector_norm(t, ord, dtype=dtype) for t in _tensors(self, "_foreach_norm"))


for _name, _fn in _FUNCTIONS.items():
    base = _name.removeprefix("_foreach_").rstrip("_")
    what = (
        "in place on each tensor of a list (returns the list)"
        if _name.endswith("_")
        else "of each tensor of a list, as a tuple of new tensors"
    )
    _fn.__name__ = _fn.__qualname__ = _name
    _fn.__doc__ = f"Same as torch.{_name}: {base} {what}."
globals().update(_FUNCTIONS)

__all__ = [
    *_FUNCTIONS,
    "_foreach_clone",
    "_foreach_copy_",
    "_foreach_lerp",
    "_foreach_lerp_",
    "_foreach_norm",
    "_foreach_zero_",
]

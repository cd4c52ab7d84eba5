"""`out=`: writing an op's result into a tensor the caller gives, with PyTorch's rules.

This is the only implementation. The front door (`_front.py`) adds it to the public functions
of the ops PyTorch gives an `out=` keyword; an op function that takes `out` itself (because
it must check it early) ends with `return write_out("name", result, out)`.

The rules, as PyTorch's:
- `out` is a Tensor (a tuple of them, one per result, for ops with several results);
- in a recorded graph (grad mode on, and an input or `out` requires grad) it is refused:
  out= variants are not differentiable;
- the result must be castable to `out`'s dtype ("result type Float can't be cast to the
  desired output type Long"), and is cast to it;
- an `out` of another shape is resized, with PyTorch's deprecation warning when it held
  elements; the values are written, `out`'s version goes up, and `out` is returned.
"""

from __future__ import annotations

from ember._backend import array_module
from ember._dtype import category
from ember._tensor import InferenceVersion, Tensor, inference_on
from ember._warn import warn
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state


def _kind_rank(np_dtype) -> int:
    """bool < integer < floating < complex: a result may only be written into the same or a
    higher category (PyTorch's canCast)."""
    return category(np_dtype)


def _type_name(t):
    from ember.ops.indexing import type_word  # a family module: imported when first needed

    return type_word(t)


def check_out(op: str, out, inputs=()) -> None:
    """Refuse an unusable `out` before anything is computed or written."""
    targets = out if isinstance(out, (tuple, list)) else (out,)
    for target in targets:
        if not isinstance(target, Tensor):
            raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(target).__name__}")
    if DUAL_LEVEL_OPEN[0]:
        from ember.autograd import forward_ad

        if forward_ad.wants(tuple(inputs) + tuple(targets)):
            raise RuntimeError(
                f"Trying to use forward AD with {op}_out that does not support it because it "
                "is an out= function"
            )
    if _state.enabled:
        requires = any(t._requires_grad for t in targets) or any(
            isinstance(a, Tensor) and a._requires_grad for a in inputs
        )
        if requires:
            raise RuntimeError(
                f"{op}(): functions with out=... arguments don't support automatic "
                "differentiation, but one of the arguments requires grad."
            )
    for target in targets:  # after the autograd check, as PyTorch orders them
        if target._vc.__class__ is InferenceVersion and not inference_on():
            raise RuntimeError(
                "Inplace update to inference tensor outside InferenceMode is not allowed.You "
                "can make a clone to get a normal tensor before doing inplace update.See "
                "https://github.com/pytorch/rfcs/pull/17 for more details."
            )


def write_out(op: str, result, out):
    """Write `result` (a Tensor or a tuple of them) into `out` and return `out`; `result`
    itself when `out` is None."""
    if out is None:
        return result
    check_out(op, out, result if isinstance(result, tuple) else (result,))
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(
                f"{op}(): argument 'out' must be a tuple of {len(result)} Tensors, "
                f"not {type(out).__name__}"
            )
        for r, o in zip(result, out):
            _check_into(op, r, o)
        for r, o in zip(result, out):
            _write_into(r, o)
        kind = type(result)  # a named pair such as (values, indices) keeps its names
        return tuple(out) if kind is tuple else kind(*out)
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    _check_into(op, result, out)
    _write_into(result, out)
    return out


def _check_into(op, result, out):
    if result.device != out.device:
        raise RuntimeError(
            f"{op}(): Expected out tensor to have device {result.device}, but got "
            f"{out.device} instead"
        )
    if _kind_rank(result._data.dtype) > _kind_rank(out._data.dtype):
        raise RuntimeError(
            f"{op}(): result type {_type_name(result)} can't be cast to the desired output "
            f"type {_type_name(out)}"
        )


def _write_into(result, out):
    data = out._data
    if data.shape != result._data.shape:
        if data.size:
            warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(data.shape)}, which does not match the required output shape "
                f"{list(result._data.shape)}. This behavior is deprecated, and in a future "
                "release outputs will not be resized unless they have zero elements. You "
                "can explicitly reuse an out tensor t by resizing it, inplace, to zero "
                "elements with t.resize_(0).",
                UserWarning,
            )
        data = array_module(data).empty(result._data.shape, dtype=data.dtype)
        out._data = data
    data[...] = result._data
    out._vc[0] += 1

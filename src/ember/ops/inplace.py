"""In-place ops: add_, mul_, zero_, copy_, ... and the rules that keep their gradients right.

An in-place op that records a graph runs its out-of-place twin on the tensor's current value,
writes the result into the tensor's storage, and hands the tensor the twin's grad_fn. The
storage's version counter goes up, so any backward that saved the old value raises instead
of using the new one.
"""

from __future__ import annotations

from ember import _backend
from ember._tensor import InferenceVersion, Tensor, inference_on
from ember.autograd import forward_ad
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state
from ember.ops import pointwise
from ember.ops._primitive import Primitive
from ember.ops._table import S, register

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
_DUAL = DUAL_LEVEL_OPEN


def _records(tensor, others):
    return _state.enabled and (
        tensor._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)
    )


def check_inplace(tensor, others=()):
    """Refuse in-place changes that would make a gradient wrong, before anything changes."""
    if tensor._vc.__class__ is InferenceVersion and not inference_on():
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can "
            "make a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details."
        )
    if not _records(tensor, others):
        return
    if tensor.grad_fn is None and tensor._requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    if tensor._base is not None and tensor._view_of is None:
        raise RuntimeError(
            "ember does not support in-place operations that record autograd history on a "
            f"view (here a view of shape {list(tensor.shape)} of a tensor of shape "
            f"{list(tensor._base.shape)}). Apply the op to the base tensor, use the "
            "out-of-place op, or clone() the view first."
        )


def write_through(tensor, *others):
    """True when an in-place op can change the array directly (no graph to record, and no
    forward-mode tangent to carry)."""
    check_inplace(tensor, others)
    if not _backend.writeable(tensor._data):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if _DUAL[0] and forward_ad.wants((tensor, *others)):
        return False  # the op runs out of place, so its tangent comes with it
    return not _records(tensor, others)


def _write(tensor, result, op):
    """Copy `result`'s values into `tensor`'s storage after checking shape and dtype."""
    if result._data.shape != tensor._data.shape:
        raise RuntimeError(
            f"{op}: output with shape {list(tensor.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    if _CATEGORY[result._data.dtype.kind] > _CATEGORY[tensor._data.dtype.kind]:
        raise RuntimeError(
            f"{op}: result type {_type_word(result)} can't be cast to the desired output type "
            f"{_type_word(tensor)}"
        )
    tensor._data[...] = result._data


def _type_word(t):
    return {"float": "Float", "double": "Double", "int64": "Long", "int32": "Int"}.get(
        t.dtype.name, t.dtype.name.capitalize()
    )


def apply_inplace(tensor, fn, others=(), op="inplace"):
    """Run `fn(tensor)` out of place and make `tensor` hold (and own the graph of) the result."""
    if write_through(tensor, *others):
        _write(tensor, fn(tensor), op)
        tensor._vc[0] += 1
        return tensor
    before = Tensor._make(tensor._data, tensor._requires_grad, tensor.grad_fn, tensor._output_nr)
    dual = _DUAL[0] and forward_ad.wants((tensor, *others))
    if dual:
        forward_ad.set_tangent(before, forward_ad.tangent_of(tensor))
    result = fn(before)
    if dual:  # the tensor's new value carries the result's tangent (zeros if it has none)
        tangent = forward_ad.tangent_of(result)
        forward_ad.set_tangent(tensor, tangent if tangent is not None else result.detach() * 0)
    if tensor._view_of is not None:
        return _inplace_on_view(tensor, before, result, op)
    node = result.grad_fn
    _keep_saved_copy(node, before)  # backward may need the old value
    _write(tensor, result, op)
    tensor._vc[0] += 1
    tensor.grad_fn, tensor._output_nr = node, result._output_nr
    tensor._requires_grad = result._requires_grad
    _move_retained_grad(tensor, before)
    return tensor


def _move_retained_grad(tensor, before):
    """After an in-place op, a retained .grad belongs to the tensor's new version (PyTorch's
    rule): the retain_grad hook moves from the old node to the new one."""
    old_node = before.grad_fn
    if not tensor._retains_grad or old_node is None or old_node is tensor.grad_fn:
        return
    hooks = (old_node._tensor_hooks or {}).get(before._output_nr, [])
    for hook in list(hooks):
        ref = getattr(hook, "_retained", None)
        if ref is not None and ref() is tensor:
            hooks.remove(hook)
    tensor._retains_grad = False
    tensor.retain_grad()


def _inplace_on_view(view, before, result, op):
    """An in-place op that records a graph on a view: the base takes the new values through
    the view op's write_back (so the base's gradient is right), and the view is re-made from
    the updated base."""
    base, view_op, args, _ = view._view_of
    _keep_saved_copy(result.grad_fn, before)
    if result._data.shape != view._data.shape:
        raise RuntimeError(
            f"{op}: output with shape {list(view.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    apply_inplace(base, lambda b: view_op.write_back(b, result, *args), (result,), op)
    fresh = view_op.apply(base, *args)
    view.grad_fn, view._output_nr = fresh.grad_fn, fresh._output_nr
    view._requires_grad = fresh._requires_grad
    view._view_of = (base, view_op, args, view._vc[0])
    _move_retained_grad(view, before)
    return view


def _keep_saved_copy(node, before):
    """If `node` saved `before` (about to be overwritten), keep a copy of its values instead."""
    if node is not None and node._saved:
        node._saved = tuple(
            (_copy_of(before), 0) if entry is not None and entry[0] is before else entry
            for entry in node._saved
        )


def _copy_of(t):
    return Tensor._make(t._data.copy(), t._requires_grad, t.grad_fn, t._output_nr)


_UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide"}


def _arith_inplace(name):
    functional = getattr(pointwise, name)

    def method(self, other, *, alpha=1):
        if alpha != 1:
            other = pointwise.mul(other, alpha)
        if write_through(self, other):
            data = other._data if isinstance(other, Tensor) else other
            if isinstance(other, Tensor):
                same_dtype = data.dtype == self._data.dtype
            else:  # a float number into an integer tensor must raise, as PyTorch
                same_dtype = self._data.dtype.kind == "f" or not isinstance(other, float)
            if same_dtype and (self._data.dtype.kind == "f" or name != "div"):
                xp = _backend.array_module(self._data)
                try:
                    getattr(xp, _UFUNCS[name])(self._data, data, out=self._data)
                except ValueError:
                    raise RuntimeError(
                        f"{name}_: output with shape {list(self.shape)} doesn't match the "
                        f"broadcast shape {list(getattr(data, 'shape', ()))}"
                    ) from None
                self._vc[0] += 1
                return self
        return apply_inplace(self, lambda x: functional(x, other), (other,), f"{name}_")

    method.__name__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_: {name} in place."
    return method


def _unary_inplace(name, functional):
    def method(self, *args, **kwargs):
        return apply_inplace(self, lambda x: functional(x, *args, **kwargs), args, f"{name}_")

    method.__name__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_: {name} in place."
    return method


@register("fill", lambda lib, x: x.clone().fill_(0.5) + x, (S((3, 4)),))
class Fill(Primitive):
    """Every element set to a number: no gradient flows to the old values."""

    @staticmethod
    def forward(ctx, x, value):
        return _backend.array_module(x).full_like(x, value)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(grad.shape), None


def fill_(self, value):
    """Same as torch.Tensor.fill_."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        value = value.item()
    if write_through(self):
        self._data.fill(value)
        self._vc[0] += 1
        return self
    return apply_inplace(self, lambda x: Fill.apply(x, value), (), "fill_")


def zero_(self):
    """Same as torch.Tensor.zero_."""
    return fill_(self, 0)


@register("copy", lambda lib, x, s: x.clone().copy_(s) + x, (S((3, 4), (4,)), S((3, 4), ())))
class CopyFrom(Primitive):
    """x's shape and dtype with src's values (broadcast): the old values get no gradient, but
    the result stays in the graph, as PyTorch's copy_."""

    node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx, x, src):
        out = _backend.array_module(x).empty_like(x)
        out[...] = src
        return out

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        return (grad.new_zeros(grad.shape) if needs[0] else None), (grad if needs[1] else None)


def copy_(self, src, non_blocking=False):
    """Same as torch.Tensor.copy_: copy src's values (broadcast and cast) into this tensor."""
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    src = src.to(self.device)
    if write_through(self, src):
        try:
            self._data[...] = src._data
        except ValueError:
            raise RuntimeError(
                f"copy_: the size of src {list(src.shape)} must be broadcastable to the size of "
                f"this tensor {list(self.shape)}"
            ) from None
        self._vc[0] += 1
        return self
    return apply_inplace(self, lambda x: CopyFrom.apply(x, src), (src,), "copy_")


TENSOR_METHODS = {
    **{f"{n}_": _arith_inplace(n) for n in ("add", "sub", "mul", "div")},
    **{
        f"{n}_": _unary_inplace(n, getattr(pointwise, n))
        for n in ("pow neg exp log sqrt sin cos tanh sigmoid relu abs sign clamp clip").split()
    },
    "fill_": fill_,
    "zero_": zero_,
    "copy_": copy_,
}
TENSOR_METHODS["true_divide_"] = TENSOR_METHODS["div_"]
__all__ = []

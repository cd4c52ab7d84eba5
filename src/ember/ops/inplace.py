"""In-place ops: add_, mul_, zero_, copy_, ... and the rules that keep their gradients right.

An in-place op that records a graph runs its out-of-place twin on the tensor's current value,
writes the result into the tensor's storage, and hands the tensor the twin's grad_fn. The
storage's version counter goes up, so any backward that saved the old value raises instead
of using the new one. On a view, the base takes the result (through the view op's write_back)
and the view is re-made from the updated base, as PyTorch's CopySlices; sibling views re-make
themselves when next used (`refresh_view`). Views PyTorch refuses to change this way (made in
no_grad or inference mode, one of several outputs) raise its errors (`ViewRefusal`).
"""

from __future__ import annotations

from ember import _backend, _dtype
from ember._tensor import InferenceVersion, Tensor, inference_on
from ember.autograd import forward_ad
from ember.autograd.grad_mode import DUAL_LEVEL_OPEN, _state
from ember.ops import pointwise
from ember.ops._primitive import Primitive, ViewRefusal, move_retained_grad
from ember.ops._table import S, register
from ember.ops.strided import AsStrided, _geometry

_DUAL = DUAL_LEVEL_OPEN


def _records(tensor, others):
    """Whether an in-place op on `tensor` records a graph: grad mode is on and the tensor (a
    view: or its base, as PyTorch) or another input requires grad."""
    if not _state.enabled:
        return False
    if tensor._requires_grad or (tensor._base is not None and tensor._base._requires_grad):
        return True
    return any(isinstance(o, Tensor) and o._requires_grad for o in others)


def check_inplace(tensor, others=()):
    """Refuse in-place changes that would make a gradient wrong, before anything changes
    (PyTorch's rules, in its words); True when the op will record a graph."""
    if tensor._vc.__class__ is InferenceVersion and not inference_on():
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can "
            "make a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details."
        )
    if not _records(tensor, others):
        return False
    base = tensor._base
    if base is not None:
        view = tensor._view_of
        if view is None:  # a view no op can re-make (view(dtype)): not differentiable
            raise RuntimeError(
                "ember does not support in-place operations that record autograd history on "
                f"this view (a view of shape {list(tensor.shape)} of a tensor of shape "
                f"{list(base.shape)} that no view op can re-make, e.g. view(dtype)). Apply the "
                "op to the base tensor, use the out-of-place op, or clone() the view first."
            )
        if view[1].__class__ is ViewRefusal:
            raise view[1].error(tensor, indirect=False)
        if base._node is None and (base._requires_grad or tensor._requires_grad):
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
    elif tensor._node is None and tensor._requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    return True


def write_through(tensor, *others):
    """True when an in-place op can change the array directly (no graph to record, and no
    forward-mode tangent to carry)."""
    records = check_inplace(tensor, others)
    if not _backend.writeable(tensor._data):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if _DUAL[0] and forward_ad.wants((tensor, *others)):
        return False  # the op runs out of place, so its tangent comes with it
    return not records


def _write(tensor, result, op):
    """Copy `result`'s values into `tensor`'s storage after checking shape and dtype."""
    if result._data.shape != tensor._data.shape:
        raise RuntimeError(
            f"{op}: output with shape {list(tensor.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    if _dtype.category(result._data.dtype) > _dtype.category(tensor._data.dtype):
        raise RuntimeError(
            f"{op}: result type {_type_word(result)} can't be cast to the desired output type "
            f"{_type_word(tensor)}"
        )
    tensor._data[...] = result._data


def _type_word(t):
    from ember.ops.indexing import type_word  # a family module: imported when first needed

    return type_word(t)


def apply_inplace(tensor, fn, others=(), op="inplace"):
    """Run `fn(tensor)` out of place and make `tensor` hold (and own the graph of) the result."""
    if write_through(tensor, *others):
        _write(tensor, fn(tensor), op)
        tensor._vc[0] += 1
        return tensor
    old_node, old_nr = tensor._node, tensor._output_nr
    view = tensor._view_of
    if view is not None and view[1].__class__ is ViewRefusal:
        view = None  # (only reached when nothing is recorded: forward-mode AD alone)
    if view is not None:
        # the view's current value as a fresh view of its base: the view's old grad_fn (and
        # the hooks on it) drops out of the graph, as with PyTorch's CopySlices
        before = _remake(view)
    else:
        before = Tensor._make(tensor._data, tensor._requires_grad, old_node, old_nr)
    dual = _DUAL[0] and forward_ad.wants((tensor, *others))
    if dual:
        forward_ad.set_tangent(before, forward_ad.tangent_of(tensor))
    result = fn(before)
    if dual:  # the tensor's new value carries the result's tangent (zeros if it has none)
        tangent = forward_ad.tangent_of(result)
        forward_ad.set_tangent(tensor, tangent if tangent is not None else result.detach() * 0)
    node = result._node
    _keep_saved_copy(node, before)  # backward may need the old value
    if view is not None:
        _write_back(tensor, view, result, op)
    else:
        _write(tensor, result, op)
        tensor._vc[0] += 1
        tensor._node, tensor._output_nr = node, result._output_nr
        tensor._requires_grad = result._requires_grad
    if tensor._retains_grad:
        move_retained_grad(tensor, old_node, old_nr)
    return tensor


def _remake(view_of):
    """The view re-made from its base by its own view op, recording a graph."""
    base, recipe, args, _ = view_of
    enabled = _state.enabled
    _state.enabled = True
    try:
        return recipe.apply(base, *args)
    finally:
        _state.enabled = enabled


def _write_back(view, view_of, result, op):
    """An in-place op that records a graph on a view: the base takes the new values through
    the view op's write_back (so the base's gradient is right; an op without one writes
    through the view's place in memory, as_strided style), and the view is re-made from the
    updated base."""
    base, recipe, args, _ = view_of
    if result._data.shape != view._data.shape:
        raise RuntimeError(
            f"{op}: output with shape {list(view.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    if recipe.write_back is Primitive.write_back:
        strides, offset, _ = _geometry(view._data)
        where = (view._data.shape, strides, offset)
        write = lambda b: AsStrided.write_back(b, result, *where)  # noqa: E731
    else:
        write = lambda b: recipe.write_back(b, result, *args)  # noqa: E731
    if forward_ad.passes_tangent_to_base(view):
        apply_inplace(base, write, (result,), op)
    else:  # make_dual's and unpack_dual's views: their base keeps its own tangent
        with forward_ad.suspended():
            apply_inplace(base, write, (result,), op)
    fresh = _remake(view_of)
    view._node, view._output_nr = fresh._node, fresh._output_nr
    view._requires_grad = fresh._requires_grad
    view._view_of = (base, recipe, args, view._vc[0])


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
            kind = self._data.dtype.kind  # bfloat16's ("V") takes the op's path: math in float32
            if isinstance(other, Tensor):
                same_dtype = data.dtype == self._data.dtype
            else:  # a float number into an integer tensor must raise, as PyTorch
                same_dtype = kind == "f" or not isinstance(other, float)
            if same_dtype and kind != "V" and (kind == "f" or name != "div"):
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

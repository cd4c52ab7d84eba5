"""Introspection of what a node saved for its backward: grad_fn._saved_<name>, _raw_saved_<name>.

How a saved value gets its name (PyTorch names them after the arguments in its derivative
formulas; ember derives the same names from each op's signature instead of keeping a table):

- `_saved_tensors` / `_raw_saved_tensors`: every value the node saved, in the order forward
  gave them to `save_for_backward` (the only names a custom Function's node has).
- For ember's built-in ops, a saved value that is the op's own output is `result` (`result0`,
  `result1`, ... when the op has several outputs). The other saved values take, in order, the
  names of the op's public function's parameters, with `input` called `self` as in PyTorch:
  `mul(input, other)` saves `self` and `other`, `pow(input, exponent)` saves `self` and
  `exponent`, `exp` saves `result`. A value with no parameter left to name it has no name.
- A number or other non-tensor setting that the op kept on its ctx is `_saved_<attribute>`
  (`grad_fn._saved_dim` of a stack or cat).

`_saved_<name>` gives the value as backward would see it (checked against in-place changes,
passed through the unpack hook); `_raw_saved_<name>` gives a `SavedTensor`, which can register
a pack/unpack hook pair on that one value.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import weakref

from ember.autograd.graph import FREED_MESSAGE, SavedOutput
from ember.autograd.hooks import Packed

_RESULT = re.compile(r"result\d*")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class SavedTensor:
    """Same as torch.autograd.SavedTensor: one value a node saved for its backward, as
    `grad_fn._raw_saved_<name>` returns it. Made only by the graph; constructing one raises."""

    __slots__ = ("_node", "_index")

    def __new__(cls, *args, **kwargs):
        raise RuntimeError("Trying to create a SavedTensor object from Python is forbidden.")

    @classmethod
    def _of(cls, node, index):
        obj = object.__new__(cls)
        obj._node, obj._index = node, index
        return obj

    def _entry(self):
        saved = self._node._saved
        return None if saved is None else saved[self._index]

    @property
    def data(self):
        """What is stored: the pack hook's result when hooks are set, else the saved tensor
        (an output of the node itself comes back detached); None once the graph is freed."""
        entry = self._entry()
        if entry is None:
            return None
        value = entry[0]
        if value.__class__ is Packed:
            return value.value
        if value.__class__ is SavedOutput:
            from ember._tensor import Tensor

            out = Tensor._make(value.data)
            out._vc = value.vc
            return out
        return value

    @property
    def unpack_hook(self):
        """The unpack hook registered for this value, or None."""
        entry = self._entry()
        if entry is not None and entry[0].__class__ is Packed:
            return entry[0].unpack
        return None

    def unpack(self):
        """The saved value as backward gets it."""
        node = self._node
        if node._saved is None and node._freed:
            raise RuntimeError(FREED_MESSAGE)
        entry = self._entry()
        return None if entry is None else node._unpack(entry)

    def register_hooks(self, *hooks):
        """Pack this saved value with `pack_hook` now and unpack it with `unpack_hook` when
        backward needs it (one pair per value; see saved_tensors_hooks for the contract)."""
        if len(hooks) != 2 or not all(callable(h) for h in hooks):
            raise TypeError(
                "register_hooks(): incompatible function arguments. It takes exactly two "
                f"callables, register_hooks(pack_hook, unpack_hook); got {len(hooks)} "
                f"argument(s): {', '.join(type(h).__name__ for h in hooks)}"
            )
        node = self._node
        if node._saved is None:
            raise RuntimeError(
                "Calling register_hooks on a saved tensor after it has been freed. Saved "
                "intermediate values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward through the "
                "graph a second time or if you need to access saved variables after calling "
                "backward."
            )
        entry = self._entry()
        if entry is None:
            raise RuntimeError(
                "Calling register_hooks on a saved tensor with value None is forbidden"
            )
        if entry[0].__class__ is Packed:
            raise RuntimeError(
                "Calling register_hooks on a saved tensor whose hooks have already been set. "
                "Hint: only one pair of hooks is allowed at a time."
            )
        from ember.autograd import hooks as graph_hooks

        value = entry[0]
        edge = None
        if value.__class__ is SavedOutput:
            edge = (node, value.index)
        tensor = node._unpack(entry)  # raises if it was changed in place since it was saved
        packed = graph_hooks.pack(hooks, tensor, edge, weak=False)
        saved = list(node._saved)
        saved[self._index] = (packed, None)
        node._saved = tuple(saved)


def lookup(node, name):
    """The value behind grad_fn.<name> for a `_saved_*` or `_raw_saved_*` name."""
    raw = name.startswith("_raw_saved_")
    key = name[len("_raw_saved_") :] if raw else name[len("_saved_") :]
    saved = node._saved
    if key == "tensors":
        if saved is None:
            if node._freed:
                raise RuntimeError(FREED_MESSAGE)
            return ()
        if raw:
            return tuple(SavedTensor._of(node, i) for i in range(len(saved)))
        return tuple(None if entry is None else node._unpack(entry) for entry in saved)
    fn = node._fn
    if fn is not None and getattr(fn, "_builtin_op", False):
        index = _index_of(node, fn, key)
        if index is not None:
            if raw:
                if index < 0 or _is_tensor_entry(saved[index]):
                    return SavedTensor._of(node, max(index, 0))
            elif index < 0:
                raise RuntimeError(FREED_MESSAGE)
            else:
                entry = saved[index]
                return None if entry is None else node._unpack(entry)
        elif not raw and key and not key.startswith("_"):
            attributes = node.__dict__
            if key in attributes:
                return attributes[key]
    raise AttributeError(f"'{type(node).__name__}' object has no attribute '{name}'")


def _is_tensor_entry(entry):
    from ember._tensor import Tensor

    return (
        entry is None or entry[0].__class__ in (Packed, SavedOutput) or isinstance(entry[0], Tensor)
    )


def _index_of(node, fn, key):
    """Where the value named `key` sits in node._saved; -1 for a name the freed graph had."""
    saved = node._saved
    if saved is None:
        if node._freed and (key in _parameter_names(fn) or _RESULT.fullmatch(key)):
            return -1
        return None
    names = _entry_names(node, fn, saved)
    return names.index(key) if key in names else None


def _entry_names(node, fn, saved):
    params = _parameter_names(fn)
    names = []
    k = 0
    for entry in saved:
        nr = _output_number(node, entry)
        if nr is not None:
            names.append("result" if node._n_outputs == 1 else f"result{nr}")
            continue
        names.append(params[k] if k < len(params) else None)
        k += 1
    return names


def _output_number(node, entry):
    """Which output of `node` a saved entry holds, or None for an input or a constant."""
    if entry is None:
        return None
    value = entry[0]
    if value.__class__ is SavedOutput:
        return value.index
    if value.__class__ is Packed and value.edge is not None:
        owner = value.edge[0]
        if owner.__class__ is weakref.ref:  # a built-in op's entry holds its node weakly
            owner = owner()
        if owner is node:
            return value.edge[1]
    return None


@functools.cache
def _parameter_names(fn):
    """PyTorch-style names of a built-in op's positional parameters: those of its public
    function (`ember.<table name>`), else of its forward (ctx dropped, the first one `self`)."""
    module = sys.modules.get(fn.__module__)
    public = getattr(module, getattr(fn, "_table_name", ""), None)
    from_forward = not callable(public) or isinstance(public, type)
    target = fn.forward if from_forward else public
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return ()
    names = [p.name for p in parameters if p.kind in _POSITIONAL]
    if from_forward:
        names = ["self", *names[2:]] if len(names) > 1 else []
    return tuple("self" if n == "input" else n for n in names)


class _unsafe_preserve_version_counter:  # noqa: N801
    """Same as torch.autograd._unsafe_preserve_version_counter: on exit, the tensors' version
    counters are set back to what they were when this was made, hiding the in-place changes
    made meanwhile from autograd's checks on saved tensors. Unsafe: a saved tensor changed
    inside it gives wrong gradients silently. Accepts a tensor or a tuple of tensors."""

    def __init__(self, tensors):
        from ember._tensor import Tensor

        self.tensors = (tensors,) if isinstance(tensors, Tensor) else tensors
        if not isinstance(self.tensors, tuple):
            raise TypeError("_unsafe_preserve_version_counter expects a tensor or a tuple of them")
        self.versions = tuple(t._vc[0] for t in self.tensors)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        for t, version in zip(self.tensors, self.versions):
            t._vc[0] = version
        return False

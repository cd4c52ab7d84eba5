"""default_collate and default_convert: turn a list of samples into a batch, as PyTorch."""

from __future__ import annotations

import collections.abc
import copy
import re

import numpy

from ember import _backend, _dtype
from ember._tensor import Tensor

_STRING_OR_OBJECT = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _as_tensor(value):
    from ember.ops.creation import as_tensor

    return as_tensor(value)


def _tensor(value, dtype=None):
    from ember.ops.creation import tensor

    return tensor(value, dtype=dtype)


def stack_tensors(batch):
    """Stack equally shaped tensors along a new first dim (PyTorch's promotion, one device)."""
    first = batch[0]
    for i, t in enumerate(batch):
        if t.shape != first.shape:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(first.shape)} at entry 0 and {list(t.shape)} at entry {i}"
            )
        if t.device != first.device:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                f"{first.device}, {t.device}! (in stack)"
            )
    if any(t.requires_grad for t in batch):
        import ember

        if ember.is_grad_enabled() and hasattr(ember, "stack"):
            return ember.stack(batch, 0)
    dtype = first.dtype
    for t in batch[1:]:
        dtype = _dtype.promote_types(dtype, t.dtype)
    xp = _backend.array_module(first._data)
    out = xp.stack([t._data.astype(dtype.np, copy=False) for t in batch])
    return Tensor._make(out)


def _is_numpy_string(data):
    return type(data).__module__ == "numpy" and type(data).__name__ in ("str_", "bytes_")


def default_convert(data):
    """Same as torch.utils.data.default_convert: NumPy arrays and scalars become tensors."""
    if isinstance(data, Tensor):
        return data
    if type(data).__module__ == "numpy" and not _is_numpy_string(data):
        if isinstance(data, numpy.ndarray) and _STRING_OR_OBJECT.search(data.dtype.str):
            return data
        return _as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(like, values):
    """A mapping of like's type holding `values`, or a plain dict when that type can't be built."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(values)
            return clone
        return type(like)(values)
    except TypeError:
        return values


def _rebuild_sequence(like, items):
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(like)(items)
    except TypeError:
        return items


def _collate_numpy_array(batch):
    if _STRING_OR_OBJECT.search(batch[0].dtype.str):
        raise TypeError(default_collate_err_msg_format.format(batch[0].dtype))
    return stack_tensors([_as_tensor(b) for b in batch])


def collate(batch, *, collate_fn_map=None):
    """Same as torch.utils.data._utils.collate.collate: dispatch on the first element's type."""
    elem = batch[0]
    if collate_fn_map is not None:
        if type(elem) in collate_fn_map:
            return collate_fn_map[type(elem)](batch, collate_fn_map=collate_fn_map)
        for kind, fn in collate_fn_map.items():
            if isinstance(elem, kind):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        values = {
            key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem
        }
        return _rebuild_mapping(elem, values)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        items = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return items  # a list, as PyTorch
        return _rebuild_sequence(elem, items)
    raise TypeError(default_collate_err_msg_format.format(type(elem)))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    """Stack tensors."""
    return stack_tensors(batch)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    """Stack NumPy arrays into a tensor (string and object arrays are refused)."""
    return _collate_numpy_array(batch)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    """NumPy scalars become a 1-d tensor of their dtype."""
    return _as_tensor(numpy.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    """Python floats become a float64 tensor."""
    return _tensor(batch, dtype=_dtype.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    """Python ints (and bools) become an int64 (bool) tensor."""
    return _tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    """Strings and bytes stay a list."""
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    numpy.ndarray: collate_numpy_array_fn,
    (numpy.bool_, numpy.number, numpy.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Same as torch.utils.data.default_collate: stack tensors, arrays and numbers, recursively."""
    return collate(batch, collate_fn_map=default_collate_fn_map)

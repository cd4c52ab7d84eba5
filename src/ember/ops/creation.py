"""Creating tensors: from data, filled, ranges, and random (seeded by ember.manual_seed)."""

from __future__ import annotations

import math

from ember import _backend, _random
from ember._dtype import from_numpy_dtype, get_default_dtype, int64, to_dtype
from ember._size import Size
from ember._tensor import Tensor


def _size(size, op="tensor"):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) and not (isinstance(s, Tensor) and s.numel() == 1):
            raise TypeError(
                f"{op}(): size must be a tuple of ints, but got an element of type "
                f"{type(s).__name__}"
            )
        if int(s) < 0:
            raise RuntimeError(
                f"{op}(): Trying to create tensor with negative dimension {int(s)}: {list(size)}"
            )
    return tuple(int(s) for s in size)


def _device(device):
    return _backend.CPU if device is None else _backend.Device(device)


def _finish(array, requires_grad, device=None):
    if device is not None and device.type == "cuda":
        array = _backend.to_device(array, device)
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _host():
    return _backend.module_for(_backend.CPU)


def _infer_dtype(data):
    """The dtype PyTorch infers for nested Python data: bool, int64, or the default float."""
    flat = data
    while isinstance(flat, (list, tuple)) and flat:
        flat = flat[0]
    array = _host().asarray(data)
    kind = array.dtype.kind
    if kind == "b":
        return to_dtype("bool")
    if kind in "iu":
        return int64 if not hasattr(data, "dtype") else from_numpy_dtype(array.dtype)
    if kind == "f":
        return get_default_dtype() if not hasattr(data, "dtype") else from_numpy_dtype(array.dtype)
    if hasattr(data, "dtype"):  # ml_dtypes.bfloat16 ("V" to NumPy), or an unsupported dtype
        return from_numpy_dtype(array.dtype)
    raise TypeError(f"Could not infer dtype of {type(flat).__name__}")


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Same as torch.tensor: a new tensor (a copy) from data."""
    if isinstance(data, Tensor):
        array = _backend.to_host(data._data).copy()
        dtype = dtype or data.dtype
        device = device or data.device
    else:
        if _is_nested_tensors(data):
            data = _stack_nested(data)
        dtype = to_dtype(dtype) if dtype is not None else _infer_dtype(data)
        array = _host().array(data, dtype=dtype.np)
    return _finish(array.astype(to_dtype(dtype).np, copy=False), requires_grad, _device(device))


def _is_nested_tensors(data):
    return isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data)


def _stack_nested(data):
    return [x.tolist() if isinstance(x, Tensor) else x for x in data]


def as_tensor(data, dtype=None, device=None):
    """Same as torch.as_tensor: share memory with a tensor or NumPy array when possible."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    if hasattr(data, "__array_interface__") and device is None:
        out = from_numpy(_host().asarray(data))
        return out if dtype is None else out.to(dtype)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray):
    """Same as torch.from_numpy: a tensor sharing the array's memory."""
    if not isinstance(ndarray, _host().ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    from_numpy_dtype(ndarray.dtype)  # refuse dtypes ember does not have
    return Tensor._make(ndarray)


def _allocation_error(op, shape, dtype, error):
    return RuntimeError(
        f"{op}(): cannot allocate a tensor of size {list(shape)} and dtype {dtype} ({error})"
    )


def _filled(fill, size, dtype, device, requires_grad, default=None, op="tensor"):
    dtype = to_dtype(dtype) if dtype is not None else (default or get_default_dtype())
    device = _device(device)
    xp = _backend.module_for(device)
    shape = _size(size, op)
    try:
        array = xp.full(shape, fill, dtype=dtype.np)
    except (ValueError, MemoryError) as e:  # "array is too big", or out of memory
        raise _allocation_error(op, shape, dtype, e) from None
    return _finish(array, requires_grad, device if xp is _host() else None)


def zeros(*size, dtype=None, device=None, requires_grad=False, layout=None):
    """Same as torch.zeros."""
    return _filled(0, size, dtype, device, requires_grad, op="zeros")


def ones(*size, dtype=None, device=None, requires_grad=False, layout=None):
    """Same as torch.ones."""
    return _filled(1, size, dtype, device, requires_grad, op="ones")


def empty(
    *size,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
    memory_format=None,
):
    """Same as torch.empty (ember fills with zeros: no uninitialized memory leaks out)."""
    return _filled(0, size, dtype, device, requires_grad, op="empty")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.full (the dtype follows fill_value when not given)."""
    if dtype is None:
        dtype = (
            to_dtype("bool")
            if isinstance(fill_value, bool)
            else int64
            if isinstance(fill_value, int)
            else get_default_dtype()
        )
    return _filled(
        fill_value,
        (size,) if isinstance(size, int) else (tuple(size),),
        dtype,
        device,
        requires_grad,
        op="full",
    )


def _like(fill, input, dtype, device, requires_grad):
    return _filled(
        fill,
        (input.shape,),
        dtype or input.dtype,
        device or input.device,
        requires_grad,
    )


def zeros_like(
    input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None
):
    """Same as torch.zeros_like."""
    return _like(0, input, dtype, device, requires_grad)


def ones_like(
    input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None
):
    """Same as torch.ones_like."""
    return _like(1, input, dtype, device, requires_grad)


def empty_like(
    input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None
):
    """Same as torch.empty_like (zero-filled)."""
    return _like(0, input, dtype, device, requires_grad)


def full_like(
    input,
    fill_value,
    *,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    memory_format=None,
):
    """Same as torch.full_like."""
    return _like(fill_value, input, dtype, device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.eye."""
    dtype = to_dtype(dtype)
    device = _device(device)
    for name, value in (("n", n), ("m", m)):
        if value is not None and value < 0:
            raise RuntimeError(
                f"eye(): {name} must be greater or equal to 0, got {value} (negative)"
            )
    array = _host().eye(n, n if m is None else m, dtype=dtype.np)
    return _finish(array, requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.arange (int64 for integer arguments, else the default float)."""
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if (values[1] - values[0]) * values[2] < 0:
        raise RuntimeError("arange(): upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        dtype = int64 if all(isinstance(v, int) for v in values) else get_default_dtype()
    dtype = to_dtype(dtype)
    array = _host().arange(*values).astype(dtype.np)
    return _finish(array, requires_grad, _device(device))


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.linspace."""
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    dtype = to_dtype(dtype)
    array = _host().linspace(start, end, steps).astype(dtype.np)
    return _finish(array, requires_grad, _device(device))


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.logspace."""
    dtype = to_dtype(dtype)
    array = _host().logspace(start, end, steps, base=base).astype(dtype.np)
    return _finish(array, requires_grad, _device(device))


# --- random ---
def _kernel_name(dtype):
    """PyTorch's word for a dtype in its "not implemented for" errors."""
    words = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte"}
    words["bfloat16"] = "BFloat16"
    return words.get(dtype.name, dtype.name.capitalize())


def check_float_draw(dtype, kernel):
    """PyTorch's NotImplementedError for a float distribution drawn into a non-float dtype."""
    if not dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_kernel_name(dtype)}'")


def _draw(draw, size, dtype, device, requires_grad, generator, op="rand"):
    dtype = to_dtype(dtype)
    check_float_draw(dtype, "normal_kernel_cpu" if op == "randn" else "check_uniform_bounds")
    shape = _size(size, op)
    try:
        array = draw(_random.rng(generator), shape, dtype)
    except (ValueError, MemoryError) as e:
        raise _allocation_error(op, shape, dtype, e) from None
    return _finish(array.astype(dtype.np, copy=False), requires_grad, _device(device))


def rand(
    *size,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
):
    """Same as torch.rand: uniform on [0, 1)."""
    return _draw(
        lambda r, s, d: r.random(s, dtype=d.np if d.np.itemsize >= 4 else "float32"),
        size,
        dtype,
        device,
        requires_grad,
        generator,
        "rand",
    )


def randn(
    *size,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
):
    """Same as torch.randn: standard normal."""
    return _draw(
        lambda r, s, d: r.standard_normal(s, dtype=d.np if d.np.itemsize >= 4 else "float32"),
        size,
        dtype,
        device,
        requires_grad,
        generator,
        "randn",
    )


def _is_size(value):
    return isinstance(value, (tuple, list)) or (
        isinstance(value, Tensor) and value._data.ndim == 1 and value._data.dtype.kind in "iu"
    )


def _int_bound(value, name):
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"randint(): argument '{name}' must be int, not {type(value).__name__}")
    return value.__index__()


def _random_integers(low, high, shape, dtype, generator, op):
    """int64 array of integers in [low, high), as `dtype` allows them."""
    if low >= high:
        raise RuntimeError(  # PyTorch's words, after the op's name
            f"{op}: random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    if dtype.np.kind in "iu":
        info = _host().iinfo(dtype.np)
        if low < info.min or high - 1 > info.max:
            word = {"uint8": "unsigned char", "int8": "signed char", "int16": "short"}.get(
                dtype.np.name, dtype.np.name
            )
            bound = "from" if low < info.min else "to - 1"
            raise RuntimeError(f"{op}(): {bound} is out of bounds for {word}")
    elif dtype.np.kind == "b" and (low < 0 or high > 2):
        raise RuntimeError(f"{op}(): from and to must lie in [0, 2] for a bool tensor")
    return _random.rng(generator).integers(low, high, shape)


def randint(
    low=None,
    high=None,
    size=None,
    *,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
):
    """Same as torch.randint: integers drawn uniformly from [low, high), int64 by default.

    Every PyTorch form: `randint(high, size)`, `randint(low, high, size)`, and the same by
    keyword (`randint(high=10, size=(3,))`, `randint(2, high=5, size=(3,))`); low defaults
    to 0. `size` is a tuple, list or ember.Size. `dtype` may be any dtype (a float dtype gives
    integer values, and may then require grad). `generator`, `device` and `out=` as PyTorch.
    """
    if size is None and high is not None and _is_size(high):
        high, size = None, high  # randint(high, size)
    if high is None:
        if low is None:
            raise TypeError("randint() missing required argument 'high'")
        low, high = 0, low
    elif low is None:
        low = 0
    if size is None:
        raise TypeError("randint() missing required argument 'size' (position 3)")
    if not _is_size(size):
        raise TypeError(
            f"randint(): argument 'size' must be tuple of ints, not {type(size).__name__}"
        )
    low, high = _int_bound(low, "low"), _int_bound(high, "high")
    dtype = to_dtype(dtype) if dtype is not None else int64
    shape = _size((tuple(int(s) for s in size),), "randint")
    array = _random_integers(low, high, shape, dtype, generator, "randint")
    return _finish(array.astype(dtype.np), requires_grad, _device(device))


def randint_like(
    input,
    low=None,
    high=None,
    *,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    memory_format=None,
    generator=None,
):
    """Same as torch.randint_like: integers in [low, high) (low 0 when one bound is given)
    in a tensor of input's shape, dtype and device unless given."""
    if high is None:
        if low is None:
            raise TypeError("randint_like() missing required argument 'high'")
        low, high = 0, low
    elif low is None:
        low = 0
    return randint(
        low,
        high,
        tuple(input.shape),
        generator=generator,
        dtype=dtype or input.dtype,
        device=device or input.device,
        requires_grad=requires_grad,
    )


def empty_strided(
    size,
    stride,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad=False,
    pin_memory=False,
):
    """Same as torch.empty_strided: a tensor with the given sizes and strides (in elements)
    on a new storage just large enough for them. ember fills it with zeros."""
    shape = _size((tuple(size),), "empty_strided")
    stride = tuple(stride)
    if len(stride) != len(shape):
        raise RuntimeError(
            f"dimensionality of sizes ({len(shape)}) must match dimensionality of strides "
            f"({len(stride)})"
        )
    if any(not hasattr(s, "__index__") or s < 0 for s in stride):
        raise RuntimeError(
            f"Storage size calculation overflowed with sizes={list(shape)} and strides="
            f"{list(stride)}"
        )
    dtype = to_dtype(dtype) if dtype is not None else get_default_dtype()
    length = 0 if 0 in shape else 1 + sum((n - 1) * s for n, s in zip(shape, stride))
    storage = _host().zeros(max(length, 1), dtype=dtype.np)
    item = storage.itemsize
    array = _host().lib.stride_tricks.as_strided(storage, shape, tuple(s * item for s in stride))
    return _finish(array, requires_grad, _device(device))


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Same as torch.randperm: a random permutation of 0..n-1."""
    dtype = to_dtype(dtype) if dtype is not None else int64
    array = _random.rng(generator).permutation(n)
    return _finish(array.astype(dtype.np), requires_grad, _device(device))


def normal(
    mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False
):
    """Same as torch.normal (number or tensor mean and std)."""
    low = std.min().item() if isinstance(std, Tensor) and std.numel() else std
    if not isinstance(std, Tensor) or std.numel():
        if low < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {low}")
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        noise = randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
        return (noise * std + mean).detach()
    if size is None:
        raise TypeError("normal() needs a size when mean and std are numbers")
    return (
        randn(size, generator=generator, dtype=dtype, device=device) * std + mean
    ).requires_grad_(requires_grad)


def rand_like(
    input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None
):
    """Same as torch.rand_like."""
    return rand(
        input.shape,
        dtype=dtype or input.dtype,
        device=device or input.device,
        requires_grad=requires_grad,
    )


def randn_like(
    input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None
):
    """Same as torch.randn_like."""
    return randn(
        input.shape,
        dtype=dtype or input.dtype,
        device=device or input.device,
        requires_grad=requires_grad,
    )


def _new(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return _filled(fill, size, dtype or self.dtype, device or self.device, requires_grad)

    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.Tensor.new_full."""
    return _filled(
        fill_value, (tuple(size),), dtype or self.dtype, device or self.device, requires_grad
    )


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """Same as torch.Tensor.new_tensor."""
    return tensor(
        data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad
    )


def new(self, *args, dtype=None, device=None):
    """Same as torch.Tensor.new (legacy): `x.new(*sizes)` an uninitialized tensor of those
    sizes (ember's are zeros; an ember.Size counts as sizes), `x.new(data)` one from data (a
    list or tuple is data), `x.new()` an empty one; all of x's dtype and device."""
    dtype, device = dtype or self.dtype, device or self.device
    if not args:
        return _filled(0, (0,), dtype, device, False)
    if len(args) == 1 and isinstance(args[0], Size):
        return _filled(0, args, dtype, device, False)
    if len(args) == 1 and not isinstance(args[0], int):
        if isinstance(args[0], Tensor):
            return args[0].detach()
        return tensor(args[0], dtype=dtype, device=device)
    return _filled(0, args, dtype, device, False)


__all__ = [
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "empty_strided",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "normal",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "tensor",
    "zeros",
    "zeros_like",
]
TENSOR_METHODS = {
    "new_zeros": _new(0),
    "new_ones": _new(1),
    "new_empty": _new(0),
    "new_full": new_full,
    "new_tensor": new_tensor,
    "new": new,
}
del math

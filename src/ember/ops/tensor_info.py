"""What a tensor is, asked as PyTorch asks it: is_cpu, nbytes, itemsize, layout, is_signed(),
is_nonzero(), get_device(), ..., and the memory calls that are no-ops on ember's storage
(pin_memory, share_memory_).

`ember.strided` is the one layout ember has (sparse, quantized, nested and meta tensors are
not part of ember, so those questions answer False).
"""

from __future__ import annotations


class Layout:
    """A tensor's memory layout, as torch.layout: ember has only `ember.strided`."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return self.name


strided = Layout("strided")


def _false(self):
    return False


def _itemsize(self):
    return self._data.dtype.itemsize


def is_signed(self):
    """Same as torch.Tensor.is_signed: whether the dtype holds negative values."""
    return self._data.dtype.kind in "ifV"  # "V": bfloat16


def is_complex(self):
    """Same as torch.Tensor.is_complex: always False (ember has no complex dtypes)."""
    return False


def is_nonzero(self):
    """Same as torch.Tensor.is_nonzero: whether a one-element tensor is not zero."""
    size = self._data.size
    if size == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if size > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(self._data.reshape(-1)[0] != 0)


def is_same_size(self, other):
    """Same as torch.Tensor.is_same_size: whether both have the same shape."""
    return tuple(self.shape) == tuple(other.shape)


def is_pinned(self, device=None):
    """Same as torch.Tensor.is_pinned: False (ember never pins host memory)."""
    return False


def pin_memory(self, device=None):
    """Same as torch.Tensor.pin_memory, for code written for CUDA: returns the tensor itself
    (ember copies to a GPU from ordinary host memory)."""
    return self


def share_memory_(self):
    """Same as torch.Tensor.share_memory_ in effect for one process: returns the tensor
    itself. ember's storage is not moved to shared memory (is_shared() stays False); use
    threads, or the DataLoader, which passes batches between workers itself."""
    return self


def is_shared(self):
    """Same as torch.Tensor.is_shared: False (ember storage is process-local)."""
    return False


def get_device(self):
    """Same as torch.Tensor.get_device: -1 on the CPU, else the CUDA device index."""
    return -1 if self.device.type == "cpu" else (self.device.index or 0)


__all__ = ["strided"]
TENSOR_METHODS = {
    "is_cpu": property(lambda self: self.device.type == "cpu", doc="True on the CPU."),
    "nbytes": property(
        lambda self: self._data.size * self._data.dtype.itemsize,
        doc="Bytes the tensor's elements take (numel * itemsize).",
    ),
    "itemsize": property(_itemsize, doc="Bytes per element."),
    "layout": property(lambda self: strided, doc="ember.strided, the only layout."),
    "is_meta": property(_false, doc="False: ember has no meta tensors."),
    "is_sparse": property(_false, doc="False: ember has no sparse tensors."),
    "is_quantized": property(_false, doc="False: ember has no quantized tensors."),
    "is_nested": property(_false, doc="False: ember has no nested tensors."),
    "get_device": get_device,
    "is_complex": is_complex,
    "is_nonzero": is_nonzero,
    "is_pinned": is_pinned,
    "is_same_size": is_same_size,
    "is_shared": is_shared,
    "is_signed": is_signed,
    "pin_memory": pin_memory,
    "share_memory_": share_memory_,
}

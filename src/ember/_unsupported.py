"""PyTorch names ember leaves out on purpose: using one says so and what to use instead.

Each namespace's module-level `__getattr__` (PEP 562) asks `refuse` for names it lacks. The
error is an AttributeError, so `hasattr` and `getattr(x, name, default)` still work.
"""

from __future__ import annotations

_COMPLEX = (
    "ember has no complex dtypes: NumPy has them, but ember's ops and gradients are written "
    "for real numbers; keep real and imaginary parts as two real tensors"
)
_SPARSE = "ember has no sparse layouts: use a dense tensor (ember.zeros(...) and index_put_)"
_QUANT = "ember has no quantized tensors: train and run in float32 (or float16)"

ADVICE = {
    "ember": {
        "jit": "ember has no TorchScript: run the Python model as it is, or ember.compile(fn)",
        "autocast": "ember has no autocast: cast explicitly, e.g. model.half() and x.half()",
        **dict.fromkeys(("complex64", "complex128", "cfloat", "cdouble", "complex"), _COMPLEX),
        "view_as_complex": _COMPLEX,
        "view_as_real": _COMPLEX,
        "sparse_coo_tensor": _SPARSE,
        "sparse_csr_tensor": _SPARSE,
        "sparse": _SPARSE,
        "quantize_per_tensor": _QUANT,
        "quantize_per_channel": _QUANT,
        "quantization": _QUANT,
    },
    "ember.nn": {
        "DataParallel": (
            "ember has no single-process DataParallel: use one device, or "
            "nn.parallel.DistributedDataParallel with ember.distributed (one process per device)"
        ),
        "SyncBatchNorm": "ember has no SyncBatchNorm: use BatchNorm (statistics per process)",
    },
}


class UnsupportedError(AttributeError):
    """A PyTorch name ember deliberately does not provide; the message says what to use."""


def module_getattr(namespace: str):
    """A PEP 562 `__getattr__` for `namespace` that explains deliberately missing names."""
    advice = ADVICE[namespace]

    def __getattr__(name):  # noqa: N807
        if name in advice:
            torch_name = "torch" + namespace.removeprefix("ember")
            raise UnsupportedError(f"{torch_name}.{name} is not supported: {advice[name]}.")
        raise AttributeError(f"module '{namespace}' has no attribute '{name}'")

    return __getattr__

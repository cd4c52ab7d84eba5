"""ember: a PyTorch-compatible autograd and neural-network library on NumPy (and CuPy).

`import ember as torch` runs PyTorch-style code: tensors that record their history,
`backward()`, custom autograd Functions, and (as they land) nn, optim and utils.data.
"""

import math as _math

from ember import _allocator

_allocator.tune_malloc()  # a step's freed arrays stay for the next one (see _allocator)

from ember import (  # noqa: E402
    _backend,
    _dtype,
    _unsupported,
    autograd,
    cuda,
    distributed,
    distributions,
    func,
    linalg,
    nn,
    onnx,
    ops,
    optim,
    special,
    utils,
    viz,
)
from ember._backend import Device as device
from ember._compile import compile
from ember._dtype import (
    bfloat16,
    bool,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    result_type,
    set_default_dtype,
    short,
    uint8,
)
from ember._printing import set_printoptions
from ember._random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from ember._size import Size
from ember._storage import _MEMORY_FORMATS, memory_format
from ember._tensor import Tensor
from ember._tensor_types import CPU_TYPES as _CPU_TYPES
from ember._threads import get_num_threads, set_num_threads
from ember.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from ember.serialization import load, save

globals().update(ops.PUBLIC)
globals().update(_CPU_TYPES)

__version__ = "0.1.0"

# PyTorch's constants
inf = _math.inf
nan = _math.nan
e = _math.e
pi = _math.pi
# memory formats (ember tensors are always row-major: see ember.memory_format)
contiguous_format = _MEMORY_FORMATS["contiguous_format"]
preserve_format = _MEMORY_FORMATS["preserve_format"]
channels_last = _MEMORY_FORMATS["channels_last"]
channels_last_3d = _MEMORY_FORMATS["channels_last_3d"]


__getattr__ = _unsupported.module_getattr("ember")


def is_tensor(obj) -> bool:
    """Same as torch.is_tensor."""
    return isinstance(obj, Tensor)


def is_inference(input) -> bool:
    """Same as torch.is_inference: whether `input` was made inside inference_mode()."""
    return input.is_inference()


def numel(input) -> int:
    """Same as torch.numel."""
    return input.numel()


def get_device(input) -> int:
    """-1 for a CPU tensor, else the CUDA device index."""
    return -1 if input.device.type == "cpu" else (input.device.index or 0)


del _backend, _dtype, _math, _MEMORY_FORMATS, _unsupported

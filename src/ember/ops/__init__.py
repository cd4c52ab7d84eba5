"""ember.ops: every op. Each family module lists its public functions in `__all__` and its
Tensor methods in `TENSOR_METHODS`; this package gathers both and binds the methods."""

from ember._tensor import Tensor
from ember.ops import (
    compare,
    convert,
    creation,
    indexing,
    inplace,
    linalg,
    pointwise,
    reduction,
    shape,
)
from ember.ops._primitive import Primitive, unary
from ember.ops._table import OPS, OpSpec, S, register
from ember.ops.compare import *  # noqa: F403
from ember.ops.convert import cast, clone, contiguous, to_device
from ember.ops.creation import *  # noqa: F403
from ember.ops.indexing import getitem, setitem
from ember.ops.linalg import *  # noqa: F403
from ember.ops.pointwise import *  # noqa: F403
from ember.ops.reduction import *  # noqa: F403
from ember.ops.shape import *  # noqa: F403

FAMILIES = (compare, convert, creation, indexing, inplace, linalg, pointwise, reduction, shape)

PUBLIC = {}
for _family in FAMILIES:
    for _name in getattr(_family, "__all__", ()):
        PUBLIC[_name] = getattr(_family, _name)
    PUBLIC.update(getattr(_family, "ALIASES", {}))
    for _name, _method in _family.TENSOR_METHODS.items():
        setattr(Tensor, _name, _method)
globals().update(PUBLIC)

__all__ = ["OPS", "OpSpec", "PUBLIC", "Primitive", "S", "register", "unary"]

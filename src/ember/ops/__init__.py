"""ember.ops: every op, one module per family.

Each family module lists its public functions in `__all__` (exported as `ember.<name>`), extra
names in `ALIASES`, and its Tensor methods in `TENSOR_METHODS`. This package imports every
family module it finds, passes the public functions through the front door (`_front.py`:
`out=`), and binds the methods: a new family is a new file.
"""

import importlib
import pkgutil

from ember._tensor import Tensor
from ember.ops._front import public_function
from ember.ops._primitive import Primitive, unary
from ember.ops._table import OPS, OpSpec, S, register

FAMILIES = tuple(
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if not info.name.startswith("_")
)

FUNCTIONS = {}  # each family's own functions: what ember's code and Tensor's operators call
PUBLIC = {}  # the same through the front door: `ember.<name>`
for _family in FAMILIES:
    FUNCTIONS.update({name: getattr(_family, name) for name in getattr(_family, "__all__", ())})
    FUNCTIONS.update(getattr(_family, "ALIASES", {}))
    for _name, _method in getattr(_family, "TENSOR_METHODS", {}).items():
        setattr(Tensor, _name, _method)
PUBLIC.update({name: public_function(name, fn) for name, fn in FUNCTIONS.items()})
globals().update(FUNCTIONS)
globals().update({f.__name__.rsplit(".", 1)[1]: f for f in FAMILIES})

from ember.ops.convert import cast, clone, contiguous, to_device  # noqa: E402
from ember.ops.indexing import getitem, setitem  # noqa: E402

__all__ = ["OPS", "OpSpec", "PUBLIC", "Primitive", "S", "register", "unary"]

"""The op table: every op's test samples, gathered from the stanzas into `OPS`.

`call(lib, *tensors, **kwargs)` is the same lambda for lib=ember and lib=torch, so one test
checks ember's gradients against finite differences and its public API against PyTorch's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class S:
    """One sample: the input shapes and the keyword arguments for `call`."""

    def __init__(self, *shapes, **kwargs):
        self.shapes = shapes
        self.kwargs = kwargs

    def __repr__(self):
        shapes = ",".join("x".join(map(str, s)) or "0d" for s in self.shapes)
        kw = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{shapes}{'|' + kw if kw else ''}"


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table: how to call an op, and on what, for the generated tests."""

    name: str
    call: Callable[..., Any]
    samples: tuple
    domain: tuple = (-2.0, 2.0)  # inputs are drawn uniformly from here
    avoid: tuple = ()  # kinks and poles the samples keep away from
    gradgrad: bool = True  # False only with a `why`
    why: str = ""
    atol: float = 1e-5  # float32 comparison with torch
    eps: float = 1e-6  # finite-difference step (larger only for ops that round, like casts)
    primitive: Any = field(default=None, compare=False)
    family: str = ""  # the ops module that defines it, e.g. "pointwise"


OPS: dict[str, OpSpec] = {}


def register(name, call, samples, **options):
    """Record an op's samples in OPS; use as a decorator on a Primitive (or any callable)."""
    if name in OPS:
        raise ValueError(f"op {name!r} is registered twice")
    if options.get("gradgrad") is False and not options.get("why"):
        raise ValueError(f"op {name!r}: gradgrad=False needs a why")

    def decorate(obj):
        primitive = obj if isinstance(obj, type) else None
        family = getattr(obj, "__module__", "").rsplit(".", 1)[-1]
        OPS[name] = OpSpec(
            name, call, tuple(samples), primitive=primitive, family=family, **options
        )
        if primitive is not None:
            primitive._table_name = name
        return obj

    return decorate


# Shared sample sets: every binary op meets the broadcasting cases.
UNARY = (S((3, 4)), S(()), S((2, 1, 3)))
BINARY = (
    S((3, 4), (3, 4)),
    S((3, 4), (4,)),
    S((3, 1), (1, 4)),
    S((), (2, 3)),
    S((2, 3), ()),
)

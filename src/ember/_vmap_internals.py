"""torch._vmap_internals: the older vmap signature that PyTorch's own checks (gradcheck's
batched-gradient tests) still call, as a thin layer over `ember.func.vmap`."""

from __future__ import annotations

import functools

from ember._tensor import Tensor

_RANDOM_ERROR = (
    "vmap: We do not yet support calling random operations inside of vmap. Please perform "
    "random operations outside of vmap as a workaround"
)


def _vmap(func, in_dims=0, out_dims=0, allow_none_pass_through=False):
    """Same as torch._vmap_internals._vmap: `func` mapped over a dimension of its positional
    inputs, as `ember.func.vmap(func, in_dims, out_dims)`, with the older rules:

    - `out_dims` is an int or a tuple of ints;
    - `func` must return a Tensor or a tuple of Tensors; with `allow_none_pass_through=True`,
      None entries of the returned tuple come back as None (the way `autograd.grad` reports
      unused inputs);
    - random ops inside `func` are refused (RuntimeError), with no `randomness` flag.
    """
    name = getattr(func, "__name__", repr(func))
    if not (_is_int(out_dims) or (isinstance(out_dims, tuple) and all(map(_is_int, out_dims)))):
        raise ValueError(
            f"vmap({name}, ..., out_dims={out_dims}): `out_dims` must be an int or a tuple of "
            f"int representing where in the outputs the vmapped dimension should appear."
        )

    @functools.wraps(func)
    def wrapped(*args):
        from ember.func import vmap

        nones = set()  # positions of None outputs (allow_none_pass_through)

        def checked(*sample):
            out = func(*sample)
            if isinstance(out, Tensor):
                return out
            if not isinstance(out, tuple):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                    f"{type(out)} as the return."
                )
            for k, o in enumerate(out):
                if o is None and allow_none_pass_through:
                    nones.add(k)
                elif not isinstance(o, Tensor):
                    raise ValueError(
                        f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                        f"{type(o)} for return {k}."
                    )
            if not nones:
                return out
            return tuple(_placeholder() if k in nones else o for k, o in enumerate(out))

        try:
            result = vmap(checked, in_dims, out_dims)(*args)
        except RuntimeError as error:
            if str(error).startswith("vmap: called random operation"):  # torch.func's words
                raise RuntimeError(_RANDOM_ERROR) from error
            raise
        if nones and isinstance(result, tuple):
            result = tuple(None if k in nones else r for k, r in enumerate(result))
        return result

    return wrapped


def _placeholder():
    """Stands in for a None output while vmap stacks the samples' outputs."""
    from ember import zeros

    return zeros(())


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


__all__: list[str] = []

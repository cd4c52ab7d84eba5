"""functional_call: run a module with other tensors in place of its parameters and buffers."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from ember._tensor import Tensor

_MISSING = object()


def functional_call(
    module,
    parameter_and_buffer_dicts,
    args=None,
    kwargs=None,
    *,
    tie_weights=True,
    strict=False,
):
    """Same as torch.func.functional_call: `module(*args, **kwargs)` with the given tensors in
    place of its parameters and buffers.

    `parameter_and_buffer_dicts` maps dotted names (as `named_parameters()` and
    `named_buffers()` spell them: 'layer.0.weight') to tensors; a tuple or list of such dicts is
    merged (a name in two of them is an error). Names not given keep the module's own tensors;
    a name that is neither a parameter nor a buffer becomes a plain attribute for the call.
    `args` is a tuple of positional arguments (anything else is one argument); `kwargs` a
    dict. With `tie_weights=True` a tensor given for one of several tied names (the same
    Parameter reachable under two names) replaces all of them, and two different tensors for
    tied names raise. With `strict=True` the names must be exactly the module's parameters
    and buffers.

    The module is changed only during the call: its parameters and buffers are swapped in its
    `_parameters`/`_buffers` dicts and put back afterwards, also when the call raises.
    Gradients therefore flow to the given tensors (e.g. under `ember.func.grad`), not to the
    module's own parameters. As PyTorch, a buffer the module replaces during the call (say
    BatchNorm's running statistics) is written back into the given dict.
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts = {}
        for d in parameter_and_buffer_dicts:
            for key in d:
                counts[key] = counts.get(key, 0) + 1
        repeated = [key for key, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        tensors = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
            f"got {type(parameter_and_buffer_dicts)}"
        )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrized(module, tensors, tie_weights, strict):
        return module(*args, **kwargs)


def _named_tensors(module):
    """Every parameter and buffer name of `module`, tied duplicates included."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    return named


def _untie(module, tensors):
    """`tensors` with each name given for a tied tensor extended to all names it is tied to."""
    groups = {}
    for name, tensor in _named_tensors(module).items():
        groups.setdefault(id(tensor), set()).add(name)
    tied = {name: names for names in groups.values() if len(names) > 1 for name in names}
    given = [name for name in tensors if name in tied]
    for name in given:
        names = tied[name]
        values = {id(tensors[n]) for n in names if n in tensors}
        if len(values) > 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(names)}, which are "
                "tied. Consider using tie_weights=False"
            )
    untied = dict(tensors)
    for name in given:
        for other in tied[name]:
            untied[other] = tensors[name]
    return untied


@contextlib.contextmanager
def _reparametrized(module, given, tie_weights, strict):
    tensors = _untie(module, given) if tie_weights else given
    if strict:
        valid = set(_named_tensors(module))
        missing = sorted(valid - set(tensors))
        unexpected = sorted(set(tensors) - valid)
        messages = []
        if unexpected:
            messages.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            messages.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if messages:
            raise RuntimeError(
                f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(messages)
            )
    originals = {}
    try:
        for name, tensor in tensors.items():
            originals[name] = _swap(module, name, tensor)
        yield
    finally:
        now = {}
        for name, original in reversed(list(originals.items())):
            now[name] = _swap(module, name, original)
        # the module may have replaced a buffer during the call: hand the new one back
        given.update({name: now[name] for name in given if name in now})


def _swap(module, dotted, tensor):
    """Put `tensor` (or _MISSING: remove) at the dotted name; return what was there."""
    path, _, name = dotted.rpartition(".")
    owner = module.get_submodule(path)
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of ember.Tensor")
    for store in (owner._parameters, owner._buffers):
        if name in store:
            original = store[name]
            if tensor is _MISSING:
                del store[name]
            else:
                store[name] = tensor
            return original
    original = getattr(owner, name, _MISSING)
    if original is not _MISSING and original is not None and not isinstance(original, Tensor):
        raise TypeError(f"attribute `{name}`: {original} is not an instance of ember.Tensor")
    if tensor is _MISSING:
        if original is not _MISSING:
            delattr(owner, name)
    else:
        setattr(owner, name, tensor)
    return original

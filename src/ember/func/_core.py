"""What the transforms share: argnums, the differentiated inputs, the level test, backward.

PyTorch's torch.func tags each tensor with the transform level it belongs to. ember has one
reverse-mode graph instead, so a transform tells its own tensors from an outer one's by the
graph: it differentiates fresh leaves (`x.detach().requires_grad_()`) for inputs that need no
gradient, and a clone (still joined to the outer graph) for inputs that already do. A result
whose graph reaches only this transform's fresh leaves is detached before it is handed back,
as PyTorch unwraps it; one that reaches any other tensor needing a gradient (an outer
transform's input, a captured tensor, a module's Parameter) keeps its graph, so transforms
nest and compose with ordinary autograd. Once a transform has returned, its fresh leaves are
constants to everyone (PyTorch's dead level): an outer transform that meets them in the graph
of an inner one's result does not count them as outside.
"""

from __future__ import annotations

import contextlib
import weakref

from ember import autograd
from ember._tensor import Tensor
from ember.autograd.graph import AccumulateGrad
from ember.func._pytree import tree_flatten, tree_unflatten


def check_argnums(argnums):
    """PyTorch's checks of `argnums`: an int or a non-empty tuple of ints (distinct ones: see
    normalize_argnums, which knows the number of arguments)."""
    if isinstance(argnums, bool) or not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, tuple):
        if len(argnums) == 0:
            raise RuntimeError("argnums must be non-empty")
        for num in argnums:
            if isinstance(num, bool) or not isinstance(num, int):
                raise RuntimeError(f"argnum must be int, got: {type(num)}")


def normalize_argnums(argnums, n_args):
    """`argnums` as a tuple of non-negative positions, checked against the number of args."""
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    out = []
    for num in nums:
        if not -n_args <= num < n_args:
            raise RuntimeError(f"Got argnum={num}, but only {n_args} positional inputs")
        out.append(num % n_args)
    if len(set(out)) != len(out):
        raise RuntimeError(f"argnums elements must be unique, got {tuple(out)}")
    return tuple(out)


class Inputs:
    """The differentiated inputs of one transform call.

    `variables` is the flat list of tensors the transform differentiates (fresh leaves or
    clones), `specs` the pytree spec of each differentiated argument, `local` the ids of the
    fresh leaves (this transform's own level).
    """

    def __init__(self):
        self.variables = []
        self.specs = []
        self.counts = []
        self.local = set()
        self._keep = []  # the fresh leaves stay alive while their ids are in `local`

    def add(self, tree):
        """Replace each tensor of the pytree `tree` by a differentiable variable."""
        leaves, spec = tree_flatten(tree)
        made = [self._variable(leaf) for leaf in leaves]
        self.variables.extend(made)
        self.specs.append(spec)
        self.counts.append(len(made))
        return tree_unflatten(made, spec)

    def _variable(self, tensor):
        if not isinstance(tensor, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(tensor)}")
        if tensor.requires_grad:
            return tensor.clone()  # stays joined to the outer graph
        return self.fresh(tensor.detach())

    def fresh(self, tensor):
        """`tensor` (outside any graph) made a leaf that requires grad, owned by this call."""
        fresh = tensor.requires_grad_()
        self.local.add(id(fresh))
        self._keep.append(fresh)
        return fresh

    def finish(self):
        """The transform has returned: its fresh leaves are constants from now on."""
        for leaf in self._keep:
            key = id(leaf)
            _finished[key] = weakref.ref(leaf, lambda _, key=key: _finished.pop(key, None))

    def prepare(self, args, argnums):
        """`args` with those at `argnums` replaced by differentiable variables."""
        args = list(args)
        for num in normalize_argnums(argnums, len(args)):
            args[num] = self.add(args[num])
        return tuple(args)

    def split(self, flat):
        """A flat list (one entry per variable) as one pytree per differentiated argument."""
        trees, start = [], 0
        for spec, count in zip(self.specs, self.counts):
            trees.append(tree_unflatten(flat[start : start + count], spec))
            start += count
        return trees


def pick(trees, argnums):
    """The per-argument results as the user asked: one tree for an int argnums, else a tuple."""
    return trees[0] if isinstance(argnums, int) else tuple(trees)


_finished = {}  # id -> weakref of the fresh leaves of transforms that have returned


def _outside(leaf, local):
    """Whether a leaf that requires grad belongs to someone else than this call: not one of its
    own (`local`) and not a leftover of a transform that has returned."""
    if id(leaf) in local:
        return False
    ref = _finished.get(id(leaf))
    return ref is None or ref() is not leaf


def reaches_outside(tensors, local):
    """Whether the graph of any of `tensors` reaches a tensor needing a gradient whose id is not
    in `local`: then a result built from them belongs to an outer level too."""
    stack = []
    for t in tensors:
        if not isinstance(t, Tensor) or not t.requires_grad:
            continue
        if t.grad_fn is None:
            if _outside(t, local):
                return True
        else:
            stack.append(t.grad_fn)
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            if _outside(node.variable, local):
                return True
            continue
        for next_node, _ in node.next_functions:
            if next_node is not None:
                stack.append(next_node)
    return False


def unwrap(value, local, keep_graph=True):
    """`value` (a tensor or a pytree) with each tensor that belongs only to this level detached:
    what the transform hands back. With keep_graph False every tensor is detached."""
    leaves, spec = tree_flatten(value)
    out = []
    for leaf in leaves:
        if isinstance(leaf, Tensor) and leaf.requires_grad:
            if not keep_graph or not reaches_outside([leaf], local):
                leaf = leaf.detach()
        out.append(leaf)
    return tree_unflatten(out, spec)


def split_aux(output, who):
    """(output, aux) of a function run with has_aux=True, with PyTorch's checks."""
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(
            f"{who}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    for leaf in tree_flatten(output[1])[0]:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(leaf)}")
    return output


def check_tensor_outputs(leaves, who):
    """Every output leaf must be a Tensor, as torch.func's vjp and jvp require."""
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(
                f"{who}: expected f(*primals) to return only tensors, got unsupported type "
                f"{type(leaf)}"
            )


def backward(outputs, variables, cotangents, local, grad_mode, retain_graph=False, create=None):
    """The vector-Jacobian product: one gradient per variable (zeros where none flows).

    `create` (computed when None) says whether the result must keep its graph: only when grad
    mode was on outside the transform and the graph or a cotangent reaches an outer level.
    Returns (grads, create).
    """
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not pairs:
        return [zeros_like(v) for v in variables], False
    outs = [o for o, _ in pairs]
    cots = [c for _, c in pairs]
    if create is None:
        create = grad_mode and (any(c.requires_grad for c in cots) or reaches_outside(outs, local))
    grads = autograd.grad(
        outs,
        variables,
        cots,
        retain_graph=retain_graph or create,
        create_graph=create,
        allow_unused=True,
    )
    grads = [zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    if create:
        grads = [unwrap(g, local) for g in grads]
    return grads, create


def zeros_like(tensor):
    """Zeros of `tensor`'s shape, dtype and device, outside any graph."""
    import ember

    return ember.zeros_like(tensor, requires_grad=False)


def stack_columns(columns, dim, shape, like):
    """`columns` stacked along `dim` then viewed as `shape` (zeros when there are none)."""
    import ember

    if not columns:
        return ember.zeros(shape, dtype=like.dtype, device=like.device)
    return ember.stack(columns, dim=dim).reshape(shape)


RANDOM_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation out of "
    "vmap"
)


def check_randomness(randomness):
    """PyTorch's check of the `randomness` flag of vmap and jacfwd."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )


def rng_state():
    """The state of ember's global generator (the one random ops draw from by default)."""
    from ember import _random

    return _random.default_generator.get_state()


def set_rng_state(state):
    """Put ember's global generator back to a state from rng_state()."""
    from ember import _random

    _random.default_generator.set_state(state)


def check_no_draws(before):
    """Raise vmap's randomness error if the global generator moved since `before` (and put it
    back, so the failed call leaves the random stream as it found it)."""
    from ember import _random

    if _random.default_generator.get_state() != before:
        _random.default_generator.set_state(before)
        raise RuntimeError(RANDOM_ERROR)


@contextlib.contextmanager
def transform_call():
    """One call of a transform: yields (inputs, outer), the Inputs it makes and the caller's
    grad mode; once the call is over its fresh leaves count as constants (Inputs.finish)."""
    outer = autograd.is_grad_enabled()
    inputs = Inputs()
    try:
        yield inputs, outer
    finally:
        inputs.finish()

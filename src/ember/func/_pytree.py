"""A tiny pytree: flatten nested tuples, lists, dicts and namedtuples to leaves, and back.

The containers torch.func accepts as inputs and outputs. Everything else (a Tensor, a number,
None, any other object) is a leaf, as in torch.utils._pytree. Specs print as PyTorch's do, so
error messages that show a structure read the same.
"""

from __future__ import annotations


def _is_namedtuple(obj) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _kind(obj):
    """'namedtuple', 'tuple', 'list', 'dict' or None (a leaf)."""
    if isinstance(obj, tuple):
        return "namedtuple" if _is_namedtuple(obj) else "tuple"
    if isinstance(obj, list):
        return "list"
    if isinstance(obj, dict):
        return "dict"
    return None


class TreeSpec:
    """The shape of a pytree: its container kind, the context (dict keys, a namedtuple's class,
    the tuple or list subclass) and one spec per child. A leaf is `LEAF`."""

    __slots__ = ("kind", "type", "context", "children", "num_leaves")

    def __init__(self, kind, type_, context, children):
        self.kind = kind
        self.type = type_
        self.context = context
        self.children = children
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in children)

    def is_leaf(self) -> bool:
        return self.kind is None

    def __eq__(self, other):
        if not isinstance(other, TreeSpec):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.type is other.type
            and self.context == other.context
            and self.children == other.children
        )

    __hash__ = None

    def __repr__(self, indent=0):
        if self.kind is None:
            return "*"
        name = self.kind if self.kind == "namedtuple" else self.type.__name__
        context = self.context
        if self.kind == "namedtuple":
            context = self.type
        elif self.kind != "dict":
            context = None
        text = f"TreeSpec({name}, {context}, ["
        if self.children:
            indent += 2
            text += self.children[0].__repr__(indent)
            for child in self.children[1:]:
                text += ",\n" + " " * indent + child.__repr__(indent)
        return text + "])"


LEAF = TreeSpec(None, None, None, ())


def tree_flatten(tree):
    """(leaves, spec): the leaves of `tree` depth-first, and the spec tree_unflatten needs."""
    leaves = []
    spec = _flatten(tree, leaves)
    return leaves, spec


def _flatten(tree, leaves):
    kind = _kind(tree)
    if kind is None:
        leaves.append(tree)
        return LEAF
    if kind == "dict":
        keys = list(tree)
        children = [_flatten(tree[k], leaves) for k in keys]
        return TreeSpec(kind, type(tree), keys, children)
    children = [_flatten(child, leaves) for child in tree]
    return TreeSpec(kind, type(tree), None, children)


def tree_unflatten(leaves, spec):
    """The pytree of shape `spec` holding `leaves` (in tree_flatten's order)."""
    leaves = list(leaves)
    if len(leaves) != spec.num_leaves:
        raise ValueError(f"tree_unflatten: expected {spec.num_leaves} leaves, got {len(leaves)}")
    return _unflatten(iter(leaves), spec)


def _unflatten(leaves, spec):
    if spec.kind is None:
        return next(leaves)
    children = [_unflatten(leaves, child) for child in spec.children]
    if spec.kind == "dict":
        out = spec.type()  # dict, OrderedDict, ...
        out.update(zip(spec.context, children))
        return out
    if spec.kind == "namedtuple":
        return spec.type(*children)
    return spec.type(children)


def tree_map(fn, tree):
    """`tree` with `fn` applied to each leaf."""
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(leaf) for leaf in leaves], spec)


def broadcast_prefix(prefix, spec):
    """One value of `prefix` per leaf of `spec`, or None when `prefix` is not a prefix of it.

    A leaf of `prefix` (an int, None, ...) covers the whole subtree at its place, as torch.func
    reads in_dims and out_dims. Containers must match in kind and length (dicts: the same keys).
    """
    out = []
    return out if _broadcast(prefix, spec, out) else None


def _broadcast(prefix, spec, out):
    kind = _kind(prefix)
    if kind is None:
        out.extend([prefix] * spec.num_leaves)
        return True
    if kind != spec.kind or (kind == "namedtuple" and type(prefix) is not spec.type):
        return False
    if kind == "dict":
        if set(prefix) != set(spec.context):
            return False
        return all(_broadcast(prefix[k], c, out) for k, c in zip(spec.context, spec.children))
    if len(prefix) != len(spec.children):
        return False
    return all(_broadcast(p, c, out) for p, c in zip(prefix, spec.children))


class _Asterisk:
    def __repr__(self):
        return "*"


def spec_pprint(spec) -> str:
    """PyTorch's treespec_pprint: the tree with '*' for each leaf ('(*,)', "{'a': *}")."""
    return repr(tree_unflatten([_Asterisk()] * spec.num_leaves, spec))

"""The misuse table: wrong shapes, dtypes, indices, dims, devices, sizes, arguments and autograd
misuse each raise PyTorch's exception type, with a message that names the op and the problem,
and leave every tensor, gradient, parameter and optimizer state as it was.

Each case builds its objects for a library (`L` is ember or torch) and returns the misuse as
a callable plus the objects to watch. torch runs the same case to say which exception type is
due (cases torch cannot run, like CUDA ones, give the type).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember

SHAPE = ("shape", "size")
DTYPE = ("dtype", "type", "float", "double", "long")
RANGE = ("range", "bound")
DIM = ("dim",)


class Case:
    def __init__(self, id, words, build, torch_type=None, cuda=False):
        self.id, self.words, self.build = id, words, build
        self.torch_type, self.cuda = torch_type, cuda

    def __repr__(self):
        return self.id


def R(L, *shape, rg=True, dtype="float64"):
    """A tensor with varied, nonzero values (the same in ember and torch)."""
    n = int(np.prod(shape)) if shape else 1
    data = ((np.arange(n) % 7 - 3) / 4 + 0.1).reshape(shape)
    return L.tensor(data, dtype=getattr(L, dtype), requires_grad=rg and dtype.startswith("f"))


def on(fn, *shapes, rg=True, dtype="float64"):
    """A case on fresh tensors of these shapes: fn(L, *tensors)."""

    def build(L):
        ts = [R(L, *s, rg=rg, dtype=dtype) for s in shapes]
        return (lambda: fn(L, *ts)), ts

    return build


def with_(make, fn):
    """A case on objects from make(L): fn(L, *objects)."""

    def build(L):
        objs = make(L)
        return (lambda: fn(L, *objs)), list(objs)

    return build


def nothing(fn):
    """A case that builds nothing to watch (constructors)."""
    return lambda L: ((lambda: fn(L)), [])


def F(L):
    return L.nn.functional


def I(L, values):  # noqa: E743 - an index tensor
    return L.tensor(values)


CASES = []


def case(id, words, build, **kw):
    CASES.append(Case(id, (words,) if isinstance(words, str) else words, build, **kw))


# fmt: off
# --- shape mismatches in every binary op family
for _name, _fn in [
    ("add", lambda L, a, b: a + b),
    ("sub", lambda L, a, b: a - b),
    ("mul", lambda L, a, b: a * b),
    ("div", lambda L, a, b: a / b),
    ("pow", lambda L, a, b: a**b),
    ("maximum", lambda L, a, b: L.maximum(a, b)),
    ("minimum", lambda L, a, b: L.minimum(a, b)),
    ("atan2", lambda L, a, b: L.atan2(a, b)),
    ("hypot", lambda L, a, b: L.hypot(a, b)),
    ("fmod", lambda L, a, b: L.fmod(a, b)),
    ("remainder", lambda L, a, b: L.remainder(a, b)),
    ("xlogy", lambda L, a, b: L.xlogy(a, b)),
    ("lt", lambda L, a, b: a < b),
    ("eq", lambda L, a, b: L.eq(a, b)),
    ("lerp", lambda L, a, b: L.lerp(a, b, 0.5)),
    ("addcmul", lambda L, a, b: L.addcmul(a, a, b)),
    ("clamp", lambda L, a, b: L.clamp(a, min=b)),
    ("mse_loss", lambda L, a, b: F(L).mse_loss(a, b)),
]:
    case(f"shape-{_name}", (_name, SHAPE), on(_fn, (3, 4), (5,)))
case("shape-where", ("where", SHAPE), on(lambda L, a, b: L.where(a > 0, a, b), (3, 4), (5,)))
case("shape-matmul", ("matmul", SHAPE), on(lambda L, a, b: a @ b, (3, 4), (5, 6)))
case("shape-matmul-0d", ("matmul", ("1d", "1-d", "dim")), on(lambda L, a, b: a @ b, (), (3,)))
case("shape-mm", ("mm", SHAPE), on(lambda L, a, b: a.mm(b), (3, 4), (5, 6)))
case("shape-mm-1d", ("mm", ("matri", "2d", "2-d", "dim")),
     on(lambda L, a, b: a.mm(b), (4,), (4, 2)))
case("shape-bmm", ("bmm", SHAPE + ("batch",)),
     on(lambda L, a, b: L.bmm(a, b), (2, 3, 4), (3, 4, 5)))
case("shape-bmm-2d", ("bmm", ("3d", "3-d", "dim")), on(lambda L, a, b: L.bmm(a, b), (3, 4), (4, 5)))
case("shape-mv", ("mv", SHAPE), on(lambda L, a, b: a.mv(b), (3, 4), (5,)))
case("shape-dot", ("dot", SHAPE), on(lambda L, a, b: L.dot(a, b), (3,), (4,)))
case("shape-dot-2d", ("dot", ("1d", "1-d", "dim")), on(lambda L, a, b: L.dot(a, b), (3, 4), (3, 4)))
case("shape-outer-2d", ("outer", ("1d", "1-d", "dim")),
     on(lambda L, a, b: L.outer(a, b), (2, 2), (3,)))
case("shape-addmm", (("addmm", "mm"), SHAPE),
     on(lambda L, c, a, b: L.addmm(c, a, b), (3, 5), (3, 4), (5, 5)))
case("shape-einsum", ("einsum", SHAPE),
     on(lambda L, a, b: L.einsum("ij,jk->ik", a, b), (3, 4), (5, 6)))
case("shape-tensordot", ("tensordot", SHAPE),
     on(lambda L, a, b: L.tensordot(a, b, 1), (3, 4), (5, 6)))
case("shape-cat", ("cat", SHAPE), on(lambda L, a, b: L.cat([a, b]), (2, 3), (2, 4)))
case("shape-cat-ndim", ("cat", DIM), on(lambda L, a, b: L.cat([a, b]), (2, 3), (3,)))
case("shape-cat-empty", ("cat", ("empty", "non-empty")), nothing(lambda L: L.cat([])))
case("shape-stack", ("stack", SHAPE), on(lambda L, a, b: L.stack([a, b]), (2, 3), (3, 2)))
case("shape-masked_fill", ("masked_fill", SHAPE),
     on(lambda L, a, m: a.masked_fill(m > 0, 0.0), (3, 4), (5,)))
case("shape-expand", ("expand", SHAPE), on(lambda L, a: a.expand(5, 4), (3, 4)))
case("shape-broadcast_to", (("broadcast", "expand"), SHAPE),
     on(lambda L, a: L.broadcast_to(a, (5, 4)), (3, 4)))
case("shape-reshape", ("shape", "12"), on(lambda L, a: a.reshape(5), (3, 4)))
case("shape-view", ("shape", "12"), on(lambda L, a: a.view(5, 2), (3, 4)))
case("shape-split", ("split", ("sum", "size")), on(lambda L, a: L.split(a, [2, 2]), (5,)))
case("shape-unflatten", ("unflatten", ("size", "product", "shape")),
     on(lambda L, a: a.unflatten(0, (2, 2)), (5,)))
case("shape-repeat", ("repeat", DIM), on(lambda L, a: a.repeat(2), (2, 3)))
case("shape-permute", ("permute", DIM), on(lambda L, a: a.permute(0), (2, 3)))
case("shape-linear", (("linear", "mm"), SHAPE + ("mat1",)),
     on(lambda L, x, w: F(L).linear(x, w), (4, 5), (2, 3)))
case("shape-conv2d", ("conv2d", ("channel",)),
     on(lambda L, x, w: F(L).conv2d(x, w), (1, 3, 5, 5), (2, 4, 3, 3)))
case("shape-conv2d-bias", ("conv2d", "bias", "2"),
     on(lambda L, x, w, b: F(L).conv2d(x, w, b), (1, 3, 5, 5), (2, 3, 3, 3), (3,)))
case("shape-solve", ("solve", ("square",)), on(lambda L, a, b: L.linalg.solve(a, b), (3, 4), (3,)))
case("shape-inv", ("inv", ("square",)), on(lambda L, a: L.linalg.inv(a), (3, 4)))
case("shape-det", ("det", ("square",)), on(lambda L, a: L.linalg.det(a), (3, 4)))
case("shape-cholesky", ("cholesky", ("square",)), on(lambda L, a: L.linalg.cholesky(a), (3, 4)))
case("shape-cross", ("cross", ("3",)), on(lambda L, a, b: L.linalg.cross(a, b), (3, 4), (3, 4)))
case("shape-gather-ndim", ("gather", DIM), on(lambda L, a: L.gather(a, 1, I(L, [0, 1])), (3, 4)))
case("shape-pad", ("pad", ("length", "size", "dim")),
     on(lambda L, a: F(L).pad(a, (1, 1, 1, 1)), (3,)))
case("shape-layer_norm", ("layer_norm", SHAPE), on(lambda L, a: F(L).layer_norm(a, (5,)), (3, 4)))
case("shape-binary_cross_entropy", ("size",),
     on(lambda L, a, b: F(L).binary_cross_entropy(L.sigmoid(a), L.sigmoid(b)), (4,), (3,)))
case("shape-cross_entropy", ("batch", SHAPE),
     on(lambda L, a: F(L).cross_entropy(a, I(L, [0, 1, 2])), (4, 5)))
case("shape-add_", ("add_", SHAPE), on(lambda L, a, b: a.add_(b), (3,), (2, 3), rg=False))
case("shape-mul_", ("mul_", SHAPE), on(lambda L, a, b: a.mul_(b), (3,), (4,), rg=False))
case("shape-copy_", ("copy_", SHAPE + ("broadcast",)),
     on(lambda L, a, b: a.copy_(b), (3,), (4,), rg=False))
case("shape-setitem", (SHAPE, "5"), on(lambda L, a, b: a.__setitem__(0, b), (3, 4), (5,), rg=False))
case("shape-index_put_", ("index_put", SHAPE),
     on(lambda L, a, b: a.index_put_((I(L, [0, 1]),), b), (3, 4), (5,), rg=False))

# --- wrong dtypes
case("dtype-int-requires-grad", ("floating", "grad"),
     nothing(lambda L: L.tensor([1, 2], requires_grad=True)))
case("dtype-requires_grad_-int", ("floating",),
     with_(lambda L: (I(L, [1, 2]),), lambda L, i: i.requires_grad_()))
for _name, _fn, _shapes in [
    ("mm", lambda L, a, b: a.mm(b), ((3, 4), (4, 2))),
    ("bmm", lambda L, a, b: L.bmm(a, b), ((2, 3, 4), (2, 4, 2))),
    ("matmul", lambda L, a, b: a @ b, ((3, 4), (4, 2))),
    ("dot", lambda L, a, b: L.dot(a, b), ((3,), (3,))),
    ("mv", lambda L, a, b: L.mv(a, b), ((3, 4), (4,))),
    ("linear", lambda L, a, b: F(L).linear(a, b), ((3, 4), (2, 4))),
    ("conv2d", lambda L, a, b: F(L).conv2d(a, b), ((1, 2, 4, 4), (1, 2, 3, 3))),
]:
    case(
        f"dtype-{_name}-mixed",
        ((_name, "mm") if _name == "linear" else _name, DTYPE),
        on(lambda L, a, b, f=_fn: f(L, a, b.double()), *_shapes, dtype="float32"),
    )
case("dtype-conv2d-bias", ("conv2d", DTYPE),
     on(lambda L, x, w, b: F(L).conv2d(x, w, b.double()), (1, 2, 4, 4), (1, 2, 3, 3), (1,),
        dtype="float32"))
case("dtype-linear-bias", (("linear", "addmm"), DTYPE),
     on(lambda L, x, w, b: F(L).linear(x, w, b.double()), (2, 3), (1, 3), (1,), dtype="float32"))
case("dtype-index_select-float", ("index_select", DTYPE),
     on(lambda L, a: L.index_select(a, 0, L.tensor([0.0])), (3,)))
case("dtype-gather-float", ("gather", DTYPE),
     on(lambda L, a: L.gather(a, 0, L.tensor([0.0])), (3,)))
case("dtype-scatter-float", ("scatter", DTYPE),
     on(lambda L, a: L.scatter(a, 0, L.tensor([0.0]), 1.0), (3,)))
case("dtype-take-float", ("take", DTYPE), on(lambda L, a: L.take(a, L.tensor([0.0])), (3,)))
case("dtype-index-float", ("indices", ("long", "int")), on(lambda L, a: a[L.tensor([0.5])], (3,)))
case("dtype-embedding-float", ("embedding", ("long", "int", "dtype")),
     on(lambda L, w: F(L).embedding(L.tensor([0.0]), w), (3, 2)))
case("dtype-index_add-float", ("index_add", DTYPE),
     on(lambda L, a, s: L.index_add(a, 0, L.tensor([0.0]), s), (3,), (1,)))
case("dtype-masked_fill-float", ("masked_fill", ("bool",)),
     on(lambda L, a: a.masked_fill(a * 1.0, 0.0), (3,)))
case("dtype-where-float", ("where", ("bool",)), on(lambda L, a: L.where(a * 1.0, a, a), (3,)))
case("dtype-add_-int", ("add_", DTYPE), with_(lambda L: (I(L, [1, 2]),), lambda L, i: i.add_(1.5)))
case("dtype-bool-sub", ("sub", ("bool",)),
     with_(lambda L: (L.tensor([True, False]),), lambda L, b: b - b))
case("dtype-bool-neg", ("neg", ("bool",)),
     with_(lambda L: (L.tensor([True, False]),), lambda L, b: -b))
case("dtype-bitwise_and-float", ("bitwise_and", ("float", "double")),
     on(lambda L, a: L.bitwise_and(a, a), (3,), rg=False))
case("dtype-nll_loss-float-target", ("nll_loss", DTYPE),
     on(lambda L, a: F(L).nll_loss(a, L.tensor([0.0, 1.0])), (2, 3)))

# --- indices out of range
case("index-getitem", ("index", RANGE, "5"), on(lambda L, a: a[5], (3,)))
case("index-getitem-dim1", ("index", RANGE, "7"), on(lambda L, a: a[:, 7], (3, 4)))
case("index-getitem-negative", ("index", RANGE, "-4"), on(lambda L, a: a[-4], (3,)))
case("index-getitem-tensor", ("index", RANGE, "3"), on(lambda L, a: a[I(L, [3])], (3,)))
case("index-getitem-mask", ("mask", SHAPE), on(lambda L, a: a[L.tensor([True, False])], (3,)))
case("index-setitem", ("index", RANGE, "5"), on(lambda L, a: a.__setitem__(5, 1.0), (3,), rg=False))
case("index-index_select", ("index", RANGE), on(lambda L, a: L.index_select(a, 0, I(L, [5])), (3,)))
case("index-gather", ("gather", RANGE, "9"), on(lambda L, a: L.gather(a, 1, I(L, [[9]])), (3, 4)))
case("index-scatter", ("scatter", RANGE, "9"),
     on(lambda L, a: L.scatter(a, 1, I(L, [[9]]), 1.0), (3, 4)))
case("index-take", ("take", RANGE, "20"), on(lambda L, a: L.take(a, I(L, [20])), (3, 4)))
case("index-embedding", ("index", RANGE), on(lambda L, w: F(L).embedding(I(L, [7]), w), (3, 2)))
case("index-narrow", ("narrow", RANGE, "5"), on(lambda L, a: a.narrow(0, 5, 1), (3,)))
case("index-select", ("select", RANGE, "5"), on(lambda L, a: a.select(0, 5), (3,)))
case("index-index_add", ("index_add", RANGE, "5"),
     on(lambda L, a, s: L.index_add(a, 0, I(L, [5]), s), (3,), (1,)))
case("index-index_put_", ("index", RANGE, "5"),
     on(lambda L, a: a.index_put_((I(L, [5]),), L.tensor(1.0, dtype=L.float64)), (3,), rg=False))
case("index-cross_entropy", ("target", RANGE, "5"),
     on(lambda L, a: F(L).cross_entropy(a, I(L, [5, 0])), (2, 3)))
case("index-nll_loss", ("target", RANGE, "5"),
     on(lambda L, a: F(L).nll_loss(a, I(L, [5, 0])), (2, 3)))
case("index-one_hot", ("one_hot", ("num_classes", "class")),
     nothing(lambda L: F(L).one_hot(I(L, [0, 4]), 3)))

# --- dims out of range
for _name, _fn in [
    ("sum", lambda L, a: a.sum(dim=2)),
    ("mean", lambda L, a: a.mean(dim=-3)),
    ("softmax", lambda L, a: L.softmax(a, dim=2)),
    ("log_softmax", lambda L, a: L.log_softmax(a, dim=5)),
    ("cat", lambda L, a: L.cat([a, a], dim=2)),
    ("stack", lambda L, a: L.stack([a, a], dim=4)),
    ("transpose", lambda L, a: a.transpose(0, 5)),
    ("squeeze", lambda L, a: a.squeeze(3)),
    ("unsqueeze", lambda L, a: a.unsqueeze(4)),
    ("flatten", lambda L, a: a.flatten(3)),
    ("cumsum", lambda L, a: a.cumsum(dim=2)),
    ("max", lambda L, a: a.max(dim=2)),
    ("argmax", lambda L, a: a.argmax(dim=2)),
    ("sort", lambda L, a: a.sort(dim=3)),
    ("var", lambda L, a: a.var(dim=3)),
    ("logsumexp", lambda L, a: a.logsumexp(dim=3)),
    ("flip", lambda L, a: a.flip(3)),
    ("size", lambda L, a: a.size(5)),
    ("prod", lambda L, a: a.prod(dim=2)),
    ("amax", lambda L, a: a.amax(dim=2)),
    ("narrow", lambda L, a: a.narrow(2, 0, 1)),
    ("select", lambda L, a: a.select(2, 0)),
    ("diagonal", lambda L, a: a.diagonal(0, 0, 2)),
    ("movedim", lambda L, a: L.movedim(a, 0, 2)),
    ("gather", lambda L, a: L.gather(a, 2, I(L, [[0]]))),
    ("index_select", lambda L, a: L.index_select(a, 2, I(L, [0]))),
    ("chunk", lambda L, a: L.chunk(a, 2, dim=2)),
    ("split", lambda L, a: L.split(a, 1, dim=2)),
    ("norm", lambda L, a: a.norm(dim=2)),
    ("roll", lambda L, a: L.roll(a, 1, dims=2)),
]:
    case(f"dim-{_name}", (_name, DIM, RANGE), on(_fn, (3, 4)))
case("dim-topk", ("topk", RANGE), on(lambda L, a: a.topk(5), (3, 4)))

# --- autograd misuse


def _backward_done(L):
    x = R(L, 3)
    y = (x * x).sum()
    y.backward()
    return x, y


class _Doubler:
    """Custom Functions whose backward returns the wrong thing (made per library)."""

    @staticmethod
    def make(L, backward):
        class Fn(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        Fn.backward = staticmethod(backward)
        return Fn


def _saved_then_changed(L):
    x = R(L, 3)
    y = x * 1.0
    z = (y * y).sum()
    y.add_(1.0)
    return x, z


case("autograd-backward-twice", ("backward", "second time"),
     with_(_backward_done, lambda L, x, y: y.backward()))
case("autograd-non-scalar", ("scalar",), on(lambda L, x: (x * 2).backward(), (3,)))
case(
    "autograd-grad-not-requiring",
    ("require",),
    with_(
        lambda L: (R(L, 3), R(L, 3, rg=False)), lambda L, x, z: L.autograd.grad((x * 2).sum(), z)
    ),
)
case("autograd-backward-no-grad-fn", ("grad",), on(lambda L, x: x.sum().backward(), (3,), rg=False))
case("autograd-grad-unused", ("allow_unused",),
     on(lambda L, x, z: L.autograd.grad((x * 2).sum(), [x, z]), (3,), (3,)))
case("autograd-inplace-leaf", ("leaf", ("in-place", "inplace")), on(lambda L, x: x.add_(1.0), (3,)))
case("autograd-inplace-leaf-setitem", ("leaf", ("in-place", "inplace")),
     on(lambda L, x: x.__setitem__(0, 1.0), (3,)))
case("autograd-inplace-saved", ("modified", "inplace"),
     with_(_saved_then_changed, lambda L, x, z: z.backward()))
case("autograd-requires_grad-non-leaf", ("leaf",),
     on(lambda L, x: (x * 2).requires_grad_(False), (3,)))
case("autograd-numpy-requires-grad", ("numpy", "requires grad"), on(lambda L, x: x.numpy(), (3,)))
case("autograd-item-many", ("12", "scalar"), on(lambda L, x: x.item(), (3, 4)))
case("autograd-bool-many", ("ambiguous",), on(lambda L, x: bool(x), (3,)))
case("autograd-backward-gradient-shape", (SHAPE,),
     on(lambda L, x: (x * 2).backward(L.ones(5, dtype=L.float64)), (3,)))
case("autograd-grad-outputs-shape", (SHAPE,),
     on(lambda L, x: L.autograd.grad(x * 2, x, L.ones(5, dtype=L.float64)), (3,)))
case("autograd-retain_grad-no-grad", ("retain_grad", "requires_grad"),
     on(lambda L, x: (x * 2).retain_grad(), (3,), rg=False))
case("autograd-hook-no-grad", ("hook", ("require",)),
     on(lambda L, x: x.register_hook(print), (3,), rg=False))
case("autograd-grad-assign-shape", ("size", "grad"),
     on(lambda L, x: setattr(x, "grad", L.ones(5, dtype=L.float64)), (3,)))
case("autograd-grad-assign-dtype", ("type",), on(lambda L, x: setattr(x, "grad", L.ones(3)), (3,)))
case("autograd-detach_-view", ("view", "detach"), on(lambda L, x: (x * 1.0)[:2].detach_(), (3,)))
case("autograd-backward-empty-inputs", ("inputs", "empty"),
     on(lambda L, x: (x * 2).sum().backward(inputs=[]), (3,)))
case("autograd-function-too-many-grads", ("backward", ("number", "incorrect")),
     on(lambda L, x: _Doubler.make(L, lambda ctx, g: (g, g)).apply(x).sum().backward(), (3,)))
case(
    "autograd-function-grad-shape",
    ("backward", SHAPE),
    on(
        lambda L, x: (
            _Doubler.make(L, lambda ctx, g: L.ones(5, dtype=L.float64)).apply(x).sum().backward()
        ),
        (3,),
    ),
)
case("autograd-function-grad-type", ("float", "tensor"),
     on(lambda L, x: _Doubler.make(L, lambda ctx, g: 1.0).apply(x).sum().backward(), (3,)))

# --- mixed devices (the test-only fake CUDA device; torch here has no CUDA to compare)


def _cpu_and_cuda(L, shape_a=(3, 4), shape_b=(3, 4)):
    return R(L, *shape_a), R(L, *shape_b).cuda()


for _name, _fn, _b in [
    ("add", lambda L, a, b: a + b, (3, 4)),
    ("mm", lambda L, a, b: a.mm(b), (4, 2)),
    ("matmul", lambda L, a, b: a @ b, (4, 2)),
    ("cat", lambda L, a, b: L.cat([a, b]), (3, 4)),
    ("where", lambda L, a, b: L.where(a > 0, a, b), (3, 4)),
    ("linear", lambda L, a, b: F(L).linear(a, b), (2, 4)),
    ("index_select", lambda L, a, b: L.index_select(a, 0, I(L, [0]).cuda()), (1,)),
]:
    case(
        f"device-{_name}",
        ("device",),
        with_(lambda L, b=_b: _cpu_and_cuda(L, (3, 4), b), _fn),
        torch_type=RuntimeError,
        cuda=True,
    )
case(
    "device-add_",
    ("device",),
    with_(lambda L: (R(L, 3, rg=False), R(L, 3).cuda()), lambda L, a, b: a.add_(b)),
    torch_type=RuntimeError,
    cuda=True,
)
case(
    "device-numpy",
    ("numpy", "cuda"),
    with_(lambda L: (R(L, 3, rg=False).cuda(),), lambda L, a: a.numpy()),
    torch_type=TypeError,
    cuda=True,
)

# --- NaN/inf where an error is due, negative and huge sizes
for _name, _probs in [("negative", [0.5, -0.1]), ("nan", [0.5, np.nan]), ("inf", [0.5, np.inf])]:
    case(
        f"value-multinomial-{_name}",
        ("multinomial", ("inf", "nan", "negative", "< 0")),
        with_(lambda L, p=_probs: (L.tensor(p),), lambda L, p: L.multinomial(p, 1)),
    )
case("value-multinomial-zero", ("multinomial", ("sum", "zero", "invalid")),
     with_(lambda L: (L.zeros(3),), lambda L, p: L.multinomial(p, 1)))
case("value-multinomial-too-many", ("multinomial", ("replacement",)),
     with_(lambda L: (L.ones(3),), lambda L, p: L.multinomial(p, 5)))
case("value-bernoulli-p", ("bernoulli", ("0", "1")),
     with_(lambda L: (L.tensor([0.5, 1.5]),), lambda L, p: L.bernoulli(p)))
case("value-normal-std", ("normal", ("std",)), nothing(lambda L: L.normal(L.zeros(2), -L.ones(2))))
for _name, _fn in [
    ("zeros-negative", lambda L: L.zeros(-1)),
    ("zeros-huge", lambda L: L.zeros(2**62)),
    ("empty-huge", lambda L: L.empty(2**40, 2**40)),
    ("ones-negative", lambda L: L.ones(2, -1)),
    ("randn-negative", lambda L: L.randn(-1)),
    ("rand-huge", lambda L: L.rand(2**62)),
    ("full-negative", lambda L: L.full((-1,), 1.0)),
    ("eye-negative", lambda L: L.eye(-1)),
]:
    case(
        f"size-{_name}",
        (_name.split("-")[0], ("negative", "overflow", "size", "memory")),
        nothing(_fn),
    )
case("size-arange-zero-step", ("arange", "step"), nothing(lambda L: L.arange(0, 10, 0)))
case("size-arange-wrong-sign", ("arange", ("bound", "sign", "step")),
     nothing(lambda L: L.arange(0, 10, -1)))
case("size-linspace-negative", ("linspace", ("steps", "negative")),
     nothing(lambda L: L.linspace(0, 1, -1)))
case("size-reshape-two-minus-one", ("reshape", ("-1", "infer")),
     on(lambda L, a: a.reshape(-1, -1), (3, 4)))
case("size-randint-empty-range", ("randint", ("from", "low", "high", "range")),
     nothing(lambda L: L.randint(5, 2, (3,))))

# --- unknown keywords, wrong argument types
case("args-unknown-keyword", ("add", "foo"), on(lambda L, a: L.add(a, a, foo=1), (3,)))
case("args-sum-dims", ("sum", "dims"), on(lambda L, a: a.sum(dims=0), (3,)))
case("args-softmax-dim-str", ("softmax", "dim"), on(lambda L, a: L.softmax(a, dim="a"), (3,)))
case("args-reshape-float", ("reshape", ("int", "float")), on(lambda L, a: a.reshape(2.5), (3,)))
case("args-view-str", ("view", ("str", "int")), on(lambda L, a: a.view("a"), (3,)))
case("args-add-str", ("str",), on(lambda L, a: a + "a", (3,)))
case("args-cat-tensor", ("cat", ("tensors", "sequence", "tuple", "list")),
     on(lambda L, a: L.cat(a), (3,)))
case("args-mm-list", ("mm", "list"), on(lambda L, a: L.mm(a, [1.0, 2.0]), (2, 2)))
case("args-relu-list", ("relu", "list"), nothing(lambda L: F(L).relu([1.0, 2.0])))
case("args-ones-float-size", ("ones", ("float", "int")), nothing(lambda L: L.ones((2, 2.5))))
case("args-tensor-str", ("str",), nothing(lambda L: L.tensor("abc")))
case("args-tensor-ragged", ("sequence", ("length", "inhomogeneous")),
     nothing(lambda L: L.tensor([[1.0, 2.0], [3.0]])))
case("args-zeros-device", ("tpu",), nothing(lambda L: L.zeros(2, device="tpu")))
case("args-to-device", ("tpu",), on(lambda L, a: a.to("tpu"), (3,)))
case("args-linear-bias-str", ("linear", ("bias", "str")),
     on(lambda L, a, w: F(L).linear(a, w, "a"), (2, 3), (4, 3)))

# --- nn and optim


def _linear_and_sgd(L):
    m = L.nn.Linear(3, 2).double()
    m(R(L, 4, 3)).sum().backward()
    opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    return m, opt


def _bad_state(L, **changes):
    m = L.nn.Linear(3, 2).double()
    state = dict(m.state_dict())
    state.update({k: v(L) for k, v in changes.items()})
    return m, state


def _params(L):
    return [R(L, 3)]


case("nn-linear-input", ("mat1", SHAPE), with_(_linear_and_sgd, lambda L, m, o: m(R(L, 4, 5))))
case("nn-conv2d-channels", ("channel",),
     with_(lambda L: (L.nn.Conv2d(3, 2, 3).double(),), lambda L, m: m(R(L, 1, 4, 5, 5))))
case("nn-batchnorm-features", ("running_mean", "5"),
     with_(lambda L: (L.nn.BatchNorm1d(3).double(),), lambda L, m: m(R(L, 4, 5))))
case("nn-layernorm-shape", ("normalized_shape", SHAPE),
     with_(lambda L: (L.nn.LayerNorm(5).double(),), lambda L, m: m(R(L, 3, 4))))
case("nn-embedding-index", ("index", RANGE),
     with_(lambda L: (L.nn.Embedding(5, 2),), lambda L, m: m(I(L, [7]))))
case("nn-dropout-p", ("dropout", "probability"), nothing(lambda L: L.nn.Dropout(p=1.5)))
case("nn-linear-negative", ("negative",), nothing(lambda L: L.nn.Linear(-1, 2)))
case("nn-cross_entropy-batch", ("batch",),
     on(lambda L, a: L.nn.CrossEntropyLoss()(a, I(L, [0, 1, 2])), (4, 5)))
case("nn-register-parameter-type", ("parameter",),
     with_(lambda L: (L.nn.Linear(3, 2),), lambda L, m: m.register_parameter("w", R(L, 3))))
case("nn-add_module-dot", ("module name", "."),
     with_(lambda L: (L.nn.Linear(3, 2),), lambda L, m: m.add_module("a.b", L.nn.Linear(1, 1))))
case("nn-sequential-index", ("index", RANGE),
     with_(lambda L: (L.nn.Sequential(L.nn.Linear(3, 2)),), lambda L, m: m[5]))
case(
    "nn-load-state-shape",
    ("size mismatch", "weight"),
    with_(
        lambda L: _bad_state(
            L,
            weight=lambda L: L.zeros(2, 4, dtype=L.float64),
            bias=lambda L: L.ones(2, dtype=L.float64),
        ),
        lambda L, m, s: m.load_state_dict(s),
    ),
)
case(
    "nn-load-state-missing",
    ("missing", "bias"),
    with_(
        lambda L: (L.nn.Linear(3, 2), {"weight": L.zeros(2, 3)}),
        lambda L, m, s: m.load_state_dict(s),
    ),
)
case(
    "nn-load-state-unexpected",
    ("unexpected", "extra"),
    with_(
        lambda L: _bad_state(L, extra=lambda L: L.zeros(1)), lambda L, m, s: m.load_state_dict(s)
    ),
)
_LR = (("lr", "learning rate"), "-1")
for _name, _words, _make in [
    ("sgd-lr", _LR, lambda L, p: L.optim.SGD(p, lr=-1)),
    ("sgd-momentum", ("momentum",), lambda L, p: L.optim.SGD(p, lr=0.1, momentum=-0.5)),
    (
        "sgd-weight-decay",
        (("weight_decay", "weight decay"),),
        lambda L, p: L.optim.SGD(p, lr=0.1, weight_decay=-1),
    ),
    ("sgd-nesterov", ("nesterov",), lambda L, p: L.optim.SGD(p, lr=0.1, nesterov=True)),
    ("adam-lr", _LR, lambda L, p: L.optim.Adam(p, lr=-1)),
    ("adam-betas", ("beta",), lambda L, p: L.optim.Adam(p, betas=(1.5, 0.9))),
    ("adam-eps", (("eps", "epsilon"),), lambda L, p: L.optim.Adam(p, eps=-1)),
]:
    case(f"optim-{_name}", _words, with_(_params, _make))
case("optim-empty-params", ("empty",), nothing(lambda L: L.optim.SGD([], lr=0.1)))
case("optim-non-tensor-params", ("tensor",), nothing(lambda L: L.optim.SGD([1.0], lr=0.1)))
case("optim-load-groups", ("parameter groups",),
     with_(_linear_and_sgd, lambda L, m, o: o.load_state_dict({"state": {}, "param_groups": []})))
case(
    "optim-load-group-size",
    ("size", "group"),
    with_(
        _linear_and_sgd,
        lambda L, m, o: o.load_state_dict(
            {"state": {}, "param_groups": [dict(o.state_dict()["param_groups"][0], params=[0])]}
        ),
    ),
)
case("optim-scheduler-type", ("optimizer",),
     nothing(lambda L: L.optim.lr_scheduler.StepLR("sgd", 1)))
# fmt: on


# ----------------------------------------------------------------------------- known bugs

# Cases ember gets wrong, by id, each with its reason: pinned with xfail(strict=True) until
# fixed (then the entry goes). Empty: every case passes.
BUGS: dict[str, str] = {}


def _params_of(cases):
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=BUGS[c.id])] if c.id in BUGS else [],
        )
        for c in cases
    ]


# ----------------------------------------------------------------------------- the test


def _builtin_base(exc_type):
    """torch raises its own subclasses (torch.OutOfMemoryError, ...): compare builtin bases."""
    for t in exc_type.__mro__:
        if t.__module__ == "builtins":
            return t
    return Exception


def _torch_error_type(c, torch):
    action, _ = c.build(torch)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except Exception as e:  # noqa: BLE001 - the type is what we want
        return _builtin_base(type(e))
    pytest.fail(f"torch accepts {c.id}: the case is not a misuse")


def _snapshot(obj):
    """Everything about `obj` a clean error must leave as it was."""
    if isinstance(obj, ember.Tensor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = obj.grad
        data = np.array(obj.detach().to("cpu").numpy(), copy=True)
        grad = None if g is None else np.array(g.detach().to("cpu").numpy(), copy=True)
        return ("tensor", data, obj._version, obj.requires_grad, grad, obj.grad_fn)
    if isinstance(obj, ember.nn.Module):
        return [(n, _snapshot(p)) for n, p in obj.state_dict().items()] + [
            (n, _snapshot(p.grad)) for n, p in obj.named_parameters()
        ]
    if isinstance(obj, ember.optim.Optimizer):
        return _snapshot(obj.state_dict())
    if isinstance(obj, dict):
        return [(k, _snapshot(v)) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [_snapshot(v) for v in obj]
    return obj


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b or a == b


def test_table_is_large():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


def test_known_bugs_name_real_cases():
    assert set(BUGS) <= {c.id for c in CASES}


@pytest.mark.parametrize("c", _params_of(CASES))
def test_misuse_raises_cleanly(c, torch, request):
    expected = c.torch_type or _torch_error_type(c, torch)
    if c.cuda:
        request.getfixturevalue("fake_cuda")
    action, watched = c.build(ember)
    before = _snapshot(watched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            action()
    err = info.value
    if expected is NotImplementedError:  # torch's "not implemented for 'Float'" is one
        expected = RuntimeError
    assert isinstance(err, expected), f"{type(err).__name__} (torch: {expected.__name__}): {err}"
    message = str(err).lower()
    missing = [
        w
        for w in c.words
        if not any(alt.lower() in message for alt in ((w,) if isinstance(w, str) else w))
    ]
    assert not missing, f"the message does not say {missing}: {err}"
    assert _same(_snapshot(watched), before), "the failed call changed state"

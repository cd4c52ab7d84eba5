"""Products: mm, matmul, dot, mv, bmm, the add* family, outer, tensordot, kron, multi_dot,
einsum."""

from __future__ import annotations

import builtins
import math

from ember._backend import array_module
from ember._dtype import result_type
from ember._tensor import Tensor
from ember.ops._primitive import Primitive, raise_not_tensor
from ember.ops._shapes import broadcast_shapes, normalize_dim
from ember.ops._table import S, register
from ember.ops.creation import eye, ones
from ember.ops.indexing import type_word


def _check_same_dtype(op, a, b):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"{op}: expected both operands to have the same dtype, but got {a.dtype} and "
            f"{b.dtype}; convert one with .to()"
        )


@register("mm", lambda lib, a, b: a.mm(b), (S((3, 4), (4, 5)), S((1, 3), (3, 1))))
class Mm(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        needs = ctx.needs_input_grad  # each operand only if the other's gradient needs it
        ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
        ctx.column_major = (needs[0] and _column_major(a), needs[1] and _column_major(b))
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        needs = ctx.needs_input_grad
        # each gradient in its input's memory order, as PyTorch's: for a transposed operand
        # (Linear's weight.t()) the transposed product, so the gradient that reaches the weight
        # is row-major like the weight (no copy, and optimizer steps read it in order)
        a_columns, b_columns = ctx.column_major
        ga = gb = None
        if needs[0]:
            ga = b.mm(grad.t()).t() if a_columns else grad.mm(b.t())
        if needs[1]:
            gb = grad.t().mm(a).t() if b_columns else a.t().mm(grad)
        return ga, gb


def _column_major(array):
    """True for a transposed matrix: column-major, not row-major, in memory."""
    flags = array.flags
    return flags.f_contiguous and not flags.c_contiguous


def mm(input, mat2):
    """Same as torch.mm: the product of two matrices."""
    for position, (argument, value) in enumerate((("input", input), ("mat2", mat2)), 1):
        if not isinstance(value, Tensor):
            raise_not_tensor("mm", argument, position, value)
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        bad = input if input._data.ndim != 2 else mat2
        raise RuntimeError(f"mm: expected 2D tensors, but got a {bad._data.ndim}D tensor")
    if input._data.shape[1] != mat2._data.shape[0]:
        (n, k), (k2, m) = input.shape, mat2.shape
        raise RuntimeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    _check_same_dtype("mm", input, mat2)
    return Mm.apply(input, mat2)


@register(
    "matmul",
    lambda lib, a, b: a @ b,
    (
        S((3, 4), (4, 5)),
        S((4,), (4,)),
        S((4,), (4, 5)),
        S((3, 4), (4,)),
        S((2, 3, 4), (4, 5)),
        S((2, 1, 3, 4), (3, 4, 2)),
        S((5,), (2, 5, 3)),
    ),
)
class Matmul(Primitive):
    """Batched and broadcast products; 1-D operands are promoted to matrices and back."""

    @staticmethod
    def forward(ctx, a, b):
        needs = ctx.needs_input_grad  # each operand only if the other's gradient needs it
        ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
        ctx.shapes = (a.shape, b.shape)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        a_vec, b_vec = len(a_shape) == 1, len(b_shape) == 1
        a2_shape = (1,) + a_shape if a_vec else a_shape  # 1-D operands as matrices
        b2_shape = b_shape + (1,) if b_vec else b_shape
        batch = broadcast_shapes(a2_shape[:-2], b2_shape[:-2])
        g = grad.reshape(batch + (a2_shape[-2], b2_shape[-1]))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g.matmul(b.reshape(b2_shape).transpose(-1, -2))
            if a_vec:  # sum the broadcast batch dims first, then drop the promoted row
                ga = ga.sum_to_size(a2_shape).squeeze(0)
        if ctx.needs_input_grad[1]:
            gb = a.reshape(a2_shape).transpose(-1, -2).matmul(g)
            if b_vec:
                gb = gb.sum_to_size(b2_shape).squeeze(-1)
        return ga, gb


def matmul(input, other):
    """Same as torch.matmul."""
    for position, (argument, value) in enumerate((("input", input), ("other", other)), 1):
        if not isinstance(value, Tensor):
            raise_not_tensor("matmul", argument, position, value)
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be multiplied "
            f"({k_a} != {k_b})"
        )
    _check_same_dtype("matmul", input, other)
    if a.ndim == 2 and b.ndim == 2:
        return Mm.apply(input, other)
    if a.ndim >= 3 and b.ndim >= 3 and a.shape[:-2] != b.shape[:-2]:
        input, other = _broadcast_operands(input, other)
    return Matmul.apply(input, other)


def _broadcast_operands(a, b):
    """Batched operands whose batch shapes differ: PyTorch expands each broadcast one into a
    copy and saves that, so changing the operand in place afterwards is legal. A clone (not
    expanded: NumPy broadcasts the product) keeps that, and stays differentiable."""
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op="matmul")
    return tuple(t.clone() if t.shape[:-2] != batch else t for t in (a, b))


def _check_ndim(op, name, t, ndim):
    if t._data.ndim != ndim:
        raise RuntimeError(f"{op}: expected {name} to be a {ndim}D tensor, but got {t.ndim}D")


def _check_all_same_dtype(op, *tensors):
    if len({t._data.dtype for t in tensors}) > 1:
        words = ", ".join(type_word(t) for t in tensors)
        raise RuntimeError(f"{op}: expected all tensors to have the same dtype, but got {words}")


# --- vector and matrix products: composites over mm/matmul ---
def dot(input, other):
    """Same as torch.dot: the inner product of two 1-D tensors."""
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"dot: 1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors"
        )
    n, m = input._data.shape[0], other._data.shape[0]
    if n != m:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
            f"number of elements, but got {n} and {m} elements respectively"
        )
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{type_word(input)} and {type_word(other)}"
        )
    return Matmul.apply(input, other)


def vdot(input, other):
    """Same as torch.vdot (ember has no complex dtypes, so this is dot)."""
    return dot(input, other)


def outer(input, vec2):
    """Same as torch.outer: input[i] * vec2[j]."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t._data.ndim}-D")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def ger(input, vec2):
    """Same as torch.ger (an old name of outer)."""
    return outer(input, vec2)


def mv(input, vec):
    """Same as torch.mv: matrix times vector."""
    _check_ndim("mv", "mat", input, 2)
    _check_ndim("mv", "vec", vec, 1)
    (n, k), m = input._data.shape, vec._data.shape[0]
    if k != m:
        raise RuntimeError(f"mv: size mismatch, got input ({n}), mat ({n}x{k}), vec ({m})")
    _check_same_dtype("mv", input, vec)
    return Matmul.apply(input, vec)


def bmm(input, mat2):
    """Same as torch.bmm: a batch of matrix products, no broadcasting."""
    if input._data.ndim != 3:
        raise RuntimeError("bmm: batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError("bmm: batch2 must be a 3D tensor")
    (b, _, k), (b2, k2, _) = input.shape, mat2.shape
    if (b2, k2) != (b, k):
        raise RuntimeError(
            f"bmm: Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but "
            f"got: [{b2}, {k2}]."
        )
    _check_same_dtype("bmm", input, mat2)
    return Matmul.apply(input, mat2)


def _scaled_sum(op, input, product, beta, alpha):
    """beta * input + alpha * product, with input broadcast to the product's shape.

    With beta == 0 the input is ignored (its NaNs and infs do not propagate), as PyTorch.
    """
    _check_all_same_dtype(op, input, product)
    if input._data.shape != product._data.shape:
        input = input.expand(product.shape)
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """Same as torch.addmm: beta * input + alpha * (mat1 @ mat2)."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """Same as torch.addmv: beta * input + alpha * (mat @ vec)."""
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """Same as torch.addr: beta * input + alpha * outer(vec1, vec2); unlike addmm it
    promotes mixed dtypes, as PyTorch's addr does."""
    product = outer(vec1, vec2)
    if isinstance(input, Tensor) and input._data.dtype != product._data.dtype:
        dtype = result_type(input, product)
        input, product = input.to(dtype), product.to(dtype)
    return _scaled_sum("addr", input, product, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """Same as torch.baddbmm: beta * input + alpha * bmm(batch1, batch2)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """Same as torch.addbmm: beta * input + alpha * (the sum over the batch of batch1 @ batch2)."""
    return _scaled_sum("addbmm", input, bmm(batch1, batch2).sum(0), beta, alpha)


def _inplace_product(name, fn):
    def method(self, a, b, *, beta=1, alpha=1):
        from ember.ops.inplace import apply_inplace

        return apply_inplace(
            self, lambda x: fn(x, a, b, beta=beta, alpha=alpha), (a, b), f"{name}_"
        )

    method.__name__ = f"{name}_"
    method.__doc__ = f"Same as torch.Tensor.{name}_: {name} in place."
    return method


# --- contractions ---
def tensordot(a, b, dims=2):
    """Same as torch.tensordot: contract dims of a with dims of b (an int, or two lists)."""
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a._data.ndim or dims > b._data.ndim:
            raise RuntimeError(
                f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}, "
                f"ndim_a={a._data.ndim}, ndim_b={b._data.ndim}"
            )
        dims_a = list(range(a._data.ndim - dims, a._data.ndim))
        dims_b = list(range(dims))
    else:
        dims_a, dims_b = dims
        dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
        dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
        if len(dims_a) != len(dims_b):
            raise RuntimeError("tensordot: both dimension lists should have same length")
        dims_a = [normalize_dim(d, a._data.ndim, "tensordot") for d in dims_a]
        dims_b = [normalize_dim(d, b._data.ndim, "tensordot") for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(
                "tensordot: contracted dimensions need to match, but first has size "
                f"{a.shape[da]} in dim {da} and second has size {b.shape[db]} in dim {db}"
            )
    _check_same_dtype("tensordot", a, b)
    free_a = [d for d in range(a._data.ndim) if d not in dims_a]
    free_b = [d for d in range(b._data.ndim) if d not in dims_b]
    size = math.prod(a.shape[d] for d in dims_a)
    # explicit sizes: -1 cannot be inferred when a contracted size is 0
    rows = math.prod(a.shape[d] for d in free_a)
    cols = math.prod(b.shape[d] for d in free_b)
    left = a.permute(*free_a, *dims_a).reshape(rows, size)
    right = b.permute(*dims_b, *free_b).reshape(size, cols)
    shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    return Mm.apply(left, right).reshape(shape)


def kron(input, other):
    """Same as torch.kron: the Kronecker product (any number of dims)."""
    ndim = max(input._data.ndim, other._data.ndim)
    a_shape = (1,) * (ndim - input._data.ndim) + input.shape
    b_shape = (1,) * (ndim - other._data.ndim) + other.shape
    # interleave: a's dims at even positions, b's at odd ones, then merge each pair
    a = input.reshape(tuple(s for n in a_shape for s in (n, 1)))
    b = other.reshape(tuple(s for n in b_shape for s in (1, n)))
    return (a * b).reshape(tuple(x * y for x, y in zip(a_shape, b_shape)))


def multi_dot(tensors):
    """Same as torch.linalg.multi_dot: a chain of matrix products in the cheapest order."""
    tensors = list(tensors)
    n = len(tensors)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    for i, t in enumerate(tensors):
        allowed = (1, 2) if i in (0, n - 1) else (2,)
        if t._data.ndim not in allowed:
            where = "first" if i == 0 else "last" if i == n - 1 else None
            raise RuntimeError(
                f"multi_dot(): the {where} tensor must be 1D or 2D but got {t._data.ndim}D"
                if where
                else f"multi_dot(): tensor {i} must be 2D but got {t._data.ndim}D"
            )
        if t._data.dtype != tensors[0]._data.dtype:
            raise RuntimeError(
                "multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                f"{type_word(tensors[0])} and tensor {i} is {type_word(t)}"
            )
    first_vec, last_vec = tensors[0]._data.ndim == 1, tensors[-1]._data.ndim == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(n - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {list(tensors[i].shape)} and "
                f"{list(tensors[i + 1].shape)} cannot be multiplied"
            )
    result = _chain(mats, _chain_order([m.shape[0] for m in mats] + [mats[-1].shape[1]]), 0, n - 1)
    if first_vec:
        result = result.squeeze(0)
    if last_vec:
        result = result.squeeze(-1)
    return result


def _chain_order(sizes):
    """The classic matrix-chain dynamic programme: split[i][j] is where to cut mats i..j."""
    n = len(sizes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(mats, split, i, j):
    if i == j:
        return mats[i]
    k = split[i][j]
    return Mm.apply(_chain(mats, split, i, k), _chain(mats, split, k + 1, j))


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# --- einsum ---
@register(
    "einsum",
    lambda lib, *ts, **kw: lib.einsum(kw["eq"], *ts),
    (
        S((2, 3), (3, 4), eq="ij,jk->ik"),
        S((2, 3, 4), (2, 4, 5), eq="bij,bjk->bik"),
        S((3, 3), eq="ii->i"),
        S((3, 3), eq="ii"),
        S((2, 3), eq="ij->"),
        S((3,), (4,), eq="i,j"),
        S((2, 3, 4), (4,), eq="...k,k->..."),
        S((2, 1, 3), (4, 3), eq="...j,kj->...k"),
        S((2, 3), (3,), (3, 4), eq="ij,j,jk->ik"),
        S((2, 3, 3), (2,), eq="bii,c->cb"),
        S((2, 1), (3, 4), eq="ij,jk"),
    ),
)
class Einsum(Primitive):
    """Contraction over explicit labels (the public einsum resolves ellipses and broadcasting).

    A primitive so that a contraction runs as one backend call. The gradient of operand k is
    itself an einsum of the incoming gradient and the other operands; an identity matrix
    restores a label repeated in operand k (its diagonal), and a vector of ones a label that
    no other operand has (a broadcast).
    """

    @staticmethod
    def forward(ctx, spec, *operands):
        inputs, output = spec
        ctx.spec = spec
        ctx.sizes = [o.shape for o in operands]
        # operand j is read only by the other operands' gradients: keep it just for those
        needs = [ctx.needs_input_grad[j + 1] for j in range(len(operands))]
        wanted = sum(needs)
        ctx.save_for_backward(
            *(o if wanted - needs[j] > 0 else None for j, o in enumerate(operands))
        )
        xp = array_module(*operands)
        equation = ",".join(inputs) + "->" + output
        out = xp.einsum(equation, *operands, optimize=len(operands) > 1)
        if len(operands) == 1 and hasattr(out, "base") and out.base is not None:
            out = out.copy()  # a single operand can give a view of its input
        return out

    @staticmethod
    def backward(ctx, grad):
        inputs, output = ctx.spec
        operands = ctx.saved_tensors
        grads = [None]
        for k, target in enumerate(inputs):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            labels = [output] + [s for j, s in enumerate(inputs) if j != k]
            tensors = [grad] + [t for j, t in enumerate(operands) if j != k]
            grads.append(_einsum_adjoint(target, ctx.sizes[k], labels, tensors, grad))
        return tuple(grads)


def _einsum_adjoint(target, shape, labels, tensors, like):
    """The einsum that builds a tensor with labels `target` from `tensors` (see Einsum)."""
    labels, tensors = list(labels), list(tensors)
    known = set("".join(labels))
    unused = [c for c in _LETTERS if c not in known and c not in target]
    out = []
    for c, n in zip(target, shape):
        if c in out:  # a repeated label: a fresh one, tied to it by an identity matrix
            fresh = unused.pop()
            labels.append(c + fresh)
            tensors.append(eye(n, dtype=like.dtype, device=like.device))
            out.append(fresh)
            continue
        if c not in known:  # summed away in forward: broadcast back with ones
            labels.append(c)
            tensors.append(ones(n, dtype=like.dtype, device=like.device))
            known.add(c)
        out.append(c)
    return Einsum.apply((tuple(labels), "".join(out)), *tensors)


def _parse_sublists(args):
    """einsum(op1, [0, 1], op2, [1, 2], [0, 2]) as an equation and operands."""

    def letters(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)

    operands, specs = [], []
    args = list(args)
    while len(args) >= 2:
        operands.append(args.pop(0))
        specs.append(letters(args.pop(0)))
    equation = ",".join(specs) + ("->" + letters(args[0]) if args else "")
    return equation, operands


def einsum(*args):
    """Same as torch.einsum: any subscripts, ellipsis, implicit output, sublist format."""
    if args and isinstance(args[0], Tensor):
        equation, operands = _parse_sublists(args)
    else:
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    specs = lhs.split(",")
    if len(specs) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(specs) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    for t in operands[1:]:
        if t._data.dtype != operands[0]._data.dtype:
            raise RuntimeError(
                f"einsum(): expected all operands to have the same dtype, but got "
                f"{type_word(operands[0])} and {type_word(t)}"
            )
    for i, c in enumerate(equation):
        if c not in _LETTERS and c not in ".,->":
            raise RuntimeError(
                f"einsum(): invalid subscript given at index {i} in the equation string, "
                "subscripts must be in [a-zA-Z]"
            )
    used = set(equation) - set(".,->")
    ellipsis_ndims = []
    for i, (spec, t) in enumerate(zip(specs, operands)):
        n_labels = len(spec.replace("...", ""))
        if "..." in spec:
            ellipsis_ndims.append(t._data.ndim - n_labels)
            if ellipsis_ndims[-1] < 0:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({n_labels}) is more "
                    f"than the number of dimensions ({t._data.ndim}) for operand {i}"
                )
        elif n_labels != t._data.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({n_labels}) does not match "
                f"the number of dimensions ({t._data.ndim}) for operand {i} and no ellipsis was "
                "given"
            )
    # the ellipsis becomes fresh labels, right-aligned across operands (they broadcast)
    n_ell = builtins.max(ellipsis_ndims, default=0)
    ell = "".join([c for c in _LETTERS if c not in used][:n_ell])
    specs = [
        s.replace("...", ell[n_ell - n :] if n else "")
        for s, n in zip(specs, _ellipsis_sizes(specs, operands))
    ]
    if arrow:
        output = rhs.replace("...", ell)
        for c in output:
            if output.count(c) > 1:
                raise RuntimeError(
                    f"einsum(): output subscript {c} appears more than once in the output"
                )
            if not builtins.any(c in s for s in specs):
                raise RuntimeError(
                    f"einsum(): output subscript {c} does not appear in the equation for any "
                    "input operand"
                )
    else:
        counts = "".join(specs)
        output = ell + "".join(sorted(c for c in set(counts) - set(ell) if counts.count(c) == 1))
    sizes = _broadcast_labels(specs, operands)
    specs, operands = _drop_broadcast_labels(specs, operands, sizes)
    specs, operands = _sum_private_labels(specs, operands, output)
    return Einsum.apply((tuple(specs), output), *operands)


def _ellipsis_sizes(specs, operands):
    return [t._data.ndim - len(s.replace("...", "")) for s, t in zip(specs, operands)]


def _broadcast_labels(specs, operands):
    """Check each label's sizes agree (or are 1); return each label's broadcast size."""
    sizes = {}
    for i, (spec, t) in enumerate(zip(specs, operands)):
        own = {}
        for c, n in zip(spec, t.shape):
            if c in own and own[c] != n:
                raise RuntimeError(
                    f"einsum(): subscript {c} is repeated for operand {i} but the sizes don't "
                    f"match, {n} != {own[c]}"
                )
            own[c] = n
            seen = sizes.get(c, 1)
            if n != 1 and seen != 1 and n != seen:
                raise RuntimeError(
                    f"einsum(): subscript {c} has size {n} for operand {i} which does not "
                    f"broadcast with previously seen size {seen}"
                )
            sizes[c] = seen if n == 1 else n  # 1 broadcasts to any size, 0 included
    return sizes


def _drop_broadcast_labels(specs, operands, sizes):
    """Squeeze each label an operand has at size 1 where others have it bigger: the
    contraction broadcasts it, and no operand is ever expanded (or saved expanded)."""
    out_specs, out_ops = [], []
    for spec, t in zip(specs, operands):
        drop = [d for d, c in enumerate(spec) if t.shape[d] == 1 and sizes[c] != 1]
        if drop:
            t = t.squeeze(tuple(drop))
            spec = "".join(c for d, c in enumerate(spec) if d not in drop)
        out_specs.append(spec)
        out_ops.append(t)
    return out_specs, out_ops


def _sum_private_labels(specs, operands, output):
    """Reduce each operand over the labels no other operand and not the output has (a sum, or
    a trace for a repeated one), first: the contraction then reads (and saves) the smaller
    result, as PyTorch's einsum does, not the operand itself."""
    if len(operands) < 2:
        return specs, operands
    out_specs, out_ops = [], []
    for k, (spec, t) in enumerate(zip(specs, operands)):
        others = output + "".join(s for j, s in enumerate(specs) if j != k)
        if all(c in others for c in spec):
            out_specs.append(spec)
            out_ops.append(t)
            continue
        kept = "".join(dict.fromkeys(c for c in spec if c in others))
        out_specs.append(kept)
        out_ops.append(Einsum.apply(((spec,), kept), t))  # one operand: saves nothing
    return out_specs, out_ops


register("dot", lambda lib, a, b: lib.dot(a, b), (S((4,), (4,)),))(dot)
register("outer", lambda lib, a, b: lib.outer(a, b), (S((3,), (4,)), S((1,), (2,))))(outer)
register("mv", lambda lib, a, b: a.mv(b), (S((3, 4), (4,)),))(mv)
register("bmm", lambda lib, a, b: lib.bmm(a, b), (S((2, 3, 4), (2, 4, 5)),))(bmm)
register(
    "addmm",
    lambda lib, c, a, b, **kw: lib.addmm(c, a, b, **kw),
    (S((3, 5), (3, 4), (4, 5)), S((5,), (3, 4), (4, 5), beta=0.5, alpha=-2.0)),
)(addmm)
register(
    "addmv",
    lambda lib, c, a, b, **kw: lib.addmv(c, a, b, **kw),
    (S((3,), (3, 4), (4,)), S((), (3, 4), (4,), beta=2.0, alpha=0.5)),
)(addmv)
register(
    "addr",
    lambda lib, c, a, b, **kw: lib.addr(c, a, b, **kw),
    (S((3, 4), (3,), (4,), beta=0.5, alpha=3.0),),
)(addr)
register(
    "baddbmm",
    lambda lib, c, a, b, **kw: lib.baddbmm(c, a, b, **kw),
    (S((2, 3, 5), (2, 3, 4), (2, 4, 5)), S((3, 1), (2, 3, 4), (2, 4, 5), beta=-1.0, alpha=2.0)),
)(baddbmm)
register(
    "addbmm",
    lambda lib, c, a, b, **kw: lib.addbmm(c, a, b, **kw),
    (S((3, 5), (2, 3, 4), (2, 4, 5), beta=0.5, alpha=2.0),),
)(addbmm)
register(
    "tensordot",
    lambda lib, a, b, **kw: lib.tensordot(a, b, **kw),
    (
        S((2, 3, 4), (3, 4, 5)),
        S((2, 3, 4), (4, 3), dims=([1, 2], [1, 0])),
        S((3, 4), (5,), dims=0),
        S((2, 3), (3, 2), dims=([-1], [0])),
    ),
)(tensordot)
register(
    "kron",
    lambda lib, a, b: lib.kron(a, b),
    (S((2, 3), (3, 2)), S((2,), (2, 3, 1)), S((), (3,))),
)(kron)
register(
    "multi_dot",
    lambda lib, *ts: lib.linalg.multi_dot(ts),
    (S((3, 4), (4, 2), (2, 5)), S((4,), (4, 3), (3, 2), (2,)), S((2, 3), (3,))),
)(multi_dot)

__all__ = [
    "addbmm",
    "addmm",
    "addmv",
    "addr",
    "baddbmm",
    "bmm",
    "dot",
    "einsum",
    "ger",
    "kron",
    "matmul",
    "mm",
    "mv",
    "outer",
    "tensordot",
    "vdot",
]
TENSOR_METHODS = {
    **{name: globals()[name] for name in __all__ if name not in ("einsum", "tensordot")},
    **{f"{n}_": _inplace_product(n, globals()[n]) for n in ("addmm", "addmv", "addr")},
    **{f"{n}_": _inplace_product(n, globals()[n]) for n in ("baddbmm", "addbmm")},
}

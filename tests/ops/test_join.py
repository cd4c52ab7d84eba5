"""Joining and splitting beyond the op table: promotion, PyTorch's quirks, errors, views."""

import numpy as np
import pytest

import ember


def _pair(lib, shapes_and_dtypes):
    return [lib.zeros(*shape, dtype=getattr(lib, dtype)) for shape, dtype in shapes_and_dtypes]


@pytest.mark.parametrize(
    "inputs, dim",
    [
        ([((2, 3), "float32"), ((2, 3), "int32")], 1),
        ([((2, 3), "int32"), ((2, 3), "bool")], 0),
        ([((2, 3), "int64"), ((1, 3), "float64"), ((2, 3), "float32")], 0),
        ([((2, 3), "float32"), ((0,), "float64")], 0),  # the skipped empty still promotes
        ([((0,), "int64"), ((0,), "int64")], 0),
        ([((0,), "float32"), ((2, 3), "float32"), ((0,), "float32")], -1),
        ([((2, 0), "float32"), ((2, 3), "float32")], 1),
        ([((2, 3), "float32"), ((0, 3), "float32")], 0),
    ],
)
def test_cat_promotes_and_skips_1d_empty_tensors_as_torch(inputs, dim, torch):
    got = ember.cat(_pair(ember, inputs), dim)
    expected = torch.cat(_pair(torch, inputs), dim)
    assert got.shape == tuple(expected.shape)
    assert str(got.dtype) == str(expected.dtype).replace("torch", "ember")


CAT_ERRORS = [
    lambda lib: lib.cat([lib.zeros(2, 3), lib.zeros(2, 4)]),
    lambda lib: lib.cat([lib.zeros(2, 3), lib.zeros(3, 4)], 1),
    lambda lib: lib.cat([lib.zeros(2, 3), lib.zeros(2, 3, 1)]),
    lambda lib: lib.cat([]),
    lambda lib: lib.cat([lib.tensor(1.0), lib.tensor(2.0)]),
    lambda lib: lib.cat([lib.zeros(2, 3), lib.zeros(2, 3)], 2),
    lambda lib: lib.cat(lib.zeros(2, 3)),
    lambda lib: lib.stack([lib.zeros(2, 3), lib.zeros(2, 4)]),
    lambda lib: lib.stack([]),
    lambda lib: lib.stack([lib.zeros(2, 3)], 3),
    lambda lib: lib.split(lib.zeros(2, 3), 0),
    lambda lib: lib.split(lib.zeros(3), [1, 1]),
    lambda lib: lib.split(lib.tensor(1.0), 1),
    lambda lib: lib.chunk(lib.zeros(3), 0),
    lambda lib: lib.unbind(lib.tensor(1.0)),
    lambda lib: lib.narrow(lib.zeros(2, 3), 1, 1, 3),
    lambda lib: lib.narrow(lib.zeros(2, 3), 1, 4, 0),
    lambda lib: lib.narrow(lib.zeros(2, 3), 1, 1, -1),
    lambda lib: lib.narrow(lib.tensor(1.0), 0, 0, 1),
    lambda lib: lib.tensor_split(lib.zeros(7), 0),
    lambda lib: lib.hsplit(lib.zeros(2, 4), 3),
    lambda lib: lib.vsplit(lib.zeros(4), 2),
    lambda lib: lib.dsplit(lib.zeros(2, 4), 2),
]


@pytest.mark.parametrize("op", CAT_ERRORS)
def test_errors_match_torch(op, torch):
    with pytest.raises(Exception) as expected:
        op(torch)
    with pytest.raises(expected.type) as got:
        op(ember)
    message = str(expected.value).split("\n")[0].replace("torch.cat()", "cat()")
    assert str(got.value).endswith(message)


def test_cat_error_names_the_tensor_and_sizes():
    with pytest.raises(RuntimeError) as info:
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 3), ember.zeros(2, 4)], dim=0)
    assert str(info.value) == (
        "cat(): Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 "
        "for tensor number 2 in the list."
    )


def test_cat_gradient_reaches_every_input_including_skipped_empties():
    a = ember.ones(2, 3, requires_grad=True)
    e = ember.zeros(0, requires_grad=True)
    b = ember.ones(1, 3, dtype=ember.float64, requires_grad=True)
    out = ember.cat([a, e, b])
    assert out.dtype == ember.float64 and out.shape == (3, 3)
    (out * ember.arange(9.0, dtype=ember.float64).reshape(3, 3)).sum().backward()
    assert a.grad.dtype == ember.float32 and a.grad.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert e.grad.shape == (0,)
    assert b.grad.tolist() == [[6, 7, 8]]


def test_cat_out_argument():
    out = ember.empty(4)
    result = ember.cat([ember.ones(2), ember.zeros(2)], out=out)
    assert result is out and out.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.split(x, 2),
        lambda lib, x: lib.split(x, [1, 0, 4]),
        lambda lib, x: lib.split(x, 2, dim=1),
        lambda lib, x: x.split(4, -1),
        lambda lib, x: lib.chunk(x, 3),
        lambda lib, x: lib.chunk(x, 2, 1),
        lambda lib, x: lib.unbind(x),
        lambda lib, x: x.unbind(1),
        lambda lib, x: lib.tensor_split(x, 3),
        lambda lib, x: lib.tensor_split(x, [1, 4, 2, 9], dim=1),
        lambda lib, x: lib.tensor_split(x, lib.tensor([-2, 3])),
        lambda lib, x: lib.tensor_split(x, lib.tensor(2), 1),
        lambda lib, x: lib.hsplit(x, 2),
        lambda lib, x: lib.vsplit(x, [1]),
        lambda lib, x: lib.split(lib.zeros(0), 2),
        lambda lib, x: lib.chunk(lib.zeros(0), 4),
        lambda lib, x: lib.unbind(lib.zeros(0, 3)),
        lambda lib, x: (lib.hstack([x, x]), lib.vstack([x[0], x[1]]), lib.dstack([x, x])),
        lambda lib, x: (lib.column_stack([x[:, 0], x]), lib.row_stack([x, x])),
        lambda lib, x: (lib.hstack([lib.tensor(1.0), lib.tensor(2.0)]), lib.stack([x, x], -1)),
        lambda lib, x: (lib.concat([x, x], 1), lib.concatenate([x, x])),
        lambda lib, x: (lib.narrow(x, 1, -2, 2), x.narrow(0, lib.tensor(1), 3)),
    ],
)
def test_split_family_matches_torch(fn, torch):
    data = np.arange(20.0).reshape(5, 4)
    got = fn(ember, ember.tensor(data))
    expected = fn(torch, torch.tensor(data))
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        assert g.tolist() == e.tolist()


def test_split_pieces_are_views_sharing_the_version_counter():
    x = ember.arange(6.0)
    w = ember.ones(3, requires_grad=True)
    first, second = x.split(3)
    out = (first * w).sum()  # saves `first`
    x.mul_(2.0)
    assert first.tolist() == [0.0, 2.0, 4.0] and second.tolist() == [6.0, 8.0, 10.0]
    assert first._version == second._version == x._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    second[0] = -1.0
    assert x.tolist() == [0.0, 2.0, 4.0, -1.0, 8.0, 10.0]


def test_unbind_and_narrow_are_views():
    x = ember.zeros(2, 3)
    row = x.unbind()[1]
    band = x.narrow(1, 1, 2)
    x.add_(1.0)
    assert row.tolist() == [1.0, 1.0, 1.0]
    assert band.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_gradient_of_unused_split_pieces_is_zero(torch):
    grads = []
    for lib in (ember, torch):
        x = lib.arange(12.0).reshape(4, 3).requires_grad_()
        pieces = x.split([1, 2, 1])
        (pieces[1] * 2.0).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]


def test_second_order_through_cat_and_split():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a, b = x.split([1, 2])
    y = ember.cat([a * a, b * b * b]).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), x)
    assert g.tolist() == [2.0, 12.0, 27.0]
    assert gg.tolist() == [2.0, 12.0, 18.0]


def test_grad_fn_names():
    x = ember.zeros(4, 3, requires_grad=True)
    assert ember.cat([x, x]).grad_fn.name() == "CatBackward0"
    assert x.split(2)[0].grad_fn.name() == "SplitBackward0"

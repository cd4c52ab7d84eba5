"""Indexing beyond the op table: index forms vs torch, errors, views, in-place, quirks."""

import warnings

import numpy as np
import pytest

import ember

X = np.random.default_rng(0).standard_normal((3, 4, 5))

# "t0" is a 0-d long tensor, "t1" a 2-D long tensor, "e" an empty long tensor
INDEXES = [
    (0,),
    (slice(None), 1),
    (Ellipsis, 2),
    (None, 0, Ellipsis, None),
    (slice(1, None, 2), -1, slice(None, None, 3)),
    ([0, 2],),
    ([0, 2], 1),
    ([0, 2], slice(None), [1, 1]),
    (0, Ellipsis, [1, -1]),
    ([[0, 1], [2, 2]], 0, [0, 4]),
    (0, [0, 1], [2, 3]),
    ([0, 1], 0, [0, 1]),
    (slice(None), 0, [0, 1]),
    ([True, False, True],),
    ([True, False, True], 0),
    (1, [True, False, True, False]),
    (Ellipsis, [True] * 5),
    (None, [0, 1], None, 2),
    (slice(1, None, 2), [3, 0], slice(None, None, 2)),
    ("t0",),
    ("t0", "t1"),
    ("t0", slice(None), [1]),
    ("e",),
    (slice(None), "e"),
    (True,),
    (0, True),
    ([0, 2], None, [1, 3]),
    ("mask",),
]


def _convert(lib, index):
    out = []
    for item in index:
        if item == "t0":
            out.append(lib.tensor(1))
        elif item == "t1":
            out.append(lib.tensor([[0, 2]]))
        elif item == "e":
            out.append(lib.tensor([], dtype=lib.int64))
        elif item == "mask":
            out.append(lib.tensor(X[..., 0] > 0))
        else:
            out.append(item)
    return tuple(out)


@pytest.mark.parametrize("index", INDEXES, ids=repr)
def test_getitem_and_setitem_match_torch(index, torch):
    xe = ember.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = xt[_convert(torch, index)]
    got = xe[_convert(ember, index)]
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy())
    cotangent = np.random.default_rng(1).standard_normal(got.shape)
    (ge,) = ember.autograd.grad(got, xe, ember.tensor(cotangent))
    (gt,) = torch.autograd.grad(expected, xt, torch.tensor(cotangent))
    np.testing.assert_allclose(ge.numpy(), gt.numpy())
    # assignment of a value shaped like the result
    ye, yt = ember.tensor(X), torch.tensor(X)
    ye[_convert(ember, index)] = ember.tensor(cotangent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yt[_convert(torch, index)] = torch.tensor(cotangent)
    np.testing.assert_allclose(ye.numpy(), yt.numpy())


BAD_INDEXES = [
    (5,),
    (slice(None), 5),
    (-4,),
    ([0, 5],),
    (slice(None), [7]),
    (0, 0, 0, 0),
    (1.0,),
    (slice(None, None, -1),),
    ([True, False],),
    (slice(None), [True, False]),
    ([0, 1], slice(None), [0, 1, 2]),
    ("float_tensor",),
    ("short_tensor",),
]


@pytest.mark.parametrize("index", BAD_INDEXES, ids=repr)
def test_bad_index_errors_match_torch(index, torch):
    def convert(lib):
        out = []
        for item in index:
            if item == "float_tensor":
                out.append(lib.tensor([1.0]))
            elif item == "short_tensor":
                out.append(lib.tensor([1], dtype=lib.int16))
            else:
                out.append(item)
        return tuple(out)

    with pytest.raises(Exception) as expected:
        torch.tensor(X)[convert(torch)]
    with pytest.raises(expected.type) as got:
        ember.tensor(X)[convert(ember)]
    message = str(expected.value).split("\n")[0]
    if index == (slice(None), [7]):  # PyTorch counts index tensors here, ember the real dim
        message = message.replace("dimension 0", "dimension 1")
    assert str(got.value) == message


def test_failed_setitem_changes_nothing(torch):
    x = ember.tensor(X)
    before = x.numpy().copy()
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[[0, 5]] = 1.0
    with pytest.raises(RuntimeError) as got:
        x[[0, 1]] = ember.ones(3)
    with pytest.raises(RuntimeError) as expected:
        torch.tensor(X)[[0, 1]] = torch.ones(3)
    assert str(got.value) == "index_put_: " + str(expected.value)  # PyTorch's words, named
    with pytest.raises(TypeError, match="can't assign a list"):
        x[0] = [1, 2, 3]
    np.testing.assert_array_equal(x.numpy(), before)
    assert x._version == 0


def test_setitem_gradients_match_torch(torch):
    rng = np.random.default_rng(2)
    base, value = rng.standard_normal((4, 5)), rng.standard_normal(5)
    cases = [
        (lambda lib: (slice(1, 3),), lambda v: v),  # broadcast a row into two rows
        (lambda lib: (lib.tensor(base[:, 0] > 0),), lambda v: v),  # a mask
        (lambda lib: (slice(None), [4, 0]), lambda v: v[:2]),  # columns
        (lambda lib: ([1, 1], 2), lambda v: v[:2]),  # repeated index: the last write wins
    ]
    for make_index, pick in cases:
        results = []
        for lib in (ember, torch):
            x = lib.tensor(base, requires_grad=True)
            v = lib.tensor(value, requires_grad=True)
            y = x * 2.0
            y[make_index(lib)] = pick(v) * 3.0
            (y * lib.tensor(np.arange(20.0).reshape(4, 5))).sum().backward()
            results.append((y.detach().numpy(), x.grad.numpy(), v.grad.numpy()))
        for got, expected in zip(*results):
            np.testing.assert_allclose(got, expected)


def test_setitem_drops_leading_size_1_dims_of_the_value(torch):
    results = []
    for lib in (ember, torch):
        x = lib.zeros(3, 5, requires_grad=True)
        v = lib.arange(5.0).reshape(1, 1, 5).requires_grad_()
        y = x * 1.0
        y[0] = v * 2.0
        y[1:2] = v
        (y * y).sum().backward()
        results.append((y.tolist(), v.grad.shape, v.grad.tolist(), x.grad.tolist()))
    assert results[0][1] == tuple(results[1][1])
    assert results[0][::2] == results[1][::2] and results[0][3] == results[1][3]


def test_setitem_on_leaf_that_requires_grad_raises():
    x = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    assert x._version == 0
    with ember.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_basic_index_is_a_view_sharing_the_version_counter():
    x = ember.arange(6.0).reshape(2, 3)
    w = ember.ones(3, requires_grad=True)
    row = x[0]
    out = (row * w).sum()  # saves row for w's gradient
    x.add_(1.0)
    assert row.tolist() == [1.0, 2.0, 3.0]
    assert row._version == x._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_advanced_index_and_0d_tensor_index_copy():
    x = ember.arange(6.0).reshape(2, 3)
    picked, scalar_index = x[[0]], x[ember.tensor(1)]
    x.add_(1.0)
    assert picked.tolist() == [[0.0, 1.0, 2.0]]
    assert scalar_index.tolist() == [3.0, 4.0, 5.0]


def test_setitem_through_a_view_changes_the_base_and_bumps_its_version():
    x = ember.zeros(2, 3)
    row = x[1]
    row[0] = 5.0
    x[0, ember.tensor([True, False, True])] = ember.tensor(7.0)
    assert x.tolist() == [[7.0, 0.0, 7.0], [5.0, 0.0, 0.0]]
    assert x._version == 2


def test_byte_mask_index_and_numpy_scalar_index(torch):
    x = ember.tensor(X[:, 0])
    mask = ember.tensor([1, 0, 1], dtype=ember.uint8)
    np.testing.assert_allclose(x[mask].numpy(), X[:, 0][[True, False, True]])
    np.testing.assert_allclose(x[np.int64(2)].numpy(), X[2, 0])
    np.testing.assert_allclose(x[np.array([2, 0])].numpy(), X[[2, 0], 0])


def test_nonzero_argwhere_and_one_argument_where(torch):
    data = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    for value in (data, np.array(0.0), np.array(3.0), np.zeros((2, 0)), np.zeros(4)):
        e, t = ember.tensor(value), torch.tensor(value)
        assert ember.nonzero(e).tolist() == torch.nonzero(t).tolist()
        assert ember.nonzero(e).dtype == ember.int64
        assert ember.nonzero(e).shape == tuple(torch.nonzero(t).shape)
        assert ember.argwhere(e).shape == tuple(torch.argwhere(t).shape)
        got = ember.nonzero(e, as_tuple=True)
        expected = torch.nonzero(t, as_tuple=True)
        assert [g.tolist() for g in got] == [x.tolist() for x in expected]
        assert [g.tolist() for g in ember.where(e != 0)] == [
            x.tolist() for x in torch.where(t != 0)
        ]


def test_masked_select_values_and_errors(torch):
    x = np.arange(12.0).reshape(3, 4)
    masks = [x > 4, np.array([True, False, True, False]), np.ones((2, 3, 4), bool)]
    for m in masks:
        got = ember.masked_select(ember.tensor(x), ember.tensor(m))
        expected = torch.masked_select(torch.tensor(x), torch.tensor(m))
        assert got.tolist() == expected.tolist()
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        ember.masked_select(ember.tensor(x), ember.tensor([1, 0, 1, 0]))
    with pytest.raises(RuntimeError, match="The size of tensor a"):
        ember.masked_select(ember.tensor(x), ember.ones(3, dtype=ember.bool))


def _both(fn, torch):
    return fn(ember), fn(torch)


def test_index_add_and_index_put_accumulate_repeated_indices(torch):
    base = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    got, expected = _both(
        lambda lib: lib.tensor(base).index_add(
            0, lib.tensor([0, 0, 2, 0]), lib.ones(4, 4), alpha=2.0
        ),
        torch,
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy())
    got, expected = _both(
        lambda lib: lib.tensor(base).index_put(
            (lib.tensor([1, 1, 1]), lib.tensor([2, 2, 0])),
            lib.tensor([1.0, 10.0, 100.0]),
            accumulate=True,
        ),
        torch,
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy())
    got, expected = _both(
        lambda lib: lib.tensor(base).scatter_add(
            1, lib.tensor([[0, 0, 0], [3, 3, 1]]), lib.ones(2, 3)
        ),
        torch,
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy())
    # integer tensors with a float alpha: PyTorch truncates alpha * source
    got, expected = _both(
        lambda lib: lib.zeros(3, 4, dtype=lib.int64).index_add(
            0, lib.tensor([0, 0]), lib.ones(2, 4, dtype=lib.int64), alpha=2.5
        ),
        torch,
    )
    assert got.tolist() == expected.tolist()


def test_index_add_gradient_with_repeated_indices(torch):
    rng = np.random.default_rng(3)
    base, source = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    grads = []
    for lib in (ember, torch):
        x = lib.tensor(base, requires_grad=True)
        s = lib.tensor(source, requires_grad=True)
        out = x.index_add(0, lib.tensor([2, 0, 2, 2, 1]), s, alpha=-3.0)
        (out * lib.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
        grads.append((x.grad.numpy(), s.grad.numpy()))
    for got, expected in zip(*grads):
        np.testing.assert_allclose(got, expected)


def test_inplace_variants_match_torch_and_bump_the_version(torch):
    base = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    ops = [
        lambda lib, x: x.scatter_(1, lib.tensor([[0, 2], [1, 3]]), lib.ones(2, 2) * 9),
        lambda lib, x: x.scatter_(0, lib.tensor([[2, 1, 0, 0]]), -1.0),
        lambda lib, x: x.scatter_add_(0, lib.tensor([[2, 2, 2, 2]]), lib.ones(1, 4)),
        lambda lib, x: x.masked_fill_(lib.tensor([True, False, False, True]), 0.5),
        lambda lib, x: x.index_add_(1, lib.tensor([3, 3]), lib.ones(3, 2)),
        lambda lib, x: x.index_put_((lib.tensor([0, 2]),), lib.tensor(4.0)),
        lambda lib, x: x.index_fill_(0, lib.tensor([-1]), lib.tensor(8.0)),
    ]
    for op in ops:
        e, t = ember.tensor(base), torch.tensor(base)
        assert op(ember, e) is e
        op(torch, t)
        np.testing.assert_allclose(e.numpy(), t.numpy())
        assert e._version == 1


def test_inplace_ops_record_gradients(torch):
    rng = np.random.default_rng(4)
    base, source = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    grads = []
    for lib in (ember, torch):
        x = lib.tensor(base, requires_grad=True)
        s = lib.tensor(source, requires_grad=True)
        y = x * 1.0
        y.index_add_(1, lib.tensor([0, 0]), s)
        y.masked_fill_(lib.tensor([False, True, False, False]), 0.0)
        y.scatter_(0, lib.tensor([[1, 2, 0, 0]]), s[:1, :1].expand(1, 4) * 2)
        (y * y).sum().backward()
        grads.append((y.detach().numpy(), x.grad.numpy(), s.grad.numpy()))
    for got, expected in zip(*grads):
        np.testing.assert_allclose(got, expected)


ERRORS = [
    lambda lib, x: lib.gather(x, 1, lib.tensor([[0, 5]])),
    lambda lib, x: lib.gather(x, 1, lib.tensor([[0, -1]])),
    lambda lib, x: lib.gather(x, 1, lib.tensor([0, 1])),
    lambda lib, x: lib.gather(x, 1, lib.tensor([[0, 1]] * 4)),
    lambda lib, x: lib.gather(x, 2, lib.tensor([[0]])),
    lambda lib, x: lib.gather(x, 1, lib.tensor([[0.0]])),
    lambda lib, x: lib.scatter(x, 1, lib.tensor([[0, 1], [2, 0]]), lib.ones(1, 2)),
    lambda lib, x: lib.scatter(x, 1, lib.tensor([[5]]), 1.0),
    lambda lib, x: lib.scatter(x, 1, lib.tensor([1]), 1.0),
    lambda lib, x: lib.scatter(x, 1, lib.tensor([[1]] * 4), 1.0),
    lambda lib, x: lib.scatter(x, 1, lib.tensor([[1]]), lib.ones(1, 1, dtype=lib.float64)),
    lambda lib, x: lib.scatter_add(x, 1, lib.tensor([[1]]), 1.0),
    lambda lib, x: lib.index_select(x, 1, lib.tensor([[0, 1]])),
    lambda lib, x: lib.index_select(x, 1, lib.tensor([1.0])),
    lambda lib, x: lib.index_select(x, 2, lib.tensor([0])),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([0, 1]), lib.ones(3, 3)),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([0, 4]), lib.ones(3, 2)),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([0, 1]), lib.ones(3, 2, dtype=lib.float64)),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([[0, 1]]), lib.ones(3, 2)),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([0.0, 1.0]), lib.ones(3, 2)),
    lambda lib, x: lib.index_add(x, 1, lib.tensor([1]), lib.ones(2, 1)),
    lambda lib, x: lib.index_fill(x, 1, lib.tensor([0, 4]), 3.0),
    lambda lib, x: lib.index_fill(x, 1, lib.tensor([[0]]), 3.0),
    lambda lib, x: lib.index_fill(x, 1, lib.tensor([0]), lib.tensor([3.0])),
    lambda lib, x: lib.index_fill(x, 1, lib.tensor([0], dtype=lib.int32), 3.0),
    lambda lib, x: lib.index_put(x, (lib.tensor([0, 5]),), lib.tensor(5.0)),
    lambda lib, x: lib.index_put(x, (lib.tensor([0, 1]),), lib.ones(3)),
    lambda lib, x: lib.index_put(x, (lib.tensor([0, 1]),), lib.ones(4, dtype=lib.float64)),
    lambda lib, x: lib.index_put(x, (lib.tensor([0, 1]),), 5.0),
    lambda lib, x: lib.index_put(x, (lib.tensor([1]),) * 3, lib.tensor(1.0)),
    lambda lib, x: x.masked_fill(lib.tensor([1, 0, 1, 0]), 1.0),
    lambda lib, x: x.masked_fill(lib.tensor([True] * 4), lib.tensor([1.0])),
    lambda lib, x: x.masked_fill(lib.ones(3, dtype=lib.bool), 1.0),
    lambda lib, x: x.clone().masked_fill_(lib.ones(2, 3, 4, dtype=lib.bool), 1.0),
    lambda lib, x: lib.take(x, lib.tensor([12])),
    lambda lib, x: lib.take(x, lib.tensor([-13])),
    lambda lib, x: lib.take_along_dim(x, lib.tensor([[0, 2]]), 0),
    lambda lib, x: lib.take_along_dim(x, lib.tensor([0, 2]), 1),
    lambda lib, x: lib.take_along_dim(x, lib.tensor([[1.0]]), 1),
    lambda lib, x: lib.select(x, 1, 4),
    lambda lib, x: lib.select(lib.tensor(1.0), 0, 0),
]


@pytest.mark.parametrize("op", ERRORS)
def test_argument_errors_match_torch_and_change_nothing(op, torch):
    base = np.arange(12.0).reshape(3, 4)
    with pytest.raises(Exception) as expected:
        op(torch, torch.tensor(base, dtype=torch.float32))
    x = ember.tensor(base, dtype=ember.float32)
    with pytest.raises(expected.type) as got:
        op(ember, x)
    message = str(expected.value).split("\n")[0]
    if "out of DATA bounds" in message:  # PyTorch's kernel text; ember names op, dim and size
        assert "index_select(): index 4 is out of bounds for dimension 1 with size 4" in str(
            got.value
        )
    else:  # ember may put the op's name in front of PyTorch's words
        assert str(got.value).endswith(message)
    np.testing.assert_array_equal(x.numpy(), base)
    assert x._version == 0


def test_failed_inplace_ops_change_nothing():
    x = ember.arange(12.0).reshape(3, 4)
    for op in (
        lambda: x.index_add_(0, ember.tensor([0, 3]), ember.ones(2, 4)),
        lambda: x.scatter_(1, ember.tensor([[0, 4]]), 1.0),
        lambda: x.scatter_add_(1, ember.tensor([[0, -1]]), ember.ones(1, 2)),
        lambda: x.index_put_((ember.tensor([0, 3]),), ember.tensor(1.0), accumulate=True),
        lambda: x.index_fill_(0, ember.tensor([5]), 1.0),
    ):
        with pytest.raises((IndexError, RuntimeError)):
            op()
    assert x.tolist() == np.arange(12.0).reshape(3, 4).tolist()
    assert x._version == 0


def test_fill_values_take_the_tensor_dtype(torch):
    base = np.arange(6).reshape(2, 3)
    for op in (
        lambda lib, x: x.masked_fill(lib.tensor([True, False, True]), 2.7),
        lambda lib, x: x.masked_fill(lib.tensor([True, False, True]), lib.tensor(2.5)),
        lambda lib, x: x.index_fill(1, lib.tensor([1]), -1.9),
        lambda lib, x: lib.scatter(x, 1, lib.tensor([[0]]), 2.5),
    ):
        got = op(ember, ember.tensor(base))
        expected = op(torch, torch.tensor(base))
        assert got.dtype == ember.int64
        assert got.tolist() == expected.tolist()


def test_fill_with_a_tensor_value_gets_its_gradient_once_per_filled_entry(torch):
    grads = []
    for lib in (ember, torch):
        v = lib.tensor(3.0, requires_grad=True)
        lib.index_fill(lib.zeros(3, 4), 1, lib.tensor([0, 2, 2]), v).sum().backward()
        w = lib.tensor(3.0, requires_grad=True)
        lib.zeros(3, 4).masked_fill(lib.tensor([True, False, True, True]), w).sum().backward()
        grads.append((v.grad.item(), w.grad.item()))
    assert grads[0] == grads[1] == (6.0, 9.0)


def test_scatter_src_larger_than_index_gets_a_zero_padded_gradient():
    # PyTorch raises in backward here; ember gives the gradient of the part that was read
    x = ember.zeros(3, 4, requires_grad=True)
    src = ember.arange(9.0).reshape(3, 3).requires_grad_()
    out = ember.scatter_add(x, 1, ember.tensor([[0, 1], [2, 0]]), src)
    assert out.tolist() == [[0.0, 1.0, 0.0, 0.0], [4.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    (out * ember.arange(12.0).reshape(3, 4)).sum().backward()
    assert src.grad.tolist() == [[0.0, 1.0, 0.0], [6.0, 4.0, 0.0], [0.0, 0.0, 0.0]]


def test_index_ops_on_0d_tensors(torch):
    for op in (
        lambda lib: lib.gather(lib.tensor(5.0), 0, lib.tensor([0, 0])),
        lambda lib: lib.index_select(lib.tensor(5.0), 0, lib.tensor([0])),
        lambda lib: lib.index_add(lib.tensor(1.0), 0, lib.tensor([0]), lib.tensor(2.0)),
        lambda lib: lib.take(lib.tensor(3.0), lib.tensor(0)),
        lambda lib: lib.masked_select(lib.tensor(3.0), lib.tensor(True)),
        lambda lib: lib.tensor(3.0).masked_fill(lib.tensor(True), 1.0),
        lambda lib: lib.tensor(3.0)[None],
    ):
        got, expected = op(ember), op(torch)
        assert got.shape == tuple(expected.shape)
        assert got.tolist() == expected.tolist()


def test_grad_fn_names():
    x = ember.zeros(3, 4, requires_grad=True)
    assert x[0].grad_fn.name() == "IndexBackward0"
    y = x * 1.0
    y[0] = 1.0
    assert y.grad_fn.name() == "IndexPutBackward0"

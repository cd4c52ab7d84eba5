"""Shape ops beyond the op table: PyTorch's results and errors, copies vs views, properties."""

import warnings

import numpy as np
import pytest

import ember

DATA = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x.unflatten(2, (2, 2)),
        lambda lib, x: lib.unflatten(x, -1, (-1, 2)),
        lambda lib, x: lib.movedim(x, 0, -1),
        lambda lib, x: lib.movedim(x, (0, 1), (2, 0)),
        lambda lib, x: lib.moveaxis(x, -1, 0),
        lambda lib, x: (x.mT, x.mH, x[0].T, x[0].H, x.adjoint()),
        lambda lib, x: lib.broadcast_to(x[0, :, :1], (2, 3, 4)),
        lambda lib, x: lib.broadcast_tensors(x[:, :1], x[0, 0], lib.tensor(1.0)),
        lambda lib, x: (x.repeat(2, 1, 1, 2), x[0, 0].repeat(2, 3), x.repeat(1, 0, 1)),
        lambda lib, x: (lib.tile(x, (2,)), x.tile(2, 1, 1, 1), x[0, 0, 0].tile((3,))),
        lambda lib, x: (lib.flip(x, (0, 2)), x.flip(-1), x.flip(0, 1), lib.flip(x, [])),
        lambda lib, x: (lib.fliplr(x), lib.flipud(x)),
        lambda lib, x: (lib.roll(x, 2), lib.roll(x, (1, -1), (0, 2)), lib.roll(x, 7, 1)),
        lambda lib, x: (lib.roll(x, shifts=-1, dims=-1), lib.roll(x[0, 0, 0], 1)),
        lambda lib, x: (lib.roll(lib.zeros(0, 3), 1, 0), x.roll(1, 0)),
        lambda lib, x: (lib.ravel(x.transpose(0, 2)), x.ravel()),
        lambda lib, x: (
            x[:1].squeeze((0, 2)),
            lib.squeeze(x[:1, :1], (0, 1)),
            x[0, 0, 0].squeeze(0),
        ),
        lambda lib, x: (lib.atleast_1d(x[0, 0, 0]), lib.atleast_2d(x[0, 0]), lib.atleast_3d(x[0])),
        lambda lib, x: lib.atleast_3d(x[0, 0], x[0, 0, 0]),
        lambda lib, x: lib.atleast_2d((x, x[0, 0])),
        lambda lib, x: (x[0].expand_as(x), x.reshape_as(x.reshape(6, 4).T)),
        lambda lib, x: (x.flatten(), x[0, 0, 0].flatten(), lib.t(x[0]), x.swapaxes(0, 2)),
    ],
)
def test_results_match_torch(fn, torch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fn(torch, torch.tensor(DATA))
    got = fn(ember, ember.tensor(DATA))
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        assert g.tolist() == e.tolist()


ERRORS = [
    lambda lib, x: x.unflatten(-1, (3, 2)),
    lambda lib, x: x.unflatten(-1, ()),
    lambda lib, x: lib.movedim(x, (0, 0), (2, 1)),
    lambda lib, x: lib.movedim(x, (0, 1), (2,)),
    lambda lib, x: lib.movedim(x, 3, 0),
    lambda lib, x: x[0, 0].mT,
    lambda lib, x: x.H,
    lambda lib, x: x[0, 0].H,
    lambda lib, x: x.repeat(2, 1),
    lambda lib, x: x.repeat(2, -1, 1),
    lambda lib, x: lib.flip(x, (0, 0)),
    lambda lib, x: lib.flip(x, (3,)),
    lambda lib, x: lib.fliplr(x[0, 0]),
    lambda lib, x: lib.flipud(x[0, 0, 0]),
    lambda lib, x: lib.roll(x, (1, 2)),
    lambda lib, x: lib.roll(x, 1, (0, 1)),
    lambda lib, x: lib.roll(x[0, 0, 0], 1, 0),
    lambda lib, x: lib.broadcast_to(x[0, :, :1], (2, 3)),
    lambda lib, x: lib.broadcast_tensors(x[0], x[0, :2]),
    lambda lib, x: lib.broadcast_shapes((3, 1), (4,), 2),
    lambda lib, x: lib.broadcast_shapes((3, 1), (4, 2)),
    lambda lib, x: x[:1].squeeze((0, 0)),
    lambda lib, x: x.squeeze((0, 3)),
]


@pytest.mark.parametrize("op", ERRORS)
def test_errors_match_torch(op, torch):
    with pytest.raises(Exception) as expected:
        op(torch, torch.tensor(DATA))
    with pytest.raises(expected.type) as got:
        op(ember, ember.tensor(DATA))
    message = str(expected.value).split("\n")[0]
    assert str(got.value).endswith(message.replace("x.permute(*torch.arange", "x.permute(*range"))


def test_broadcast_shapes_matches_torch(torch):
    for shapes in [((3, 1), (4,)), ((2, 1, 1), (3, 1), 5), (), ((0, 1), (1, 4)), ((1,), ())]:
        assert ember.broadcast_shapes(*shapes) == tuple(torch.broadcast_shapes(*shapes))


def test_repeat_tile_flip_and_roll_return_copies():
    x = ember.arange(6.0).reshape(2, 3)
    copies = [x.repeat(1, 1), x.tile((1,)), x.flip(0), x.roll(0, 0), x.roll(1), x.repeat(2, 1)]
    x.add_(100.0)
    for c in copies:
        assert c.numpy().max() < 100.0
        assert c._version == 0
        c.add_(1.0)  # writeable: not a broadcast view
    assert x.numpy().min() == 100.0


def test_views_share_storage_and_version():
    x = ember.zeros(2, 3, 4)
    views = [x[0].T, x.mT, x.movedim(0, -1), x.unflatten(2, (2, 2)), x.squeeze(), x.ravel()]
    x.add_(1.0)
    for v in views:
        assert v.numpy().min() == 1.0
        assert v._version == x._version == 1


def test_T_on_other_than_two_dims_warns_like_torch():
    with pytest.warns(UserWarning, match="x.T"):
        assert ember.zeros(2, 3, 4).T.shape == (4, 3, 2)
    with pytest.warns(UserWarning, match="x.T"):
        assert ember.zeros(3).T.shape == (3,)
    with pytest.warns(UserWarning, match="0-D"):
        assert ember.tensor(1.0).T.shape == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ember.zeros(2, 3).T.shape == (3, 2)


def test_properties_and_methods_are_bound():
    x = ember.zeros(2, 3, requires_grad=True)
    assert isinstance(type(x).T, property) and isinstance(type(x).mT, property)
    assert x.mT.grad_fn.name() == "TransposeBackward0"
    assert x.flip(1).grad_fn.name() == "FlipBackward0"
    for name in ("unflatten", "movedim", "moveaxis", "repeat", "tile", "roll", "ravel", "flip"):
        assert callable(getattr(x, name))
    for name in ("broadcast_shapes", "broadcast_tensors", "atleast_1d", "fliplr", "swapdims"):
        assert callable(getattr(ember, name))


def test_repeat_gradient_sums_the_copies(torch):
    grads = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, 2.0]], requires_grad=True)
        y = x.repeat(3, 2)
        (y * lib.arange(12.0).reshape(3, 4)).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]


@pytest.mark.parametrize(
    "source, target, shape",
    [("float32", "int32", (2, 3)), ("float32", "int16", (2, 3)), ("float64", "float32", (3,))]
    + [("int16", "float32", (2, 4)), ("float32", "float32", (2,))],
)
def test_view_as_dtype_reinterprets_bits_as_torch(source, target, shape, torch):
    data = np.linspace(-2, 3, int(np.prod(shape))).reshape(shape)
    got = ember.tensor(data, dtype=getattr(ember, source)).view(getattr(ember, target))
    expected = torch.tensor(data, dtype=getattr(torch, source)).view(getattr(torch, target))
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_view_as_dtype_shares_storage_and_refuses_odd_sizes():
    x = ember.zeros(4)
    bits = x.view(ember.int32)
    bits[0] = 1065353216  # the bits of 1.0f
    assert x[0].item() == 1.0 and not bits.requires_grad
    with pytest.raises(RuntimeError, match="divisible by 2"):
        ember.ones(3).view(ember.float64)
    with pytest.raises(TypeError, match="view"):
        ember.ones(3).view("float64")

"""select(): np.where's bit-mask form must give where()'s exact bits, shapes and dtypes."""

import numpy as np
import pytest

import ember
from ember.ops._select import _SMALL, select

SHAPES = [
    ((128, 100), (128, 100), (128, 100)),
    ((128, 100), (100,), ()),
    ((128, 1), (1, 100), (128, 100)),
    ((128, 100), (), ()),
    ((128, 100), (), (128, 100)),
]
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_select_matches_where_bit_for_bit(dtype, shapes):
    rng = np.random.default_rng(0)
    condition = rng.random(shapes[0]) > 0.5
    x = (rng.standard_normal(shapes[1]) * 50).astype(dtype)
    y = (rng.standard_normal(shapes[2]) * 50).astype(dtype)
    for a, b in [(x, y), (x, 0), (0, y), (0, 0), (x, 3)]:
        want, got = np.where(condition, a, b), select(condition, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(np.ascontiguousarray(got).view(np.uint8), want.view(np.uint8))


def test_select_moves_nan_and_negative_zero_untouched():
    condition = np.random.default_rng(1).random((200, 200)) > 0.5
    x = np.full((200, 200), np.nan, np.float32)
    x[::2] = -0.0
    got = select(condition, x, np.float32(-0.0))
    assert np.array_equal(got.view(np.int32), np.where(condition, x, -0.0).view(np.int32))
    # a zero scalar is +0.0: a NaN gradient stops where the mask is off, as PyTorch's
    got = select(condition, x, 0)
    assert np.array_equal(got.view(np.int32), np.where(condition, x, 0).view(np.int32))


def test_small_arrays_keep_where():
    condition = np.array([True, False])
    assert select(condition, np.array([1.0, 2.0]), 0).tolist() == [1.0, 0.0]
    assert condition.size < _SMALL


def test_relu_backward_of_a_nan_gradient_is_zero_where_relu_cut():
    x = ember.tensor(np.linspace(-1, 1, 10000, dtype=np.float32), requires_grad=True)
    x.relu().backward(ember.full((10000,), float("nan")))
    grad = x.grad.numpy()
    assert (grad[:5000] == 0).all() and np.isnan(grad[5000:]).all()

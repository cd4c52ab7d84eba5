"""max_unpool, lp_pool, channel_shuffle, the *_with_indices names, Fold/Unfold and NLLLoss2d
modules, against torch."""

import numpy as np
import pytest

import ember


def _grads(lib, fn, x, weights):
    t = lib.tensor(x, requires_grad=True)
    out = fn(lib, t)
    (out * lib.tensor(weights(out.shape))).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dims, shape", [(1, (2, 3, 8)), (2, (2, 3, 6, 8)), (3, (1, 2, 4, 6, 4))])
def test_max_unpool_inverts_max_pool_like_torch(dims, shape, torch):
    x = np.random.default_rng(dims).standard_normal(shape)
    rng = np.random.default_rng(0)

    def fn(lib, t):
        F = lib.nn.functional
        out, idx = getattr(F, f"max_pool{dims}d")(t, 2, return_indices=True)
        return getattr(lib.nn, f"MaxUnpool{dims}d")(2)(out, idx)

    ours = _grads(ember, fn, x, lambda s: np.random.default_rng(1).standard_normal(s))
    theirs = _grads(torch, fn, x, lambda s: np.random.default_rng(1).standard_normal(s))
    del rng
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("dims, shape", [(1, (2, 3, 9)), (2, (2, 3, 6, 7)), (3, (1, 2, 4, 6, 5))])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5])
def test_lp_pool_matches_torch(dims, shape, norm_type, torch):
    x = np.abs(np.random.default_rng(2).standard_normal(shape)) + 0.1

    def fn(lib, t):
        return getattr(lib.nn, f"LPPool{dims}d")(norm_type, 2, stride=1)(t)

    ours = _grads(ember, fn, x, np.ones)
    theirs = _grads(torch, fn, x, np.ones)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_channel_shuffle_fold_unfold_and_indices_names_match_torch(torch):
    x = np.random.default_rng(3).standard_normal((2, 6, 4, 4))
    for lib in (torch, ember):
        assert lib.nn.ChannelShuffle(3)(lib.tensor(x)).shape == (2, 6, 4, 4)
    np.testing.assert_array_equal(
        ember.nn.ChannelShuffle(3)(ember.tensor(x)).numpy(),
        torch.nn.ChannelShuffle(3)(torch.tensor(x)).numpy(),
    )
    cols_e = ember.nn.Unfold(2, stride=2)(ember.tensor(x))
    cols_t = torch.nn.Unfold(2, stride=2)(torch.tensor(x))
    np.testing.assert_allclose(cols_e.numpy(), cols_t.numpy())
    back = ember.nn.Fold((4, 4), 2, stride=2)(cols_e)
    np.testing.assert_allclose(back.numpy(), x)
    out, idx = ember.nn.functional.max_pool2d_with_indices(ember.tensor(x), 2)
    t_out, t_idx = torch.nn.functional.max_pool2d_with_indices(torch.tensor(x), 2)
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())
    np.testing.assert_allclose(out.numpy(), t_out.numpy())
    logp = np.log(np.full((2, 3, 2, 2), 1 / 3))
    target = np.zeros((2, 2, 2), dtype=np.int64)
    assert ember.nn.NLLLoss2d()(ember.tensor(logp), ember.tensor(target)).item() == pytest.approx(
        np.log(3)
    )


def test_errors():
    with pytest.raises(RuntimeError, match="divisible by groups"):
        ember.nn.functional.channel_shuffle(ember.zeros(1, 5, 2, 2), 2)
    out, idx = ember.nn.functional.max_pool2d(ember.randn(1, 1, 6, 7), 2, return_indices=True)
    with pytest.raises(RuntimeError, match="outside the output"):
        ember.nn.functional.max_unpool2d(out, idx, 2)
    with pytest.raises(ValueError, match="invalid output_size"):
        ember.nn.functional.max_unpool2d(out, idx, 2, output_size=(9, 9))

"""tril/triu_indices, meshgrid, bernoulli and multinomial: torch's results and seeding."""

import warnings

import numpy as np
import pytest

import ember


@pytest.mark.parametrize(
    "row, col, offset", [(3, 3, 0), (3, 4, 1), (4, 3, -1), (2, 5, 7), (0, 3, 0)]
)
def test_triangle_indices_match_torch(torch, row, col, offset):
    for name in ("tril_indices", "triu_indices"):
        got = getattr(ember, name)(row, col, offset)
        expected = getattr(torch, name)(row, col, offset)
        assert got.dtype == ember.int64
        assert got.tolist() == expected.tolist(), name


def test_meshgrid_indexing_and_warning(torch):
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0]
    for indexing in ("ij", "xy"):
        got = ember.meshgrid(ember.tensor(a), ember.tensor(b), indexing=indexing)
        expected = torch.meshgrid(torch.tensor(a), torch.tensor(b), indexing=indexing)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected]
    with pytest.warns(UserWarning, match="indexing"):
        grids = ember.meshgrid([ember.tensor(a), ember.tensor(b)])
    assert grids[0].shape == (3, 2)
    with pytest.raises(RuntimeError, match="0D or 1D"):
        ember.meshgrid(ember.ones(2, 2), indexing="ij")


def test_bernoulli_is_reproducible_and_has_the_right_mean():
    p = ember.full((200, 100), 0.3)
    ember.manual_seed(5)
    first = ember.bernoulli(p)
    ember.manual_seed(5)
    second = ember.bernoulli(p)
    assert first.tolist() == second.tolist()
    assert set(np.unique(first.numpy())) <= {0.0, 1.0}
    assert first.dtype == ember.float32
    assert abs(first.mean().item() - 0.3) < 0.02
    assert not ember.bernoulli(p).equal(first)  # the global generator moved on


def test_bernoulli_with_a_generator_and_in_place():
    g = ember.Generator().manual_seed(11)
    a = ember.bernoulli(ember.full((50,), 0.5), generator=g)
    b = ember.bernoulli(ember.full((50,), 0.5), generator=ember.Generator().manual_seed(11))
    assert a.tolist() == b.tolist()
    x = ember.zeros(1000)
    assert x.bernoulli_(0.8) is x
    assert abs(x.mean().item() - 0.8) < 0.05
    probs = ember.tensor([0.0, 1.0, 0.0, 1.0])
    assert ember.zeros(4).bernoulli_(probs).tolist() == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(RuntimeError):
        ember.bernoulli(ember.tensor([1.5]))
    with pytest.raises(RuntimeError, match="bernoulli_ expects p to be in"):
        ember.zeros(2).bernoulli_(1.5)


def test_multinomial_without_replacement_gives_distinct_indices():
    weights = ember.tensor([[1.0, 2.0, 3.0, 4.0, 0.5], [5.0, 0.1, 0.1, 1.0, 1.0]])
    firsts = []
    for _ in range(200):
        draw = ember.multinomial(weights, 5)
        assert draw.dtype == ember.int64 and draw.shape == (2, 5)
        for row in draw.tolist():
            assert sorted(row) == [0, 1, 2, 3, 4]
        firsts.append(draw[1, 0].item())
    assert abs(firsts.count(0) / 200 - 5.0 / 7.2) < 0.1  # the first draw follows the weights


def test_multinomial_without_replacement_puts_zero_weights_last(torch):
    weights = [0.0, 2.0, 0.0, 0.0]
    expected = torch.multinomial(torch.tensor(weights), 4).tolist()
    got = ember.multinomial(ember.tensor(weights), 4).tolist()
    assert got[0] == expected[0] == 1  # PyTorch fills with zero-weight categories, no error
    assert sorted(got) == sorted(expected) == [0, 1, 2, 3]


def test_multinomial_follows_the_weights_and_seeds():
    weights = ember.tensor([0.0, 1.0, 3.0])
    ember.manual_seed(0)
    draw = ember.multinomial(weights, 4000, replacement=True)
    counts = np.bincount(draw.numpy(), minlength=3)
    assert counts[0] == 0
    assert abs(counts[2] / 4000 - 0.75) < 0.03
    g1, g2 = ember.Generator().manual_seed(3), ember.Generator().manual_seed(3)
    assert (
        weights.multinomial(10, True, generator=g1).tolist()
        == ember.multinomial(weights, 10, True, generator=g2).tolist()
    )


@pytest.mark.parametrize(
    "weights, n, replacement, words",
    [
        ([1.0, 2.0], 3, False, "cannot sample n_sample > prob_dist.size(-1)"),
        ([1.0, -2.0], 1, True, "element < 0"),
        ([0.0, 0.0], 1, True, "sum of probabilities <= 0"),
        ([1.0], 0, True, "n_sample <= 0"),
    ],
)
def test_multinomial_errors_match_torch(torch, weights, n, replacement, words):
    with pytest.raises(RuntimeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        torch.multinomial(torch.tensor(weights), n, replacement)
    with pytest.raises(RuntimeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ember.multinomial(ember.tensor(weights), n, replacement)


def test_meshgrid_is_differentiable():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor([3.0, 4.0, 5.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = ember.meshgrid(a, b, indexing="xy")
    (x * y).sum().backward()
    assert a.grad.tolist() == [12.0, 12.0]
    assert b.grad.tolist() == [3.0, 3.0, 3.0]

"""randint in every form PyTorch documents, randint_like, empty_strided, and the float-only
draws (randn, rand, normal_, uniform_) refusing integer dtypes, against PyTorch."""

from __future__ import annotations

import pytest

import ember

FORMS = [
    ("high, size", lambda lib: lib.randint(10, (3,))),
    ("low, high, size", lambda lib: lib.randint(3, 10, (2, 2))),
    ("size as a list", lambda lib: lib.randint(3, 10, [4])),
    ("Size", lambda lib: lib.randint(5, lib.Size([2, 3]))),
    ("keywords", lambda lib: lib.randint(high=4, size=(2,))),
    ("low and keywords", lambda lib: lib.randint(2, high=4, size=(2,))),
    ("all keywords", lambda lib: lib.randint(low=-3, high=3, size=(5,))),
    ("dtype", lambda lib: lib.randint(0, 5, (3,), dtype=lib.int32)),
    ("float dtype", lambda lib: lib.randint(5, (2,), dtype=lib.float64)),
    ("requires_grad", lambda lib: lib.randint(5, (2,), dtype=lib.float32, requires_grad=True)),
    ("device", lambda lib: lib.randint(5, (2,), device="cpu")),
    ("generator", lambda lib: lib.randint(5, (2,), generator=lib.Generator().manual_seed(1))),
]


@pytest.mark.parametrize("name, make", FORMS, ids=[n for n, _ in FORMS])
def test_randint_forms_match_pytorch(name, make, torch):
    want, got = make(torch), make(ember)
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")
    assert got.requires_grad == want.requires_grad


def test_randint_values_lie_in_range():
    x = ember.randint(-2, 3, (1000,))
    assert x.min().item() == -2 and x.max().item() == 2
    assert ember.randint(7, (500,)).max().item() == 6


def test_randint_out_and_generator_repeat():
    out = ember.empty(4, dtype=ember.int64)
    result = ember.randint(0, 100, (4,), out=out)
    assert result is out
    first = ember.randint(100, (5,), generator=ember.Generator().manual_seed(3))
    again = ember.randint(100, (5,), generator=ember.Generator().manual_seed(3))
    assert first.tolist() == again.tolist()


ERRORS = [
    lambda lib: lib.randint(5, 5, (2,)),
    lambda lib: lib.randint(-3, size=(2,)),
    lambda lib: lib.randint(5, (2,), requires_grad=True),  # "...floating point ... dtype"
    lambda lib: lib.randint(0, 300, (3,), dtype=lib.uint8),
]


@pytest.mark.parametrize("make", ERRORS)
def test_randint_errors_match_pytorch(make, torch):
    with pytest.raises(RuntimeError) as want:
        make(torch)
    with pytest.raises(RuntimeError) as got:
        make(ember)
    words = [w for w in str(want.value).split(",")[0].split()[:4] if w not in ("Only", "and")]
    assert all(word in str(got.value) for word in words), (str(want.value), str(got.value))


def test_randint_like_matches_pytorch(torch):
    for lib in (torch, ember):
        x = lib.zeros(2, 3)
        one = lib.randint_like(x, 5)
        two = lib.randint_like(x, 3, 5, dtype=lib.int64)
        assert tuple(one.shape) == (2, 3) and one.dtype == lib.float32
        assert two.dtype == lib.int64 and two.min().item() >= 3 and two.max().item() < 5


def test_empty_strided_matches_pytorch(torch):
    for lib in (torch, ember):
        x = lib.empty_strided((2, 3), (1, 2))
        assert x.stride() == (1, 2) and tuple(x.shape) == (2, 3)
        y = lib.empty_strided((2, 2), (4, 2), dtype=lib.float64).copy_(lib.ones(2, 2))
        assert y.stride() == (4, 2) and y.sum().item() == 4.0
        with pytest.raises(RuntimeError, match="dimensionality of sizes"):
            lib.empty_strided((2, 3), (1,))


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.randn(2, dtype=lib.int64),
        lambda lib: lib.rand(2, dtype=lib.int64),
        lambda lib: lib.zeros(2, dtype=lib.int64).normal_(),
        lambda lib: lib.zeros(2, dtype=lib.int64).uniform_(),
    ],
)
def test_float_draws_refuse_integer_dtypes_as_pytorch(make, torch):
    with pytest.raises(NotImplementedError) as want:
        make(torch)
    with pytest.raises(NotImplementedError) as got:
        make(ember)
    assert str(got.value) == str(want.value)


def test_normal_and_uniform_in_place():
    x = ember.zeros(10000)
    assert x.normal_(2.0, 0.5) is x
    assert abs(x.mean().item() - 2.0) < 0.05 and abs(x.std().item() - 0.5) < 0.05
    x.uniform_(-1.0, 3.0)
    assert x.min().item() >= -1.0 and x.max().item() < 3.0
    with pytest.raises(RuntimeError, match="leaf Variable"):
        ember.zeros(2, requires_grad=True).normal_()

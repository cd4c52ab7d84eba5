"""The Tensor: creation, dtypes and promotion, conversion, printing, legacy spellings."""

import warnings

import numpy as np
import pytest

import ember


def test_creation_functions_and_shapes():
    assert ember.zeros(2, 3).shape == (2, 3)
    assert ember.ones((2, 3)).dtype == ember.float32
    assert ember.full((2,), 7).dtype == ember.int64
    assert ember.eye(3).numpy().trace() == 3
    assert ember.arange(5).dtype == ember.int64
    assert ember.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert ember.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ember.zeros_like(ember.ones(2, dtype=ember.int32)).dtype == ember.int32
    assert ember.empty(0).numel() == 0


def test_tensor_infers_dtype_like_pytorch():
    assert ember.tensor([1, 2]).dtype == ember.int64
    assert ember.tensor([1.0, 2]).dtype == ember.float32
    assert ember.tensor([True]).dtype == ember.bool
    assert ember.tensor(np.zeros(2, np.float64)).dtype == ember.float64
    assert ember.Tensor([1, 2]).dtype == ember.float32
    assert ember.Tensor(2, 3).shape == (2, 3)


def test_negative_size_is_refused():
    with pytest.raises(RuntimeError, match="negative dimension"):
        ember.zeros(2, -1)


def test_from_numpy_shares_memory():
    a = np.zeros(3, np.float32)
    t = ember.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5
    assert t.numpy() is a


def test_random_is_reproducible_under_manual_seed():
    ember.manual_seed(3)
    a = ember.randn(4)
    ember.manual_seed(3)
    b = ember.randn(4)
    assert a.tolist() == b.tolist()
    g = ember.Generator().manual_seed(3)
    assert ember.rand(2, generator=g).dtype == ember.float32
    assert sorted(ember.randperm(5).tolist()) == [0, 1, 2, 3, 4]
    r = ember.randint(0, 3, (100,))
    assert r.dtype == ember.int64 and 0 <= r.min().item() and r.max().item() < 3


PROMOTION_CASES = [
    (lambda lib: lib.tensor([1, 2]), lambda lib: 1.5),
    (lambda lib: lib.tensor([1.0, 2.0]), lambda lib: 2.0),
    (lambda lib: lib.tensor([1.0, 2.0]), lambda lib: lib.tensor(2.0, dtype=lib.float64)),
    (
        lambda lib: lib.tensor([1, 2], dtype=lib.int32),
        lambda lib: lib.tensor(2.5, dtype=lib.float64),
    ),
    (lambda lib: lib.tensor([1, 2], dtype=lib.int32), lambda lib: lib.tensor([1, 2])),
    (lambda lib: lib.tensor([True]), lambda lib: 1),
    (lambda lib: lib.tensor([1.0], dtype=lib.float16), lambda lib: lib.tensor([1.0])),
    (lambda lib: lib.tensor([1, 2], dtype=lib.uint8), lambda lib: lib.tensor([1], dtype=lib.int8)),
    (lambda lib: 3, lambda lib: lib.tensor([1, 2])),
    (lambda lib: 2.5, lambda lib: lib.tensor([1, 2], dtype=lib.int16)),
]
OPERATORS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("make_a, make_b", PROMOTION_CASES)
@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_type_promotion_matches_torch(make_a, make_b, op, torch):
    f = OPERATORS[op]
    try:
        theirs = f(make_a(torch), make_b(torch))
    except RuntimeError:
        with pytest.raises(RuntimeError):
            f(make_a(ember), make_b(ember))
        return
    ours = f(make_a(ember), make_b(ember))
    assert ours.dtype.name == str(theirs.dtype).split(".")[1]
    np.testing.assert_allclose(ours.numpy().astype(float), theirs.numpy().astype(float))


def test_conversions():
    t = ember.tensor([1.7, -2.2])
    assert t.long().tolist() == [1, -2]
    assert t.double().dtype == ember.float64
    assert t.to(ember.int32).dtype == ember.int32
    assert t.type(ember.DoubleTensor).dtype == ember.float64
    assert t.type() == "ember.FloatTensor"
    assert t.type("torch.LongTensor").dtype == ember.int64
    assert isinstance(t, ember.FloatTensor) and not isinstance(t, ember.DoubleTensor)
    assert ember.tensor(3.5).item() == 3.5 and isinstance(ember.tensor(3).item(), int)
    assert float(ember.tensor([2.0])) == 2.0
    assert len(ember.zeros(4, 2)) == 4
    assert [row.tolist() for row in ember.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert np.asarray(ember.ones(2)).dtype == np.float32


def test_numpy_of_tensor_requiring_grad_raises():
    with pytest.raises(RuntimeError, match="detach"):
        ember.ones(2, requires_grad=True).numpy()


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2]).requires_grad_()
    y = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d._vc is y._vc


def test_repr_like_pytorch(torch):
    cases = [
        lambda lib: lib.tensor([[1.0, 2.5], [-3.0, 4.0]]),
        lambda lib: lib.tensor([1.0, 2.0, 3.0]),
        lambda lib: lib.tensor([1, 2, 3]),
        lambda lib: lib.tensor(3.0),
        lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor([0.5], dtype=lib.float64),
    ]
    for make in cases:
        assert repr(make(ember)) == repr(make(torch)).replace("torch.", "ember.")
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x.sum()) == "tensor(3., grad_fn=<SumBackward0>)"
    assert repr(x.mm if False else x * 2).endswith("grad_fn=<MulBackward0>)")


def test_legacy_zero_dim_index_warns_and_returns_number():
    loss = ember.tensor(2.5)
    with pytest.warns(DeprecationWarning, match="item"):
        assert loss.data[0] == 2.5
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        loss[1]


def test_variable_is_a_deprecated_alias():
    from ember.autograd import Variable

    with pytest.warns(DeprecationWarning):
        v = Variable(ember.ones(2), requires_grad=True)
    assert isinstance(v, ember.Tensor) and v.requires_grad and v.is_leaf
    assert isinstance(v, Variable)


def test_cuda_unavailable_says_how_to_get_it():
    assert ember.cuda.is_available() is False
    with pytest.raises(RuntimeError, match="CuPy"):
        ember.cuda.FloatTensor([1.0])
    with pytest.raises(RuntimeError, match="CuPy"):
        ember.ones(2).cuda()
    assert ember.cuda.device_count() == 0


def test_device_objects():
    assert ember.device("cuda:1").index == 1
    assert ember.ones(1).device == ember.device("cpu")
    assert str(ember.device("cpu")) == "cpu"
    with pytest.raises(RuntimeError):
        ember.device("tpu")


def test_set_default_dtype():
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor([1.0]).dtype == ember.float64
        assert (ember.tensor([1]) * 0.5).dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError):
        ember.set_default_dtype(ember.int64)


def test_mm_errors_name_the_shapes():
    with pytest.raises(RuntimeError, match=r"24x1000 and 100x4"):
        ember.zeros(24, 1000).mm(ember.zeros(100, 4))


def test_no_warning_on_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = ember.randn(3, 3, requires_grad=True)
        (x.mm(x).clamp(min=0) ** 2).sum().backward()


def test_set_num_threads():
    with pytest.raises(ValueError):
        ember.set_num_threads(0)
    pytest.importorskip("threadpoolctl")  # what sets BLAS's threads (comes with scikit-learn)
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
    finally:
        ember.set_num_threads(max(before, 1))

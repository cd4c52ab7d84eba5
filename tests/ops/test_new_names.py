"""Names PyTorch code reaches for that ember lacked: constants, memory formats, isin,
scatter_reduce, as_strided and storages. What the op table cannot say (errors, in-place,
storage semantics), checked against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember


def _libs(torch):
    return (torch, ember)


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as error:  # noqa: BLE001 - the kind of error is what is compared
        return type(error)
    return None


# --- constants and memory formats ---
def test_constants_match_pytorch(torch):
    assert ember.inf == torch.inf == math.inf and ember.pi == torch.pi and ember.e == torch.e
    assert math.isnan(ember.nan) and math.isnan(torch.nan)
    assert ember.tensor([ember.inf, -ember.inf]).isinf().all()


def test_memory_formats_are_accepted_and_change_nothing(torch):
    x = ember.arange(24.0).reshape(1, 2, 3, 4)
    for name in ("contiguous_format", "preserve_format", "channels_last"):
        fmt = getattr(ember, name)
        assert repr(fmt) == repr(getattr(torch, name)).replace("torch", "ember")
        assert isinstance(fmt, ember.memory_format)
        for out in (
            x.clone(memory_format=fmt),
            x.contiguous(memory_format=fmt),
            ember.zeros_like(x, memory_format=fmt) + x,
            ember.empty_like(x, memory_format=fmt).copy_(x),
        ):
            assert out.shape == x.shape and out.is_contiguous()
            assert out.tolist() == x.tolist()
    assert ember.empty(2, 3, memory_format=ember.contiguous_format).shape == (2, 3)
    assert x.is_contiguous(memory_format=ember.contiguous_format)
    assert ember.channels_last_3d is not ember.channels_last


# --- isin ---
@pytest.mark.parametrize(
    "elements, test_elements, kwargs",
    [
        ([1, 2, 3], [2.0, 3.5], {}),
        ([1.0, float("nan"), 4.0], [float("nan"), 4.0], {}),
        ([[1, 2], [3, 4]], [[2, 9]], {"assume_unique": True}),
        ([1, 2, 3], [2], {"invert": True}),
        ([0.1], 0.1, {}),  # the number is taken in the tensor's dtype (float32)
        ([1, 2], 2.5, {}),
        (2, [1.0, 2.0], {}),
        ([5, 6], [], {}),
    ],
)
def test_isin_matches_pytorch(elements, test_elements, kwargs, torch):
    def make(lib, v):
        if not isinstance(v, list):
            return v
        return lib.tensor(v, dtype=lib.int64) if v == [] else lib.tensor(v)

    got = []
    for lib in _libs(torch):
        result = lib.isin(make(lib, elements), make(lib, test_elements), **kwargs)
        assert result.dtype == lib.bool
        got.append((tuple(result.shape), result.tolist()))
    assert got[0] == got[1]


def test_isin_refuses_what_pytorch_refuses(torch):
    cases = [
        lambda lib: lib.isin(2, 3),
        lambda lib: lib.isin(lib.tensor([True]), lib.tensor([True])),
        lambda lib: lib.isin(lib.tensor([1, 2]), True),
        lambda lib: lib.isin([1, 2], lib.tensor([1])),
    ]
    for case in cases:
        assert _error(case, ember) is _error(case, torch) is not None
    with pytest.raises(RuntimeError, match="Unsupported input type encountered for isin"):
        ember.isin(ember.tensor([True]), ember.tensor([False]))


def test_isin_takes_out_and_records_no_gradient(torch):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    result = ember.isin(x, ember.tensor([2.0]))
    assert not result.requires_grad and result.grad_fn is None
    out = ember.empty(0, dtype=ember.bool)
    assert ember.isin(x.detach(), ember.tensor([3.0]), out=out) is out
    assert out.tolist() == [False, False, True]
    assert not hasattr(torch.Tensor, "isin") and not hasattr(ember.Tensor, "isin")


# --- scatter_reduce ---
def test_scatter_reduce_values_match_pytorch_for_every_reduction(torch):
    for dtype in ("float32", "int64"):
        for reduce in ("sum", "prod", "mean", "amax", "amin", "max", "min"):
            for include_self in (True, False):
                got = []
                for lib in _libs(torch):
                    x = lib.tensor([[1, -2, 3, 4], [5, 6, -7, 8]], dtype=getattr(lib, dtype))
                    src = lib.tensor([[5, -6, 7], [1, 0, -3]], dtype=getattr(lib, dtype))
                    index = lib.tensor([[0, 0, 2], [3, 3, 3]])
                    out = x.scatter_reduce(1, index, src, reduce, include_self=include_self)
                    got.append((str(out.dtype).split(".")[1], out.tolist()))
                assert got[0] == got[1], (dtype, reduce, include_self)


def test_scatter_reduce_errors_match_pytorch(torch):
    def call(lib, change):
        args = {
            "x": lib.tensor([1.0, 2.0, 3.0, 4.0]),
            "dim": 0,
            "index": lib.tensor([0, 0, 2]),
            "src": lib.tensor([5.0, 6.0, 7.0]),
            "reduce": "sum",
        }
        args.update(change(lib))
        return lambda: args["x"].scatter_reduce(
            args["dim"], args["index"], args["src"], args["reduce"]
        )

    cases = [
        lambda lib: {"reduce": "add"},
        lambda lib: {"reduce": 3},
        lambda lib: {"src": lib.tensor([5.0, 6.0, 7.0], dtype=lib.float64)},
        lambda lib: {"index": lib.tensor([0.0, 1.0])},
        lambda lib: {"index": lib.tensor([0, 5])},
        lambda lib: {"index": lib.tensor([0, -1])},
        lambda lib: {"dim": 1},
        lambda lib: {"src": lib.tensor([1.0])},
        lambda lib: {"src": 2.0},
        lambda lib: {"index": lib.tensor([[0], [1]])},
        lambda lib: {
            "x": lib.tensor([True, False]),
            "src": lib.tensor([True]),
            "index": lib.tensor([0]),
            "reduce": "mean",
        },
    ]
    for case in cases:
        expected = _error(call(torch, case))
        assert expected is not None
        assert _error(call(ember, case)) is expected, case(torch)
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean"):
        call(ember, lambda lib: {"reduce": "add"})()


def test_scatter_reduce_in_place_and_out(torch):
    for lib in _libs(torch):
        y = lib.zeros(4)
        version = y._version
        result = y.scatter_reduce_(0, lib.tensor([0, 0, 2]), lib.tensor([5.0, 6.0, 7.0]), "amax")
        assert result is y and y.tolist() == [6.0, 0.0, 7.0, 0.0] and y._version > version
        out = lib.empty(0)
        got = lib.scatter_reduce(
            lib.ones(3), 0, lib.tensor([1, 1]), lib.tensor([2.0, 3.0]), "prod", out=out
        )
        assert got is out and out.tolist() == [1.0, 6.0, 1.0], lib.__name__


def test_scatter_reduce_in_place_on_a_non_leaf_keeps_gradients(torch):
    grads = []
    for lib in _libs(torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        src = lib.tensor([4.0, -1.0], requires_grad=True)
        y = x * 2
        y.scatter_reduce_(0, lib.tensor([1, 1]), src, "mean", include_self=False)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append((x.grad.tolist(), src.grad.tolist()))
    assert grads[0] == grads[1]


@pytest.mark.parametrize(
    "reduce, x, src, index, include_self",
    [
        ("amax", [5.0, 2.0], [5.0, 5.0, 1.0], [0, 0, 1], False),  # ties share the gradient
        ("amax", [5.0, 2.0], [5.0, 5.0, 1.0], [0, 0, 1], True),
        ("amin", [1.0, 2.0], [1.0, 3.0, 2.0], [0, 0, 1], True),
        ("prod", [0.0, 2.0], [3.0, 0.0, 0.0], [0, 1, 1], True),  # zeros: no 0/0
        ("prod", [0.0, 2.0], [3.0, 0.0, 4.0], [0, 1, 1], True),
        ("prod", [0.0, 2.0], [3.0, 0.0, 4.0], [0, 1, 1], False),
        ("mean", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [2, 2, 0], False),
    ],
)
def test_scatter_reduce_gradients_at_ties_and_zeros(reduce, x, src, index, include_self, torch):
    grads = []
    for lib in _libs(torch):
        a = lib.tensor(x, requires_grad=True)
        b = lib.tensor(src, requires_grad=True)
        out = a.scatter_reduce(0, lib.tensor(index), b, reduce, include_self=include_self)
        weights = lib.arange(1.0, len(x) + 1)
        grads.append([g.tolist() for g in lib.autograd.grad((out * weights).sum(), (a, b))])
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])


# --- as_strided ---
def test_as_strided_errors_match_pytorch(torch):
    cases = [
        lambda x: x.as_strided((3, 3), (2, 1)),  # reaches past the storage
        lambda x: x.as_strided((2,), (1,), 5),
        lambda x: x.as_strided((2,), (-1,), 3),
        lambda x: x.as_strided((-2,), (1,)),
        lambda x: x.as_strided((2,), (1,), -1),
        lambda x: x.as_strided((2, 3), (1,)),
        lambda x: x.as_strided([2], [1.5]),
        lambda x: x.as_strided(2, 1),
        lambda x: x[4:].as_strided((3,), (1,)),  # from a view's offset, past the end
    ]
    for case in cases:
        expected = _error(case, torch.arange(6.0))
        assert expected is not None
        assert _error(case, ember.arange(6.0)) is expected
    with pytest.raises(RuntimeError, match=r"requiring a storage size of 28 are out of bounds"):
        ember.arange(6.0).as_strided((3, 3), (2, 1))


def test_as_strided_is_a_view_of_the_storage(torch):
    for lib in _libs(torch):
        x = lib.arange(6.0)
        tail = x[2:]
        assert tail.storage_offset() == 2
        assert tail.as_strided((2,), (1,)).tolist() == [2.0, 3.0]  # starts where tail does
        assert tail.as_strided((2,), (1,), 0).tolist() == [0.0, 1.0]  # the storage's start
        window = x.as_strided((2, 2), (1, 2), 1)
        window[0, 1] = 100.0
        assert x.tolist() == [0.0, 1.0, 2.0, 100.0, 4.0, 5.0], lib.__name__
        assert x.reshape(2, 3).t().as_strided((6,), (1,)).tolist() == x.tolist()
        assert lib.as_strided(lib.tensor(3.0), (2,), (0,)).tolist() == [3.0, 3.0]
        assert x.as_strided((0,), (1,), 7).shape == (0,)
        with pytest.raises(RuntimeError, match="more than one element of the written-to"):
            lib.zeros(5).as_strided((3,), (0,)).add_(1)


def test_as_strided_gradients_match_pytorch(torch):
    grads = []
    for lib in _libs(torch):
        a = lib.arange(1.0, 10.0, requires_grad=True)
        overlapping = a.as_strided((3, 3), (1, 1))  # entries repeat: gradients add
        expanded = a[:4].expand(3, 4).as_strided((3,), (1,))  # the input repeats: PyTorch divides
        loss = (overlapping * lib.arange(9.0).reshape(3, 3)).sum() + (expanded * 2).sum()
        grads.append(lib.autograd.grad(loss, a)[0].tolist())
        assert type(overlapping.grad_fn).__name__ == "AsStridedBackward0"
    assert grads[0] == grads[1]


def test_in_place_on_an_as_strided_view_updates_the_base_gradient(torch):
    grads = []
    for lib in _libs(torch):
        leaf = lib.arange(5.0, requires_grad=True)
        w = leaf * 1
        w.as_strided((2,), (2,), 1).mul_(2)
        grads.append((w.tolist(), lib.autograd.grad((w * w).sum(), leaf)[0].tolist()))
    assert grads[0] == grads[1]


# --- storages ---
def test_storages_tell_which_tensors_share_memory(torch):
    for lib in _libs(torch):
        x = lib.arange(6.0).reshape(2, 3)
        ptr = x.untyped_storage().data_ptr()
        for shared in (x[1], x.t(), x.detach(), x.data, x.view(-1)[2:], x.expand(2, 2, 3)):
            assert shared.untyped_storage().data_ptr() == ptr, lib.__name__
        for fresh in (x.clone(), x + 0, x.t().contiguous()):
            assert fresh.untyped_storage().data_ptr() != ptr
        storage = x.untyped_storage()
        assert storage.nbytes() == storage.size() == len(storage) == 24
        assert storage.element_size() == 1 and storage.device.type == "cpu"
        assert x[1].storage_offset() == 3 and x.t().storage_offset() == 0


def test_typed_storage_counts_elements():
    x = ember.arange(6, dtype=ember.int32)
    storage = x[2:].storage()
    assert storage.size() == len(storage) == 6 and storage.dtype == ember.int32
    assert storage.nbytes() == 24 and storage.element_size() == 4
    assert storage.data_ptr() == x.untyped_storage().data_ptr() == x.data_ptr()
    assert storage.untyped().nbytes() == 24


def test_storage_of_a_numpy_array_is_the_array():
    array = np.arange(4.0)
    t = ember.from_numpy(array)
    assert t.untyped_storage().data_ptr() == array.__array_interface__["data"][0]
    assert ember.from_numpy(array[1:]).untyped_storage().data_ptr() == t.data_ptr()


def test_stride_new_and_split_with_sizes(torch):
    for lib in (ember, torch):
        x = lib.ones(2, 3, dtype=lib.float64)
        assert x.stride() == (3, 1) and x.t().stride() == (1, 3) and x.stride(1) == 1
        assert x[:, ::2].stride() == (3, 2)
        assert tuple(x.new(2).shape) == (2,) and tuple(x.new().shape) == (0,)
        assert x.new([1, 2]).tolist() == [1.0, 2.0] and x.new([1, 2]).dtype == lib.float64
        assert tuple(x.new((2, 3)).shape) == (2,)  # a tuple is data
        pieces = x.split_with_sizes([1, 2], 1)
        assert [tuple(p.shape) for p in pieces] == [(2, 1), (2, 2)]
        assert [tuple(p.shape) for p in lib.unsafe_split(x, 1, 1)] == [(2, 1)] * 3

"""Tensors under pickle, copy.copy and copy.deepcopy, as PyTorch's (checked against it)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ember
from ember import nn


def _libs(torch):
    return (torch, ember)


def test_copy_copy_shares_storage_and_keeps_requires_grad(torch):
    for lib in _libs(torch):
        t = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        c = copy.copy(t)
        assert c is not t and c.requires_grad and c.is_leaf and c.grad is None
        with lib.no_grad():
            c[0] = 10.0
        assert t.tolist() == [10.0, 2.0, 3.0], lib.__name__
        assert c.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()


def test_copy_copy_of_a_non_leaf_is_a_leaf_that_requires_grad(torch):
    for lib in _libs(torch):
        y = lib.tensor([1.0, 2.0], requires_grad=True) * 2
        c = copy.copy(y)
        assert c.grad_fn is None and c.is_leaf and c.requires_grad, lib.__name__
        assert c.tolist() == [2.0, 4.0]


def test_copy_copy_shares_the_version_counter():
    """ember's one difference: an in-place change through the copy is seen by autograd."""
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with ember.no_grad():
        copy.copy(w).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_deepcopy_copies_data_grad_and_requires_grad(torch):
    for lib in _libs(torch):
        t = lib.tensor([1.0, 2.0], requires_grad=True)
        t.grad = lib.tensor([0.5, 0.5])
        d = copy.deepcopy(t)
        assert d.requires_grad and d.is_leaf and d.tolist() == [1.0, 2.0]
        assert d.grad.tolist() == [0.5, 0.5] and d.grad is not t.grad
        with lib.no_grad():
            d[0] = 7.0
        assert t.tolist() == [1.0, 2.0], lib.__name__
        assert d.untyped_storage().data_ptr() != t.untyped_storage().data_ptr()
        frozen = copy.deepcopy(lib.ones(2, dtype=lib.int64))
        assert frozen.dtype == lib.int64 and not frozen.requires_grad


def test_deepcopy_refuses_non_leaves_with_pytorchs_error(torch):
    for lib in _libs(torch):
        y = lib.ones(2, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match=r"Only Tensors created explicitly by the user "):
            copy.deepcopy(y)
        with lib.no_grad():
            quiet = lib.ones(2, requires_grad=True) * 2
        assert copy.deepcopy(quiet).tolist() == [2.0, 2.0]  # no graph: a leaf


def test_deepcopy_keeps_views_of_one_storage_together(torch):
    for lib in _libs(torch):
        for order in (0, 1):
            base = lib.arange(6.0)
            view = base[2:4]
            pair = copy.deepcopy((base, view) if order == 0 else (view, base))
            new_base, new_view = pair if order == 0 else pair[::-1]
            new_view[0] = 100.0
            assert new_base.tolist() == [0.0, 1.0, 100.0, 3.0, 4.0, 5.0], lib.__name__
            assert base.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        matrix = lib.arange(6.0).reshape(2, 3)
        copied = copy.deepcopy(matrix.t())
        assert copied.tolist() == matrix.t().tolist()


def test_deepcopy_of_a_broadcast_is_a_plain_copy():
    wide = ember.ones(3).expand(2, 3)
    copied = copy.deepcopy(wide)
    assert copied.tolist() == [[1.0] * 3] * 2
    copied[0, 0] = 5.0  # its own memory, writable
    assert wide.tolist() == [[1.0] * 3] * 2


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.tensor([[1.5, -2.0], [3.0, 4.25]]),
        lambda lib: lib.tensor([1, 2, 3]),
        lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor(3.5, dtype=lib.float64),
        lambda lib: lib.arange(6.0).reshape(2, 3).t(),
        lambda lib: lib.zeros(0, 3, dtype=lib.float16),
    ],
)
def test_pickle_round_trips_values_and_dtype(make, torch):
    for lib in _libs(torch):
        t = make(lib)
        back = pickle.loads(pickle.dumps(t))
        assert back.dtype == t.dtype and tuple(back.shape) == tuple(t.shape), lib.__name__
        assert back.tolist() == t.tolist()
        if t.numel():
            assert back.untyped_storage().data_ptr() != t.untyped_storage().data_ptr()


def test_pickle_keeps_requires_grad_not_the_graph_or_grad(torch):
    for lib in _libs(torch):
        t = lib.tensor([1.0, 2.0], requires_grad=True)
        t.grad = lib.ones(2)
        back = pickle.loads(pickle.dumps(t))
        assert back.requires_grad and back.is_leaf and back.grad is None, lib.__name__
        y = pickle.loads(pickle.dumps(t * 3))
        assert y.requires_grad and y.is_leaf and y.tolist() == [3.0, 6.0]


def test_pickled_parameters_stay_parameters(torch):
    for lib in _libs(torch):
        for requires_grad in (True, False):
            p = lib.nn.Parameter(lib.ones(2), requires_grad=requires_grad)
            for back in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
                assert isinstance(back, lib.nn.Parameter), lib.__name__
                assert back.requires_grad == requires_grad and back.tolist() == [1.0, 1.0]


def test_subclass_attributes_travel():
    p = nn.Parameter(ember.ones(2))
    p.note = {"lr": 0.1}
    for back in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert back.note == {"lr": 0.1}
    assert copy.copy(p).note is p.note
    buffer = nn.Buffer(ember.ones(2), persistent=False)
    assert pickle.loads(pickle.dumps(buffer)).persistent is False


def test_a_module_pickles_and_copies():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    x = ember.randn(4, 3)
    for twin in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        np.testing.assert_allclose(twin(x).detach().numpy(), net(x).detach().numpy())
        assert isinstance(twin[0].weight, nn.Parameter)
        assert twin[0].weight.untyped_storage().data_ptr() != net[0].weight.data_ptr()


def test_pickle_keeps_the_device(fake_cuda):
    t = ember.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    back = pickle.loads(pickle.dumps(t))
    assert back.device.type == "cuda" and back.requires_grad and back.tolist() == [1.0, 2.0]
    assert copy.deepcopy(t).device.type == "cuda"
    assert copy.copy(t).device.type == "cuda"


def test_memory_formats_pickle_as_themselves():
    for fmt in (ember.contiguous_format, ember.channels_last):
        assert pickle.loads(pickle.dumps(fmt)) is fmt and copy.deepcopy(fmt) is fmt


def test_checkpoint_files_still_never_unpickle(tmp_path):
    """Pickling tensors is for pickle's users; ember.load refuses a pickle all the same."""
    path = tmp_path / "tensor.pt"
    path.write_bytes(pickle.dumps({"w": ember.ones(2)}))
    with pytest.raises(Exception, match="(?i)pickle"):
        ember.load(path)


def test_matplotlib_plots_tensors():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure()
    try:
        (line,) = plt.plot(ember.arange(5.0), ember.arange(5.0) ** 2)
        assert list(line.get_ydata()) == [0.0, 1.0, 4.0, 9.0, 16.0]
        plt.plot(ember.linspace(0, 1, 3))
    finally:
        plt.close(figure)

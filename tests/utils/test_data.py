"""ember.utils.data: datasets, samplers, default_collate and the DataLoader, against torch."""

import collections
import warnings

import numpy as np
import pytest

import ember
from ember.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)

Point = collections.namedtuple("Point", ["x", "y"])


def _dataset(n=10):
    xs = ember.arange(n * 2, dtype=ember.float32).reshape(n, 2)
    ys = ember.arange(n)
    return TensorDataset(xs, ys)


def _order(loader):
    return [y.tolist() for _, y in loader]


def test_shuffle_is_reproducible_under_the_global_seed():
    loader = DataLoader(_dataset(), batch_size=3, shuffle=True)
    ember.manual_seed(7)
    first = [_order(loader), _order(loader)]
    ember.manual_seed(7)
    again = [_order(loader), _order(loader)]
    assert first == again
    assert first[0] != first[1]  # each epoch reshuffles
    assert sorted(sum(first[0], [])) == list(range(10))  # each sample exactly once


def test_shuffle_with_a_generator():
    def run(seed):
        g = ember.Generator().manual_seed(seed)
        return _order(DataLoader(_dataset(), batch_size=4, shuffle=True, generator=g))

    assert run(1) == run(1)
    assert run(1) != run(2)
    ember.manual_seed(0)
    unseeded = _order(DataLoader(_dataset(), batch_size=4, shuffle=True))
    ember.manual_seed(99)
    assert unseeded != _order(DataLoader(_dataset(), batch_size=4, shuffle=True))


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True)])
def test_len_and_drop_last_match_torch(n, batch_size, drop_last, torch):
    ours = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(n)), batch_size=batch_size, drop_last=drop_last
    )
    batches = list(ours)
    assert len(ours) == len(theirs) == len(batches)
    assert [len(y) for _, y in batches] == [len(b[0]) for b in theirs]
    assert _order(ours) == [b[0].tolist() for b in theirs]


def _sample(lib, i):
    """One sample with every kind of leaf default_collate knows, nested."""
    return {
        "tensor": lib.tensor([float(i), 2.0 * i]),
        "long": lib.tensor(i),
        "array": np.arange(3, dtype=np.int32) + i,
        "np_scalar": np.float32(i) / 2,
        "np_int": np.int64(i),
        "float": 0.5 * i,
        "int": i,
        "bool": i % 2 == 0,
        "str": f"s{i}",
        "bytes": b"b",
        "point": Point(lib.tensor([i]), float(i)),
        "tuple": (i, lib.tensor([1.0])),
        "list": [i, [0.25 * i, "x"]],
    }


def _assert_collated_equal(ours, theirs, torch):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ember.Tensor)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            _assert_collated_equal(ours[key], theirs[key], torch)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_collated_equal(a, b, torch)
    else:
        assert ours == theirs


def test_default_collate_matches_torch_on_nested_samples(torch):
    ours = default_collate([_sample(ember, i) for i in range(4)])
    theirs = torch.utils.data.default_collate([_sample(torch, i) for i in range(4)])
    _assert_collated_equal(ours, theirs, torch)
    assert isinstance(ours["point"], Point)
    assert isinstance(ours["tuple"], list)  # tuples collate to lists, as PyTorch


def test_default_collate_promotes_like_torch(torch):
    ours = default_collate([ember.tensor([1]), ember.tensor([2.5])])
    theirs = torch.utils.data.default_collate([torch.tensor([1]), torch.tensor([2.5])])
    assert ours.dtype == ember.float32 and str(theirs.dtype) == "torch.float32"
    assert ours.tolist() == theirs.tolist()


def test_default_collate_errors_match_torch(torch):
    cases = [
        lambda lib: [[1, 2], [3]],
        lambda lib: [object(), object()],
        lambda lib: [np.array(["a"]), np.array(["b"])],
        lambda lib: [lib.zeros(2), lib.zeros(3)],
    ]
    for make in cases:
        with pytest.raises((RuntimeError, TypeError)) as ours:
            default_collate(make(ember))
        with pytest.raises((RuntimeError, TypeError)) as theirs:
            torch.utils.data.default_collate(make(torch))
        assert ours.type is theirs.type
        if ours.type is not TypeError or "object" not in str(theirs.value):
            assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([{1, 2}])


def test_batch_size_none_converts_each_sample(torch):
    class Arrays(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full(2, i, dtype=np.float64), "i": i}

    batches = list(DataLoader(Arrays(), batch_size=None))
    assert len(batches) == 3
    assert isinstance(batches[1]["x"], ember.Tensor) and batches[1]["x"].tolist() == [1.0, 1.0]
    assert batches[1]["i"] == 1


def test_custom_sampler_batch_sampler_and_collate_fn():
    ds = _dataset()
    loader = DataLoader(ds, batch_size=2, sampler=[9, 8, 7])
    assert _order(loader) == [[9, 8], [7]]
    loader = DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert _order(loader) == [[0, 5], [2]] and len(loader) == 2
    loader = DataLoader(ds, batch_size=4, collate_fn=lambda batch: len(batch))
    assert list(loader) == [4, 4, 2]


def test_datasets_with_getitems_get_whole_batches():
    class Batched(Dataset):
        calls = []

        def __len__(self):
            return 5

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, indices):
            self.calls.append(list(indices))
            return [ember.tensor(i) for i in indices]

    out = list(DataLoader(Batched(), batch_size=2))
    assert [b.tolist() for b in out] == [[0, 1], [2, 3], [4]]
    assert Batched.calls == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
        (dict(sampler=[0], shuffle=True), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
        (dict(num_workers=-1), "num_workers option should be non-negative"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
        (dict(timeout=-1), "timeout option should be non-negative"),
    ],
)
def test_loader_argument_errors_match_torch(kwargs, message, torch):
    with pytest.raises(ValueError, match=message) as ours:
        DataLoader(_dataset(), **kwargs)
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(3)), **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_workers_run_in_process_with_one_warning():
    with pytest.warns(UserWarning, match="main process") as record:
        loader = DataLoader(
            _dataset(),
            batch_size=4,
            num_workers=3,
            pin_memory=True,
            persistent_workers=True,
            prefetch_factor=4,
        )
        batches = _order(loader) + _order(loader)
    assert len([w for w in record if "main process" in str(w.message)]) == 1
    assert batches == _order(DataLoader(_dataset(), batch_size=4)) * 2


def test_loader_attributes_are_frozen_after_init():
    loader = DataLoader(_dataset(), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader"):
        loader.batch_size = 4
    loader.num_workers = 0  # other attributes may change


class _Count(IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no len")
        return self.n


def test_iterable_datasets():
    loader = DataLoader(_Count(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]] and len(loader) == 3
    loader = DataLoader(_Count(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]] and len(loader) == 2
    assert [b for b in DataLoader(_Count(3), batch_size=None)] == [0, 1, 2]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(_Count(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(_Count(3), sampler=[0])
    chained = ChainDataset([_Count(2), _Count(3)])
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    assert list(_Count(2) + _Count(1)) == [0, 1, 0]


def test_tensor_concat_stack_and_subset_datasets(torch):
    ds = _dataset(5)
    x, y = ds[2]
    assert x.tolist() == [4.0, 5.0] and y.item() == 2 and len(ds) == 5
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(ember.zeros(3), ember.zeros(4))
    both = ds + _dataset(3)
    assert isinstance(both, ConcatDataset) and len(both) == 8
    assert both[5][1].item() == 0 and both[-1][1].item() == 2 and both.cumulative_sizes == [5, 8]
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        both[-9]
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][1].item() == 4
    stacked = StackDataset(a=ds, b=_dataset(5))
    assert set(stacked[1]) == {"a", "b"} and len(stacked) == 5
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(ds, _dataset(3))


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33]])
def test_random_split_lengths_match_torch(lengths, torch):
    ours = random_split(_dataset(10), lengths, generator=ember.Generator().manual_seed(0))
    theirs = torch.utils.data.random_split(
        range(10), lengths, generator=torch.Generator().manual_seed(0)
    )
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s.indices) == list(range(10))
    again = random_split(_dataset(10), lengths, generator=ember.Generator().manual_seed(0))
    assert [s.indices for s in ours] == [s.indices for s in again]


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(_dataset(10), [3, 3])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(_dataset(2), [1.0, 0.0])


def test_samplers():
    ds = range(6)
    assert list(SequentialSampler(ds)) == [0, 1, 2, 3, 4, 5]
    g = ember.Generator().manual_seed(3)
    perm = list(RandomSampler(ds, generator=g))
    assert sorted(perm) == list(range(6))
    long = list(RandomSampler(ds, num_samples=14, generator=g))
    assert len(long) == 14 and sorted(long[:6]) == list(range(6))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=50, generator=g))
    assert len(drawn) == 50 and set(drawn) <= set(range(6))
    sub = list(SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 40, generator=g))
    assert set(weighted) == {1, 3}
    assert sorted(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=g)) == [
        0,
        1,
        2,
    ]
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist"):
        list(WeightedRandomSampler([1, 0], 2, replacement=False))
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2


def test_samplers_with_replacement_draw_lazily():
    """A huge num_samples costs nothing up front (a real program asked for 10**10 draws)."""
    import itertools
    import tracemalloc

    tracemalloc.start()
    try:
        uniform = RandomSampler(range(10), replacement=True, num_samples=10**10)
        head = list(itertools.islice(iter(uniform), 100))
        weighted = WeightedRandomSampler([0.1, 0.0, 0.9], num_samples=10**12)
        counts = collections.Counter(itertools.islice(iter(weighted), 20_000))
        loader = DataLoader(TensorDataset(ember.arange(10.0)), batch_size=4, sampler=uniform)
        (batch,) = next(iter(loader))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(uniform) == 10**10 and len(head) == 100 and set(head) <= set(range(10))
    assert set(counts) == {0, 2} and 0.87 < counts[2] / 20_000 < 0.93
    assert batch.shape == (4,)
    assert peak < 1_000_000


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda m: m.RandomSampler(range(3), replacement=1), TypeError),
        (lambda m: m.RandomSampler(range(3), num_samples=0), ValueError),
        (lambda m: m.BatchSampler(range(3), 0, False), ValueError),
        (lambda m: m.BatchSampler(range(3), 2, 1), ValueError),
        (lambda m: m.WeightedRandomSampler([1.0], 0), ValueError),
        (lambda m: m.WeightedRandomSampler([[1.0]], 1), ValueError),
    ],
)
def test_sampler_errors_match_torch(make, error, torch):
    with pytest.raises(error) as ours:
        make(ember.utils.data)
    with pytest.raises(error) as theirs:
        make(torch.utils.data)
    assert str(ours.value) == str(theirs.value)


def test_training_loop_runs_unchanged():
    torch = ember  # PyTorch-style code, as a user would write it with `import ember as torch`
    torch.manual_seed(0)
    xs = torch.randn(64, 3)
    ys = xs @ torch.tensor([[1.0], [-2.0], [0.5]])
    w = torch.zeros(3, 1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.7)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xs, ys), batch_size=16, shuffle=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            for x, y in loader:
                opt.zero_grad()
                loss = ((x @ w - y) ** 2).mean()
                loss.backward()
                opt.step()
            sched.step()
    np.testing.assert_allclose(w.detach().numpy().ravel(), [1.0, -2.0, 0.5], atol=0.05)

"""DistributedSampler: partition, padding, drop_last and epochs (no MPI needed)."""

import collections

import pytest

from ember import distributed as dist
from ember.utils.data.distributed import DistributedSampler

CASES = [(10, 3, False), (10, 3, True), (12, 4, False), (12, 4, True), (2, 5, False), (7, 2, True)]


def _shares(n, replicas, **kw):
    return [list(DistributedSampler(range(n), replicas, r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n, replicas, drop_last", CASES)
def test_unshuffled_matches_torch(torch, n, replicas, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) == len(list(ours))
        assert ours.total_size == theirs.total_size


@pytest.mark.parametrize("n, replicas, drop_last", CASES)
def test_shuffled_shares_partition_the_padded_indices(n, replicas, drop_last):
    shares = _shares(n, replicas, shuffle=True, seed=3, drop_last=drop_last)
    assert len({len(s) for s in shares}) == 1  # equal lengths on every rank
    counts = collections.Counter(i for share in shares for i in share)
    total = sum(len(s) for s in shares)
    if drop_last:
        assert total == n - n % replicas and all(c == 1 for c in counts.values())
    else:
        assert set(counts) == set(range(n))  # every index, padded by repeats
        assert total == -(-n // replicas) * replicas
        assert max(counts.values()) - min(counts.values()) <= -(-total // n)


def test_seed_and_epoch_decide_the_order():
    def order(seed=0, epoch=0):
        sampler = DistributedSampler(range(50), 2, 1, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order() == order()  # deterministic per (seed, epoch) ...
    assert order(epoch=1) != order()  # ... reshuffled by set_epoch
    assert order(seed=1) != order()
    assert order(seed=1, epoch=1) == order(seed=2, epoch=0)  # PyTorch seeds with seed + epoch
    assert sorted(order()) != order()


def test_errors_and_defaults(monkeypatch):
    message = r"Invalid rank 2, rank should be in the interval \[0, 1\]"
    with pytest.raises(ValueError, match=message):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    # rank and size come from the process group: PyTorch's two errors when there is none
    monkeypatch.setattr(dist, "is_available", lambda: True)  # as with mpi4py installed
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(4))
    monkeypatch.setattr(dist, "is_available", lambda: False)  # as without mpi4py
    with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
        DistributedSampler(range(4))

"""Datasets: map-style and iterable, and ways to combine and split them."""

from __future__ import annotations

import bisect
import itertools
import math
import warnings

from ember import _random


class Dataset:
    """A map from indices to samples, as torch.utils.data.Dataset: subclass it for your data.

    Implement `__getitem__(index)` to return one sample (a tensor, a tuple of tensors, a
    dict, ...) and `__len__()` to return how many there are; a DataLoader then batches,
    shuffles and samples it. `dataset_a + dataset_b` is a ConcatDataset.

    Examples:
        >>> import ember
        >>> from ember.utils.data import DataLoader, Dataset
        >>> class Squares(Dataset):
        ...     def __init__(self, n):
        ...         self.x = ember.arange(n, dtype=ember.float32)
        ...
        ...     def __len__(self):
        ...         return len(self.x)
        ...
        ...     def __getitem__(self, index):
        ...         return self.x[index], self.x[index] ** 2
        >>> dataset = Squares(10)
        >>> len(dataset), dataset[3][1].item()
        (10, 9.0)
        >>> x, y = next(iter(DataLoader(dataset, batch_size=4)))
        >>> y.tolist()
        [0.0, 1.0, 4.0, 9.0]
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Same as torch.utils.data.IterableDataset: a stream of samples (implement __iter__)."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """A dataset of tensors that share their first dimension, as
    torch.utils.data.TensorDataset: sample i is `tuple(t[i] for t in tensors)`.

    Args:
        *tensors (Tensor): the tensors, e.g. inputs and labels; each has the dataset's
            length as its first dimension (AssertionError otherwise).

    Examples:
        >>> import ember
        >>> from ember.utils.data import TensorDataset
        >>> inputs, labels = ember.randn(100, 8), ember.randint(0, 3, (100,))
        >>> dataset = TensorDataset(inputs, labels)
        >>> x, y = dataset[0]
        >>> len(dataset), tuple(x.shape), tuple(y.shape)
        (100, (8,), ())
    """

    def __init__(self, *tensors):
        if any(tensors[0].size(0) != t.size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0)


class StackDataset(Dataset):
    """Same as torch.utils.data.StackDataset: zip datasets into tuples (args) or dicts (kwargs)."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                "input/output, but both types are given."
            )
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        datasets = list(args or kwargs.values())
        self._length = len(datasets[0])
        if any(self._length != len(d) for d in datasets):
            raise ValueError("Size mismatch between datasets")
        self.datasets = args or kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Same as torch.utils.data.ConcatDataset: datasets one after another."""

    @staticmethod
    def cumsum(sequence):
        """Running totals of the datasets' lengths."""
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        offset = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][idx - offset]


class ChainDataset(IterableDataset):
    """Same as torch.utils.data.ChainDataset: iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """Same as torch.utils.data.Subset: the samples of `dataset` at `indices`."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=_random.default_generator):
    """Same as torch.utils.data.random_split: lengths, or fractions that sum to 1."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(len(dataset) * frac))
        # hand the leftover items out round-robin, as PyTorch does
        for i in range(len(dataset) - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = _random.rng(generator).permutation(sum(lengths)).tolist()
    return [
        Subset(dataset, indices[offset - length : offset])
        for offset, length in zip(itertools.accumulate(lengths), lengths)
    ]

"""DataLoader: batches from a dataset, in the main process.

Worker processes are not used: `num_workers > 0` is accepted (with one warning) and the data is
loaded in-process, which gives the same batches in the same order.
"""

from __future__ import annotations

import math
import warnings

from ember.utils.data._utils.collate import default_collate, default_convert
from ember.utils.data.dataset import IterableDataset
from ember.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


def get_worker_info():
    """Same as torch.utils.data.get_worker_info: None, as all loading is in the main process."""
    return None


class _InfiniteConstantSampler:
    """The sampler of an iterable dataset: the dataset decides what comes next."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Batches from a dataset, in order or shuffled, as torch.utils.data.DataLoader.

    Iterating over it yields batches: the samples that `batch_size` consecutive indices of
    the sampler give, stacked by `collate_fn` (the default stacks tensors along a new first
    dimension, turns numbers and NumPy arrays into tensors, and keeps tuples, lists and dicts
    as they are, batched field by field). Each `for` loop over it is one epoch. Loading
    runs in the main process: `num_workers > 0` is accepted with a warning and gives the
    same batches in the same order.

    Args:
        dataset (Dataset | IterableDataset): where the samples come from.
        batch_size (int | None): samples per batch; None turns batching off (each sample
            is yielded on its own, with NumPy arrays turned into tensors).
        shuffle (bool | None): draw the indices in a new random order every epoch (seeded by
            `ember.manual_seed` or `generator`).
        sampler (Sampler | Iterable | None): the order of the indices, instead of
            `shuffle` (e.g. `WeightedRandomSampler`, `DistributedSampler`).
        batch_sampler (Sampler | Iterable | None): yields whole lists of indices; excludes
            batch_size, shuffle, sampler and drop_last.
        num_workers (int): accepted for compatibility (see above).
        collate_fn (Callable | None): turns a list of samples into a batch.
        pin_memory (bool): accepted for compatibility; there is no pinned memory.
        drop_last (bool): drop the last batch when it has fewer than `batch_size` samples.
        timeout (float): accepted for compatibility.
        worker_init_fn (Callable | None): accepted for compatibility.
        multiprocessing_context: accepted with `num_workers > 0` only.
        generator (Generator | None): the random generator the shuffling draws from.
        prefetch_factor (int | None): accepted with `num_workers > 0` only.
        persistent_workers (bool): accepted with `num_workers > 0` only.
        pin_memory_device (str): accepted for compatibility.
        in_order (bool): accepted for compatibility (batches always come in order).

    `len(loader)` is the number of batches per epoch:
    `ceil(len(dataset) / batch_size)`, or the floor with `drop_last=True`.

    Examples:
        >>> import ember
        >>> from ember.utils.data import DataLoader, TensorDataset
        >>> dataset = TensorDataset(ember.randn(10, 3), ember.arange(10))
        >>> loader = DataLoader(dataset, batch_size=4, shuffle=True)
        >>> len(loader)
        3
        >>> [tuple(x.shape) for x, y in loader]
        [(4, 3), (4, 3), (2, 3)]
        >>> sorted(ember.cat([y for _, y in loader]).tolist()) == list(range(10))
        True
    """

    _initialized = False

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
        in_order=True,
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                "multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let "
                "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(
                "multiprocessing_context can only be used with multi-process loading "
                f"(num_workers > 0), but got num_workers={num_workers}"
            )
        if num_workers > 0:
            warnings.warn(
                f"ember's DataLoader loads data in the main process: num_workers={num_workers} "
                "is accepted for compatibility and gives the same batches, without workers",
                UserWarning,
                stacklevel=2,
            )

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, but "
                    f"got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, but "
                    f"got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._initialized = True

    def __setattr__(self, attr, value):
        if self._initialized and attr in _FROZEN:
            raise ValueError(
                f"{attr} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(attr, value)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self._is_iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                length = (
                    length // self.batch_size
                    if self.drop_last
                    else math.ceil(length / self.batch_size)
                )
            return length
        return len(self._index_sampler)

    def __iter__(self):
        return _LoaderIter(self)


class _LoaderIter:
    """One pass over a DataLoader."""

    def __init__(self, loader):
        self._loader = loader
        self._batches = self._iterable_batches() if loader._is_iterable else self._map_batches()
        self._num_yielded = 0

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        batch = next(self._batches)
        self._num_yielded += 1
        return batch

    def _map_batches(self):
        loader = self._loader
        dataset, collate_fn = loader.dataset, loader.collate_fn
        getitems = getattr(dataset, "__getitems__", None)
        for index in loader._index_sampler:
            if loader._auto_collation:
                if callable(getitems):
                    samples = getitems(index)
                else:
                    samples = [dataset[i] for i in index]
                yield collate_fn(samples)
            else:
                yield collate_fn(dataset[index])

    def _iterable_batches(self):
        loader = self._loader
        it = iter(loader.dataset)
        if not loader._auto_collation:
            for sample in it:
                yield loader.collate_fn(sample)
            return
        size = loader.batch_size
        while True:
            samples = []
            for sample in it:
                samples.append(sample)
                if len(samples) == size:
                    break
            if not samples or (loader.drop_last and len(samples) < size):
                return
            yield loader.collate_fn(samples)

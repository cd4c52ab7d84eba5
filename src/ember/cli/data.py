"""The image data sets of `python -m ember train`/`evaluate`: scikit-learn's digits, or IDX files.

Every loader returns the same train/test split for the same seed, so `evaluate` measures a
checkpoint on exactly the images `train` held out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy

import ember
from ember.cli import CliError
from ember.utils.data import Dataset, Subset, TensorDataset, random_split
from ember.utils.data.idx import read_idx

DIGITS = "digits"
TEST_FRACTION = 0.2
_SUFFIXES = ("", ".gz")


@dataclass
class ImageData:
    """A train/test pair of (image, label) datasets; images are float32 (C, H, W) in [0, 1]."""

    source: str  # "digits" or the --data path
    train: Dataset
    test: Dataset
    shape: tuple  # (channels, height, width)
    num_classes: int
    split: str  # how the test set was chosen, for the run's summary

    @property
    def name(self):
        """A short name for file names: 'digits', or the data's directory name ('mnist')."""
        if self.source == DIGITS:
            return DIGITS
        path = os.path.abspath(self.source)
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(folder)).strip("._")
        return name.lower() or "data"

    @property
    def description(self):
        """Where the images come from, in words."""
        return "scikit-learn's handwritten digits" if self.source == DIGITS else self.source


def load_data(path=None, seed=0, limit=None):
    """The digits (path None) or the IDX data at `path`, split into train and test sets.

    `limit` keeps only the first `limit` training images (the test set is unchanged).
    """
    if path is None:
        images, labels = _load_digits()
        source = DIGITS
        test = None
    else:
        source = os.fspath(path)
        (images, labels), test = _load_idx(source)
    x, y = _to_tensors(images, labels, source)
    if test is None:
        if int(len(x) * TEST_FRACTION) < 1:
            raise CliError(f"--data {source}: {len(x)} images are too few to hold out a test set")
        train_set, test_set = random_split(
            TensorDataset(x, y),
            [1 - TEST_FRACTION, TEST_FRACTION],
            generator=ember.Generator().manual_seed(seed),
        )
        split = (
            f"random {100 - 100 * TEST_FRACTION:.0f}/{100 * TEST_FRACTION:.0f} split, seed {seed}"
        )
    else:
        train_set = TensorDataset(x, y)
        test_set = TensorDataset(*_to_tensors(*test, source))
        split = "the files' own test set"
        if test_set.tensors[0].shape[1:] != x.shape[1:]:
            raise CliError(
                f"--data {source}: training images are {tuple(x.shape[2:])}, "
                f"test images {tuple(test_set.tensors[0].shape[2:])}"
            )
    if limit is not None and limit < len(train_set):
        train_set = Subset(train_set, range(limit))
    num_classes = int(max(labels.max(), test[1].max() if test else 0)) + 1
    return ImageData(source, train_set, test_set, tuple(x.shape[1:]), num_classes, split)


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise CliError(
            "the built-in digits data set needs scikit-learn (pip install scikit-learn), "
            "or pass --data with MNIST-style IDX files"
        ) from None
    digits = load_digits()
    return digits.images / 16.0, digits.target  # pixel values are 0..16


def _to_tensors(images, labels, source):
    """(N, 1, H, W) float32 images in [0, 1] and int64 labels, checked."""
    if images.ndim != 3:
        raise CliError(
            f"--data {source}: expected images of shape (N, rows, columns), got {images.shape}"
        )
    if len(images) == 0:
        raise CliError(f"--data {source}: the images file holds no images")
    if labels.ndim != 1 or len(labels) != len(images):
        raise CliError(f"--data {source}: {len(images)} images but labels of shape {labels.shape}")
    if not numpy.issubdtype(labels.dtype, numpy.integer) or labels.min() < 0:
        raise CliError(f"--data {source}: labels must be non-negative integers")
    x = images.astype(numpy.float32)
    if images.dtype == numpy.uint8:
        x /= 255.0
    elif x.size and numpy.abs(x).max() > 1:
        x /= numpy.abs(x).max()
    return ember.from_numpy(x[:, None]), ember.from_numpy(labels.astype(numpy.int64))


def _read(path, source):
    try:
        return read_idx(path)
    except ValueError as e:
        raise CliError(f"--data {source}: {e}") from None
    except OSError as e:
        raise CliError(f"--data {source}: cannot read {path}: {e.strerror or e}") from None


def _find(directory, stem):
    """`directory/stem` with '-' or '.' before 'idxN' (both spellings are about) and maybe .gz."""
    spellings = (stem, stem.replace("-idx", ".idx"))
    for name in spellings:
        for suffix in _SUFFIXES:
            candidate = os.path.join(directory, name + suffix)
            if os.path.isfile(candidate):
                return candidate
    return None


def _labels_beside(images_path):
    """The labels file next to an images file: 'images' -> 'labels', 'idx3' -> 'idx1'."""
    directory, name = os.path.split(images_path)
    if name.endswith(".gz"):
        name = name[:-3]
    if "images" not in name:
        return None, None
    stem = name.replace("images", "labels").replace("idx3", "idx1")
    return _find(directory, stem), os.path.join(directory, stem)


def _load_idx(source):
    """((train images, train labels), (test images, test labels) or None) from --data."""
    if os.path.isdir(source):
        train_images = _find(source, "train-images-idx3-ubyte")
        train_labels = _find(source, "train-labels-idx1-ubyte")
        if train_images is None or train_labels is None:
            raise CliError(
                f"--data {source}: no train-images-idx3-ubyte[.gz] and "
                "train-labels-idx1-ubyte[.gz] in this directory"
            )
        train = (_read(train_images, source), _read(train_labels, source))
        test_images = _find(source, "t10k-images-idx3-ubyte")
        test_labels = _find(source, "t10k-labels-idx1-ubyte")
        if test_images and test_labels:
            return train, (_read(test_images, source), _read(test_labels, source))
        return train, None
    if not os.path.exists(source):
        raise CliError(f"--data {source}: no such file or directory")
    labels, looked_for = _labels_beside(source)
    if labels is None:
        hint = f" (looked for {looked_for}[.gz])" if looked_for else ""
        raise CliError(f"--data {source}: cannot find the labels file next to it{hint}")
    return (_read(source, source), _read(labels, source)), None

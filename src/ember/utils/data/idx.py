"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian int32, then the values in C order, big-endian. `read_idx` returns a NumPy array;
`IDXDataset` pairs an images file with a labels file as torchvision's MNIST does.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy

from ember.utils.data.dataset import Dataset

# type code -> (big-endian NumPy dtype, name in error messages)
IDX_DTYPES = {
    0x08: (numpy.dtype("u1"), "unsigned byte"),
    0x09: (numpy.dtype("i1"), "signed byte"),
    0x0B: (numpy.dtype(">i2"), "short"),
    0x0C: (numpy.dtype(">i4"), "int"),
    0x0D: (numpy.dtype(">f4"), "float"),
    0x0E: (numpy.dtype(">f8"), "double"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise ValueError(f"{path}: the gzip stream ends early (truncated download?)") from None
    except (OSError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path):
    """The array stored in an IDX file (gzipped or not), in native byte order.

    Raises ValueError naming the file for a bad magic number, an unknown type code, or a file
    whose size does not match its header (truncated or with trailing bytes).
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(data)} bytes, shorter than the header")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: bad magic number 0x{data[:4].hex()} "
            "(an IDX file starts with two zero bytes, a type code and a dimension count)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({name})" for c, (_, name) in IDX_DTYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    dtype = IDX_DTYPES[code][0]
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int(d) for d in numpy.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} bytes of data, "
            f"found {found}"
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected} unexpected bytes after the data of shape {shape} "
            "(is the header wrong?)"
        )
    array = numpy.frombuffer(data, dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


class IDXDataset(Dataset):
    """MNIST-style images (and labels) from IDX files, plain or gzipped.

    `data` holds every image as a uint8 (or the file's type) ember Tensor of shape (N, ...) and
    `targets` the labels as an int64 Tensor, as torchvision.datasets.MNIST has them. Item i is
    `(transform(data[i]), target_transform(int(targets[i])))`, or only the image when no
    labels file is given.
    """

    def __init__(self, images_path, labels_path=None, transform=None, target_transform=None):
        import ember

        images = read_idx(images_path)
        if images.ndim < 1:
            raise ValueError(f"{os.fspath(images_path)}: an images file needs a sample dimension")
        self.data = ember.from_numpy(images)
        self.targets = None
        if labels_path is not None:
            labels = read_idx(labels_path)
            if labels.ndim != 1:
                raise ValueError(
                    f"{os.fspath(labels_path)}: labels must be one-dimensional, "
                    f"got shape {labels.shape}"
                )
            if len(labels) != len(images):
                raise ValueError(
                    f"{len(images)} images in {os.fspath(images_path)} but {len(labels)} labels "
                    f"in {os.fspath(labels_path)}"
                )
            self.targets = ember.from_numpy(labels.astype(numpy.int64))
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image = self.data[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.targets is None:
            return image
        target = int(self.targets[index])
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian int32, then the values in C order, big-endian. `read_idx` returns a NumPy array;
`IDXDataset` pairs an images file with a labels file as torchvision's MNIST does.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
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
_CHUNK = 1 << 20
_DEFLATE_RATIO = 1032  # the most one byte of deflate data can expand to


def read_idx(path):
    """The array stored in an IDX file (gzipped or not), in native byte order.

    The file is streamed: the header first, then exactly the bytes it promises, decompressed a
    chunk at a time, so memory stays at the size of the array the header announces. Raises
    ValueError naming the file for a bad magic number, an unknown type code, a header claiming
    more data than the file can hold, or data that ends early or runs past what the header
    says (refused as soon as the first extra byte is seen).
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            return _read_stream(raw, path, size, size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
                return _read_stream(fh, path, None, size)
        except EOFError:
            raise ValueError(f"{path}: the gzip stream ends early (truncated download?)") from None
        except (OSError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None


def _read_upto(fh, n):
    """Up to n bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < n:
        part = fh.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_stream(fh, path, plain_size, file_size):
    """Read an IDX stream; plain_size is the file's size when it is not compressed."""
    head = _read_upto(fh, 4)
    if len(head) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(head)} bytes, shorter than the header")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: bad magic number 0x{head.hex()} "
            "(an IDX file starts with two zero bytes, a type code and a dimension count)"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({name})" for c, (_, name) in IDX_DTYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    dtype = IDX_DTYPES[code][0]
    header_len = 4 + 4 * ndim
    dims = _read_upto(fh, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"the file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if plain_size is not None:
        found = plain_size - header_len
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
    elif expected > _DEFLATE_RATIO * file_size + _CHUNK:
        raise ValueError(
            f"{path}: the IDX header claims shape {shape} ({expected} bytes of data), more than "
            f"a gzip file of {file_size} bytes can hold (is the header wrong?)"
        )
    array = numpy.empty(shape, dtype=dtype.newbyteorder("="))
    view = memoryview(array.reshape(-1).view(numpy.uint8))
    got = 0
    while got < expected:
        n = fh.readinto(view[got : got + _CHUNK])
        if not n:
            raise ValueError(
                f"{path}: truncated IDX file: shape {shape} needs {expected} bytes of data, "
                f"found {got}"
            )
        got += n
    if plain_size is None and fh.read(1):
        raise ValueError(
            f"{path}: more bytes after the data of shape {shape} than its header announces "
            "(is the header wrong?)"
        )
    if not dtype.isnative:
        array.byteswap(inplace=True)
    return array


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

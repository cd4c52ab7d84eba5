"""Write PyTorch's zip checkpoint format (what torch.save writes) without pickling objects.

`ember.save(obj, "x.pt")` (or `.pth`) comes here. The archive holds `archive/data.pkl`, a
protocol 2 pickle whose opcodes this module emits itself, and `archive/data/<key>`, each
storage's raw little-endian bytes (64-byte aligned, uncompressed, as torch.save stores them),
plus the `version` and `byteorder` records. The pickle only ever names what
`torch.load(path, weights_only=True)` accepts: PyTorch's tensor and parameter rebuilders, its
storage types, dtypes and `torch.device`, `collections.OrderedDict` and `_codecs.encode` (for
bytes). Nothing else is written: any other object raises TypeError before a byte is written.

Tensors that are views of one NumPy array (`x` and `x[1:3]`, `w` and `w.t()`) share one
storage in the file, as they do after torch.save; any other tensor gets a storage of its own,
laid out contiguously. Dicts other than OrderedDicts are written as plain dicts, and an
OrderedDict's `_metadata` attribute (a state_dict's) is kept.
"""

from __future__ import annotations

import collections
import io
import os
import struct
import zipfile

import numpy

from ember import _backend, _dtype
from ember._tensor import Tensor

_ARCHIVE = "archive"
_ALIGNMENT = 64  # storages start on 64-byte boundaries in the file, as torch.save writes them
_MAX_DEPTH = 500  # as ember.save's safetensors writer

# ember dtype name -> torch's storage type for it
_STORAGE_TYPES = {
    "float16": "HalfStorage",
    "float32": "FloatStorage",
    "float64": "DoubleStorage",
    "bfloat16": "BFloat16Storage",
    "uint8": "ByteStorage",
    "int8": "CharStorage",
    "int16": "ShortStorage",
    "int32": "IntStorage",
    "int64": "LongStorage",
    "bool": "BoolStorage",
}

# protocol 2 opcodes
_PROTO, _STOP = b"\x80", b"."
_MARK, _TUPLE, _EMPTY_TUPLE = b"(", b"t", b")"
_TUPLE_N = {1: b"\x85", 2: b"\x86", 3: b"\x87"}
_EMPTY_LIST, _APPEND, _APPENDS = b"]", b"a", b"e"
_EMPTY_DICT, _SETITEMS = b"}", b"u"
_NONE, _TRUE, _FALSE = b"N", b"\x88", b"\x89"
_BININT, _BININT1, _BININT2, _LONG1, _LONG4 = b"J", b"K", b"M", b"\x8a", b"\x8b"
_BINFLOAT, _BINUNICODE = b"G", b"X"
_GLOBAL, _REDUCE, _BUILD, _BINPERSID = b"c", b"R", b"b", b"Q"
_BINPUT, _LONG_BINPUT, _BINGET, _LONG_BINGET = b"q", b"r", b"h", b"j"
_BATCH = 1000  # items per APPENDS/SETITEMS, as pickle batches them


def is_pt_target(f) -> bool:
    """True when `f` (a path, or a file object's `.name`) ends in .pt or .pth."""
    if isinstance(f, (str, bytes, os.PathLike)):
        name = os.fsdecode(f)
    else:
        name = getattr(f, "name", None)
    return isinstance(name, str) and name.lower().endswith((".pt", ".pth"))


class Checkpoint:
    """An object tree turned into data.pkl's bytes and the storages it refers to.

    Building it checks everything (raising TypeError/ValueError for what cannot be written);
    `write(fh)` then only writes.
    """

    def __init__(self, obj):
        self._out = io.BytesIO()
        self._memo = {}  # id(tensor) or global name -> memo index
        self._keep = []  # the memoized objects, alive while their ids are keys
        self._storage_keys = {}  # id(base array) -> storage key
        self.storages = []  # [(key, contiguous host array)]
        self._out.write(_PROTO + b"\x02")
        self._save(obj, 0)
        self._out.write(_STOP)
        self.data_pkl = self._out.getvalue()
        del self._out, self._memo, self._keep, self._storage_keys

    def write(self, fh):
        """Write the zip archive to the binary file object `fh` (seekable or not)."""
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            _member(archive, "data.pkl", self.data_pkl)
            _member(archive, ".format_version", b"1")
            _member(archive, ".storage_alignment", str(_ALIGNMENT).encode())
            _member(archive, "byteorder", b"little")
            for key, array in self.storages:
                _member(archive, f"data/{key}", array.reshape(-1).view(numpy.uint8))
            _member(archive, "version", b"3\n")

    # ------------------------------------------------------------ objects

    def _save(self, root, depth):
        # An explicit stack rather than recursion, so 500 levels of nesting never meet
        # Python's recursion limit. It holds (object, depth) pairs to write and raw opcodes
        # (bytes) to emit once the items pushed before them are written.
        write = self._out.write
        todo = [(root, depth)]
        while todo:
            item = todo.pop()
            if isinstance(item, bytes):
                write(item)
                continue
            obj, depth = item
            if depth > _MAX_DEPTH:
                raise ValueError("ember.save: the object is nested too deeply (over 500 levels)")
            if isinstance(obj, numpy.generic) and _dtype.kind(obj.dtype) in "biuf":
                obj = obj.item()
            if obj is None:
                write(_NONE)
            elif obj is True or obj is False:
                write(_TRUE if obj else _FALSE)
            elif isinstance(obj, str):
                write(_str(obj))
            elif isinstance(obj, int):
                write(_int(int(obj)))
            elif isinstance(obj, float):
                write(_BINFLOAT + struct.pack(">d", obj))
            elif isinstance(obj, Tensor):
                self._tensor(obj)
            elif isinstance(obj, (bytes, bytearray)):
                # protocol 2 spells bytes as _codecs.encode(latin-1 text, "latin1")
                self._global("_codecs", "encode")
                write(_str(bytes(obj).decode("latin1")) + _str("latin1") + _TUPLE_N[2] + _REDUCE)
            elif isinstance(obj, _dtype.dtype):
                self._global("torch", obj.name)
            elif isinstance(obj, _backend.Device):
                self._global("torch", "device")
                write(_str(str(obj)) + _TUPLE_N[1] + _REDUCE)
            elif isinstance(obj, tuple) and not hasattr(obj, "_fields"):
                if not obj:
                    write(_EMPTY_TUPLE)
                    continue
                if len(obj) > 3:
                    write(_MARK)
                todo.append(_TUPLE_N.get(len(obj), _TUPLE))
                todo.extend((v, depth + 1) for v in reversed(obj))
            elif isinstance(obj, list):
                write(_EMPTY_LIST)
                todo.extend(reversed(_batches([(v, depth + 1) for v in obj], _APPENDS)))
            elif isinstance(obj, dict):
                self._dict(obj, depth, todo)
            else:
                raise _refusal(obj)

    def _dict(self, obj, depth, todo):
        """Write a dict's opening and push its items (and an OrderedDict's _metadata)."""
        ordered = isinstance(obj, collections.OrderedDict)
        if ordered:
            self._empty_ordered_dict()
        else:
            self._out.write(_EMPTY_DICT)
        pairs = []
        for key, value in obj.items():
            if isinstance(key, (Tensor, numpy.ndarray)):
                raise TypeError("ember.save: tensors cannot be dict keys in a checkpoint")
            if isinstance(key, (list, dict)):
                raise _refusal(key)
            pairs.append([(key, depth + 1), (value, depth + 1)])
        pushed = _batches(pairs, _SETITEMS)
        metadata = getattr(obj, "_metadata", None) if ordered else None
        if metadata is not None:  # a state_dict's per-module versions: set as an attribute
            pushed += [_EMPTY_DICT + _MARK + _str("_metadata"), (metadata, depth + 1)]
            pushed.append(_SETITEMS + _BUILD)
        todo.extend(reversed(pushed))

    # ------------------------------------------------------------ memo and globals

    def _get(self, key):
        index = self._memo.get(key)
        if index is None:
            return False
        self._out.write(
            _BINGET + bytes([index]) if index < 0x100 else _LONG_BINGET + struct.pack("<I", index)
        )
        return True

    def _put(self, key, owner=None):
        index = len(self._memo)
        self._memo[key] = index
        if owner is not None:
            self._keep.append(owner)
        self._out.write(
            _BINPUT + bytes([index]) if index < 0x100 else _LONG_BINPUT + struct.pack("<I", index)
        )

    def _global(self, module, name):
        key = ("global", module, name)
        if not self._get(key):
            self._out.write(_GLOBAL + f"{module}\n{name}\n".encode("ascii"))
            self._put(key)

    # ------------------------------------------------------------ tensors

    def _tensor(self, t):
        key = ("tensor", id(t))
        if self._get(key):  # the same tensor saved twice loads as one object
            return
        if type(t).__name__ == "Parameter":
            self._global("torch._utils", "_rebuild_parameter")
            self._rebuild_tensor(t, requires_grad=False)
            self._out.write(_TRUE if t.requires_grad else _FALSE)
            self._empty_ordered_dict()
            self._out.write(_TUPLE_N[3] + _REDUCE)
        else:
            self._rebuild_tensor(t, requires_grad=t.requires_grad)
        self._put(key, t)

    def _rebuild_tensor(self, t, requires_grad):
        # _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)
        storage_type = _STORAGE_TYPES.get(t.dtype.name)
        if storage_type is None:
            raise TypeError(
                f"ember.save: unsupported dtype {t.dtype.name} for a PyTorch checkpoint; convert "
                "the tensor first (e.g. t.float())"
            )
        key, base, offset, stride = self._storage(t)
        location = "cpu" if t.device.type == "cpu" else f"{t.device.type}:{t.device.index or 0}"
        self._global("torch._utils", "_rebuild_tensor_v2")
        self._out.write(_MARK + _MARK)
        self._out.write(_str("storage"))
        self._global("torch", storage_type)
        self._out.write(_str(key) + _str(location) + _int(base.size) + _TUPLE + _BINPERSID)
        self._out.write(_int(offset) + _int_tuple(tuple(t.shape)) + _int_tuple(stride))
        self._out.write(_TRUE if requires_grad else _FALSE)
        self._empty_ordered_dict()
        self._out.write(_TUPLE + _REDUCE)

    def _empty_ordered_dict(self):
        self._global("collections", "OrderedDict")
        self._out.write(_EMPTY_TUPLE + _REDUCE)

    def _storage(self, t):
        """(storage key, its contiguous base array, offset and strides in elements) for `t`."""
        array = _backend.to_host(t._data)
        shared = _shared_layout(array) if isinstance(array, numpy.ndarray) else None
        if shared is not None:
            base, offset, stride = shared
            key = self._storage_keys.get(id(base))
            if key is None:
                key = self._storage_keys[id(base)] = self._new_storage(base)
            return key, base, offset, stride
        # a little-endian C-ordered copy (0-d stays 0-d)
        own = numpy.array(array, dtype=array.dtype.newbyteorder("<"), order="C")
        stride, step = [], 1
        for size in reversed(own.shape):
            stride.append(step)
            step *= max(size, 1)
        return self._new_storage(own), own, 0, tuple(reversed(stride))

    def _new_storage(self, base):
        key = str(len(self.storages))
        self.storages.append((key, base))
        self._keep.append(base)
        return key


def _shared_layout(array):
    """(base, offset, strides in elements) when `array` can be written as a view of the
    C-contiguous little-endian array it was taken from, else None (then it gets its own copy)."""
    base = array
    while isinstance(base.base, numpy.ndarray):
        base = base.base
    item = array.itemsize
    if (
        array.size == 0
        or base.dtype != array.dtype
        or not base.flags.c_contiguous
        or array.dtype.byteorder == ">"
        or (array.dtype.byteorder == "=" and not _LITTLE)
        or any(s < 0 or s % item for s in array.strides)
    ):
        return None
    start = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if start < 0 or start % item:
        return None
    offset = start // item
    stride = tuple(s // item for s in array.strides)
    last = offset + sum((d - 1) * s for d, s in zip(array.shape, stride))
    if last >= base.size:
        return None
    return base, offset, stride


def _batches(items, opcode):
    """items between MARK and `opcode`, _BATCH at a time, as pickle batches them (an item may
    be a [key, value] pair: both go in)."""
    out = []
    for start in range(0, len(items), _BATCH):
        out.append(_MARK)
        for item in items[start : start + _BATCH]:
            out.extend(item if isinstance(item, list) else [item])
        out.append(opcode)
    return out


def _str(text):
    data = text.encode("utf-8", "surrogatepass")
    return _BINUNICODE + struct.pack("<I", len(data)) + data


def _int(value):
    if 0 <= value < 0x100:
        return _BININT1 + bytes([value])
    if 0 <= value < 0x10000:
        return _BININT2 + struct.pack("<H", value)
    if -(2**31) <= value < 2**31:
        return _BININT + struct.pack("<i", value)
    # two's complement, little-endian, in as few bytes as keep the sign
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    if len(data) < 0x100:
        return _LONG1 + bytes([len(data)]) + data
    return _LONG4 + struct.pack("<I", len(data)) + data


def _int_tuple(values):
    """A tuple of ints (a size or stride)."""
    if not values:
        return _EMPTY_TUPLE
    body = b"".join(_int(v) for v in values)
    closing = _TUPLE_N.get(len(values))
    return body + closing if closing else _MARK + body + _TUPLE


_LITTLE = numpy.little_endian


def _member(archive, name, payload):
    """Add one stored (uncompressed) member whose data starts on an _ALIGNMENT boundary."""
    data = memoryview(payload).cast("B") if not isinstance(payload, bytes) else payload
    info = zipfile.ZipInfo(f"{_ARCHIVE}/{name}")  # dated 1980-01-01: the same bytes every time
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(data)
    zip64 = len(data) * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule for the zip64 extra
    # local header: 30 bytes, the name, our padding record, the zip64 extra when there is one
    header = 30 + len(info.filename.encode("utf-8")) + 4 + (20 if zip64 else 0)
    pad = -(archive.start_dir + header) % _ALIGNMENT
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # an "FB" padding record
    with archive.open(info, "w", force_zip64=zip64) as out:
        out.write(data)


def _refusal(obj):
    from ember.nn.modules.module import Module
    from ember.serialization import _save_error

    if isinstance(obj, Module):
        return _save_error(obj)
    return TypeError(
        f"ember.save cannot store an object of type {type(obj).__module__}."
        f"{type(obj).__qualname__} in a PyTorch checkpoint (.pt/.pth): it holds tensors, "
        "numbers, strings, bytes, None, dtypes, devices and dicts/lists/tuples of these, "
        "which torch.load(path, weights_only=True) reads (ember never pickles; save an "
        "nn.Module's state_dict() rather than the module, and convert NumPy arrays to tensors)"
    )

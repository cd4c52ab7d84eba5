"""ember.save and ember.load: checkpoints in the safetensors format, never pickle.

(`ember.save` to a name ending in .pt/.pth writes PyTorch's zip format instead, through
ember._pt_writer, which emits only tensors and plain containers: still no pickling.)

A checkpoint is a safetensors file: 8 bytes of little-endian header length, a JSON header that
gives each tensor's dtype, shape and byte range, then the raw bytes. Anything around the tensors
(nested dicts, lists, tuples, int keys, numbers, strings) is stored as JSON in the header's
`__metadata__` under the key "ember"; a flat {name: tensor} state dict is a plain safetensors
file that other tools read as is. Files are written atomically (a temporary file in the same
directory, flushed, fsynced and renamed over the target, then the directory fsynced), so a
crash never leaves half a checkpoint; the temporary file's name carries the writer's host and
process id, and a later save into the folder removes those whose writer has died.

`ember.load` reads these files and PyTorch's zip checkpoints (`.pt`/`.pth`). Nothing is ever
unpickled: PyTorch's `data.pkl` goes through a small reader (ember._pt_reader) that only knows
how to rebuild tensors and containers and refuses every other global. Every size is checked
against the file before anything is allocated, and what a load builds is counted: at most
MEMORY_FACTOR times the file's size plus MEMORY_ALLOWANCE bytes of objects, nested at most
MAX_DEPTH deep. A file asking for more is refused with a ValueError naming it.
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import re
import secrets
import socket
import sys

import numpy

from ember import _backend, _dtype, _pt_writer
from ember._safe_globals import (  # noqa: F401  (public: ember.serialization.*)
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)
from ember._tensor import Tensor
from ember._warn import warn

MAX_HEADER_BYTES = 100_000_000  # the safetensors limit
MAX_DEPTH = 500  # containers nested deeper are refused (as ember.save refuses to write them)
MEMORY_FACTOR = 32  # a load may build objects of up to this many times the file's size ...
MEMORY_ALLOWANCE = 32 << 20  # ... plus this many bytes
# more bytes than any array NumPy can describe (and than any machine has)
_MAX_ARRAY_BYTES = 2**62
_MAX_NDIM = 32
_METADATA_KEY = "ember"
_FORMAT_VERSION = 1

# safetensors dtype names <-> NumPy dtypes (always little-endian in the file)
_ST_DTYPES = {
    "F16": numpy.dtype("<f2"),
    "F32": numpy.dtype("<f4"),
    "F64": numpy.dtype("<f8"),
    "I8": numpy.dtype("i1"),
    "I16": numpy.dtype("<i2"),
    "I32": numpy.dtype("<i4"),
    "I64": numpy.dtype("<i8"),
    "U8": numpy.dtype("u1"),
    "BOOL": numpy.dtype("u1"),  # read as bytes, then any nonzero byte is True
    "BF16": numpy.dtype("<u2"),  # read as bits: ml_dtypes.bfloat16, or float32 without it
}
_ST_NAME = {
    "float16": "F16",
    "float32": "F32",
    "float64": "F64",
    "int8": "I8",
    "int16": "I16",
    "int32": "I32",
    "int64": "I64",
    "uint8": "U8",
    "bool": "BOOL",
    "bfloat16": "BF16",
}


class UnsafeCheckpointError(pickle.UnpicklingError, RuntimeError):
    """A checkpoint asked for code ember will not run (a global off the allow-list)."""


class _Refused(ValueError):
    """A file refused by a reader; load() puts "ember.load(<file>): " in front of the reason."""


class _Budget:
    """The memory a load may still build, in bytes (MEMORY_FACTOR x size + MEMORY_ALLOWANCE).

    Readers charge what they are about to build (or have just built from things already
    charged); going over refuses the file, so peak memory follows the file's size.
    """

    __slots__ = ("left", "limit", "size")

    def __init__(self, size):
        self.size = size
        self.limit = self.left = MEMORY_FACTOR * size + MEMORY_ALLOWANCE

    def refund(self, nbytes):
        """Give back what a finished step freed (a temporary copy)."""
        self.left += nbytes

    def charge(self, nbytes):
        self.left -= nbytes
        if self.left < 0:
            self.left = 0  # stay refused, whatever is charged next
            raise _corrupt(
                f"it asks for more than {self.limit >> 20} MiB of objects (or as much hashing "
                f"work) from a file of {self.size} bytes, and ember.load allows "
                f"{MEMORY_FACTOR} x the file's size + {MEMORY_ALLOWANCE >> 20} MiB; the file "
                "looks crafted to exhaust memory or time"
            )


def _too_deep():
    """The refusal for data nested deeper than MAX_DEPTH."""
    return _corrupt(f"its data is nested more than {MAX_DEPTH} levels deep")


def _check_shape(shape, itemsize, what):
    """Refuse a shape NumPy cannot describe (huge dimensions even when one of them is 0)."""
    if len(shape) > _MAX_NDIM:
        raise _corrupt(f"{what} has {len(shape)} dimensions; at most {_MAX_NDIM} are supported")
    if math.prod(d for d in shape if d) * itemsize > _MAX_ARRAY_BYTES:
        dims = ", ".join(str(d) if d < 10**6 else f"~2**{d.bit_length() - 1}" for d in shape)
        raise _corrupt(f"{what} has shape [{dims[:200]}], too large for any array")


# ---------------------------------------------------------------- save


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):  # fmt: skip
    """Same as torch.save (pickle arguments are accepted, unused).

    `obj` may be a tensor or nested dicts/lists/tuples of tensors, numbers, strings, bytes,
    None, dtypes and devices (state dicts, optimizer state dicts with int keys, ...). `f` is a
    path (written atomically) or a binary file object. A name ending in `.pt` or `.pth` (a
    path, or a file object's `.name`) gets PyTorch's zip format, which
    `torch.load(f, weights_only=True)` reads, unless the object holds NumPy arrays (that
    loader refuses them): then a warning, and safetensors; any other name gets a safetensors
    file. `ember.load` reads both.
    """
    if _pt_writer.is_pt_target(f) and _holds_numpy(obj):
        warn(
            "ember.save: this object holds NumPy arrays, which PyTorch's weights_only loader "
            "refuses, so the file is written in ember's safetensors format despite its .pt "
            "name (ember.load reads it); convert the arrays to tensors for a file torch.load "
            "reads",
            UserWarning,
        )
    elif _pt_writer.is_pt_target(f):
        checkpoint = _pt_writer.Checkpoint(obj)  # refuses what it cannot write, before writing
        if isinstance(f, (str, os.PathLike)):
            _write_atomically(os.fspath(f), checkpoint.write)
        else:
            checkpoint.write(f)
            if hasattr(f, "flush"):
                f.flush()
        return
    encoder = _Encoder()
    structure = encoder.encode(obj, "")
    header = {
        "__metadata__": {
            "format": "pt",
            _METADATA_KEY: json.dumps(
                {"version": _FORMAT_VERSION, "object": structure},
                separators=(",", ":"),
                allow_nan=False,
            ),
        }
    }
    offset = 0
    for name, array in encoder.arrays.items():
        header[name] = {
            "dtype": _ST_NAME[_dtype.from_numpy_dtype(array.dtype).name],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # data starts 8-byte aligned, as safetensors writes it
    if isinstance(f, (str, os.PathLike)):
        arrays = encoder.arrays.values()
        _write_atomically(os.fspath(f), lambda fh: _write(fh, blob, arrays))
    else:
        _write(f, blob, encoder.arrays.values())
        if hasattr(f, "flush"):
            f.flush()


def _holds_numpy(obj) -> bool:
    """Whether a NumPy array sits anywhere in `obj`'s containers (walked without recursion,
    so a deeply nested object reaches ember.save's own depth check)."""
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if isinstance(item, numpy.ndarray):
            return True
        if isinstance(item, (dict, list, tuple)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False


def _write(fh, header, arrays):
    fh.write(len(header).to_bytes(8, "little"))
    fh.write(header)
    for array in arrays:
        if array.nbytes:
            # as bytes: a buffer of bfloat16 (ml_dtypes) has no format struct knows
            fh.write(memoryview(array.reshape(-1).view(numpy.uint8)))


# a temporary file: .<target name>.<host>-<pid>.<random>.tmp
_TMP_NAME = re.compile(r"\..+\.([A-Za-z0-9_]+)-(\d+)\.[0-9a-f]{12}\.tmp")


def _host_tag():
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or cannot tell: assume it still writes
    return True


def _remove_orphans(directory):
    """Remove the temporary files of ember.save calls on this host whose process has died.

    A save in flight is never touched: its process is alive. Files of other hosts (a shared
    folder) are left alone, as this host cannot see their processes.
    """
    host = _host_tag()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TMP_NAME.fullmatch(entry.name)
        if match is None or match.group(1) != host or _pid_alive(int(match.group(2))):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass  # removed by another saver meanwhile, or not ours to remove


def _write_atomically(path, write):
    """Call write(fh) on a temporary file beside `path`, fsync it, rename it over `path`, then
    fsync the directory; finally remove temporary files left by dead writers."""
    directory = os.path.dirname(os.path.abspath(path))
    name = f".{os.path.basename(path)}.{_host_tag()}-{os.getpid()}.{secrets.token_hex(6)}.tmp"
    tmp = os.path.join(directory, name)
    # O_EXCL: never follow or reuse an existing name; mode 0o666 lets the umask decide
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    _remove_orphans(directory)


def _fsync_directory(directory):
    """Make a rename in `directory` durable (POSIX; not possible everywhere)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _save_error(obj):
    from ember.nn.modules.module import Module

    if isinstance(obj, Module):
        return TypeError(
            f"ember.save does not store whole modules (here a {type(obj).__name__}): ember "
            "never pickles, so a checkpoint can never run code when loaded. Save the weights "
            "instead: ember.save(model.state_dict(), path); to load, build the model again "
            "and call model.load_state_dict(ember.load(path))."
        )
    return TypeError(
        f"ember.save cannot store an object of type {type(obj).__module__}."
        f"{type(obj).__qualname__}: checkpoints hold tensors, NumPy arrays, numbers, strings, "
        "bytes, None, dtypes, devices and dicts/lists/tuples of these (ember never pickles; "
        "save an nn.Module's state_dict() rather than the module)"
    )


class _Encoder:
    """Turns an object tree into JSON-able structure plus named, host, little-endian arrays."""

    def __init__(self):
        self.arrays = {}
        self._names = {}  # id(tensor) -> name, so one tensor saved twice loads as one
        self._keep = []  # keep those ids' objects alive while encoding

    def encode(self, obj, path, depth=0):
        if depth > 500:
            raise ValueError("ember.save: the object is nested too deeply (over 500 levels)")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if isinstance(obj, numpy.ndarray):
            return {"ndarray": self._array_name(obj, _host_array(obj), path)}
        if isinstance(obj, numpy.generic) and _dtype.kind(obj.dtype) in "biuf":
            return self.encode(obj.item(), path, depth)
        if isinstance(obj, (bytes, bytearray)):
            return {"bytes": bytes(obj).hex()}
        if isinstance(obj, _dtype.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, _backend.Device):
            return {"device": str(obj)}
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return {"tuple": [self.encode(v, f"{path}.{i}", depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return {"list": [self.encode(v, f"{path}.{i}", depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            kind = "dict"
            if isinstance(obj, collections.Counter):
                kind = "counter"
            elif isinstance(obj, collections.OrderedDict):
                kind = "odict"
            items = [
                [self._key(k, depth), self.encode(v, f"{path}.{k}", depth + 1)]
                for k, v in obj.items()
            ]
            return {kind: items}
        raise _save_error(obj)

    def _key(self, key, depth):
        if isinstance(key, (Tensor, numpy.ndarray)):
            raise TypeError("ember.save: tensors cannot be dict keys in a checkpoint")
        if isinstance(key, (list, dict)):
            raise _save_error(key)
        return self.encode(key, "", depth + 1)

    def _tensor(self, t, path):
        name = self._names.get(id(t))
        if name is None:
            name = self._array_name(t, _host_array(t._data), path)
        record = {"tensor": name}
        if t.requires_grad:
            record["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            record["parameter"] = True
        if t.device.type != "cpu":
            record["device"] = str(t.device)
        return record

    def _array_name(self, owner, array, path):
        base = path.lstrip(".") or "tensor"
        name, n = base, 1
        while name in self.arrays or name == "__metadata__":
            n += 1
            name = f"{base}#{n}"
        self.arrays[name] = array
        self._names[id(owner)] = name
        self._keep.append(owner)
        return name


def _host_array(array):
    """A contiguous little-endian host copy (or view) of a backend array."""
    host = numpy.asarray(_backend.to_host(array))
    if not host.flags.c_contiguous:  # (not ascontiguousarray: it turns 0-d into 1-d)
        host = host.copy(order="C")
    _dtype.from_numpy_dtype(host.dtype)  # raises for dtypes ember does not have
    if host.dtype.byteorder == ">" or (host.dtype.byteorder == "=" and not _LITTLE):
        host = host.astype(host.dtype.newbyteorder("<"))
    return host


_LITTLE = numpy.little_endian

# ---------------------------------------------------------------- load


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):  # fmt: skip
    """Same as torch.load, for ember's safetensors checkpoints and PyTorch's zip checkpoints.

    Nothing is unpickled, whatever `weights_only` says: PyTorch files are read by a restricted
    reader that only rebuilds tensors and containers. Tensors land on the CPU unless
    `map_location` (a device, a string, a {saved: target} dict or a callable taking
    (tensor, saved_location)) says otherwise. Truncated, corrupt or hostile files raise
    ValueError (or UnsafeCheckpointError, a RuntimeError, naming a refused global), with a
    message that starts "ember.load(<file>): ". A load builds at most MEMORY_FACTOR times the
    file's size plus MEMORY_ALLOWANCE bytes of objects, nested at most MAX_DEPTH deep; a file
    that asks for more is refused.
    """
    placer = _Placer(map_location)
    where = _describe_source(f)
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as fh:
                return _load_from(fh, os.fstat(fh.fileno()).st_size, placer)
        if not (hasattr(f, "seek") and hasattr(f, "tell") and _seekable(f)):
            f = io.BytesIO(f.read())
        start = f.tell()
        f.seek(0, io.SEEK_END)
        size = f.tell() - start
        f.seek(start)
        return _load_from(_Window(f, start) if start else f, size, placer)
    except _Refused as e:
        raise ValueError(f"ember.load({where}): {e}") from None
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(f"ember.load({where}): {e}") from None


def _describe_source(f):
    """How error messages name the file: its path, or the file object's name or type."""
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", None)
    if isinstance(name, (str, os.PathLike)):
        return repr(os.fspath(name))
    return f"<{type(f).__name__}>"


def _seekable(f):
    try:
        return f.seekable()
    except AttributeError:
        return True


class _Window(io.RawIOBase):
    """A read-only view of a file object from `start` on (for a file handed in mid-stream)."""

    def __init__(self, f, start):
        self._f, self._start = f, start

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        return self._f.readinto(buffer)

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_SET:
            offset += self._start
        return self._f.seek(offset, whence) - self._start

    def tell(self):
        return self._f.tell() - self._start


def _load_from(fh, size, placer):
    magic = fh.read(4)
    fh.seek(0)
    budget = _Budget(size)
    if magic[:2] == b"PK":
        from ember import _pt_reader

        return _pt_reader.read(fh, size, placer, budget)
    if magic[:1] == b"\x80":
        raise _Refused(
            "this is a raw pickle (PyTorch's legacy format or a pickled object). "
            "ember never unpickles files; re-save it with a recent torch.save (zip format) or "
            "with ember.save"
        )
    return _read_safetensors(fh, size, placer, budget)


def _corrupt(message):
    """A refusal; load() names the file in front of it."""
    return _Refused(f"not a valid checkpoint: {message}")


def _unique_pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _corrupt(f"the header names {key!r:.80} twice")
        out[key] = value
    return out


def _charge_json(budget, text):
    """Charge what parsing this JSON text builds, before parsing it.

    Every value follows a comma, colon or opening bracket outside a string, or is a string;
    each costs at most a small object, and the strings' contents at most the text's size.
    """
    plain = text.replace("\\\\", "").replace('\\"', "")  # now every quote opens or closes
    budget.charge(3 * sys.getsizeof(text))  # the copies made to count, freed at once
    outside = _STRINGS.sub('""', plain)
    del plain
    tokens = 1 + outside.count('"') // 2 + sum(outside.count(c) for c in ",:[{")
    del outside
    budget.refund(3 * sys.getsizeof(text))
    budget.charge(_JSON_VALUE * tokens + sys.getsizeof(text))


_STRINGS = re.compile(r'"[^"]*"')  # strings without escaped quotes: linear, no backtracking
_JSON_VALUE = 64  # bytes: a parsed JSON value (a small object and the slot holding it)
_ENTRY_OVERHEAD = 1024  # bytes: a loaded tensor's objects besides its data


def _read_safetensors(fh, size, placer, budget):
    if size < 8:
        raise _corrupt(f"the file has {size} bytes, fewer than a safetensors header needs")
    header_len = int.from_bytes(_read_exact(fh, 8), "little")
    if header_len > size - 8:
        raise _corrupt(
            f"the header claims {header_len} bytes but the file has {size} (truncated, or not "
            "a safetensors / ember checkpoint)"
        )
    if header_len > MAX_HEADER_BYTES:
        raise _corrupt(f"the header claims {header_len} bytes, over the {MAX_HEADER_BYTES} limit")
    raw = _read_exact(fh, header_len)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _corrupt(f"the header is not UTF-8 text (bad byte at {e.start})") from None
    del raw
    _charge_json(budget, text)
    try:
        header = json.loads(text, object_pairs_hook=_unique_pairs)
    except (json.JSONDecodeError, RecursionError) as e:
        raise _corrupt(f"the header is not valid JSON ({str(e)[:200]})") from None
    del text
    if not isinstance(header, dict):
        raise _corrupt("the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise _corrupt("__metadata__ must map strings to strings")
    entries = _check_entries(header, size - 8 - header_len, budget)
    del header
    base = 8 + header_len
    arrays = {}
    bf16 = None  # bfloat16's NumPy dtype, or False without ml_dtypes (after one warning)
    for name, (st_dtype, shape, begin, end) in entries.items():
        fh.seek(base + begin)
        if st_dtype == "BF16" and bf16 is None:
            bf16 = _dtype.bfloat16_for_load("this file has BF16")
        arrays[name] = _read_array(fh, st_dtype, shape, end - begin, name, bf16)
    structure = (metadata or {}).get(_METADATA_KEY)
    if structure is None:  # a plain safetensors file: a dict of tensors
        return {name: placer.place(Tensor._make(a), "cpu") for name, a in arrays.items()}
    _charge_json(budget, structure)
    try:
        document = json.loads(structure)
    except (json.JSONDecodeError, RecursionError) as e:
        raise _corrupt(f"the ember metadata is not valid JSON ({str(e)[:200]})") from None
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        raise _corrupt("the ember metadata has an unknown layout or version")
    try:
        return _Decoder(arrays, placer, budget).decode(document.get("object"), 0)
    except RecursionError:
        raise _too_deep() from None


def _check_entries(header, data_len, budget):
    """Validate every tensor's dtype, shape and byte range before reading any of them, and
    charge each tensor's objects and data to the budget."""
    budget.charge(_ENTRY_OVERHEAD * len(header))
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _corrupt(f"tensor {name!r:.80} needs exactly dtype, shape and data_offsets")
        st_dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if st_dtype in _dtype.UNSUPPORTED_SAFETENSORS:
            torch_name = _dtype.UNSUPPORTED_SAFETENSORS[st_dtype]
            where = f"tensor {name!r:.80} (safetensors dtype {st_dtype})"
            raise _Refused(_dtype.unsupported_in_file(torch_name, where))
        if st_dtype not in _ST_DTYPES:
            raise _corrupt(f"tensor {name!r:.80} has an unknown dtype {st_dtype!r:.40}")
        if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
            raise _corrupt(f"tensor {name!r:.80} has an invalid shape {shape!r:.80}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
            raise _corrupt(f"tensor {name!r:.80} has invalid data_offsets {offsets!r:.80}")
        itemsize = _ST_DTYPES[st_dtype].itemsize
        _check_shape(shape, itemsize, f"tensor {name!r:.80}")
        begin, end = offsets
        if not begin <= end <= data_len:
            raise _corrupt(
                f"tensor {name!r:.80} spans bytes {begin}..{end}, past the {data_len} bytes of "
                "data (truncated file?)"
            )
        nbytes = math.prod(shape) * itemsize
        if nbytes != end - begin:
            raise _corrupt(
                f"tensor {name!r:.80} of shape {shape} and dtype {st_dtype} needs {nbytes} bytes "
                f"but its offsets give {end - begin}"
            )
        # the data, and the converted copy BOOL and BF16 need (float32 from 2-byte BF16)
        budget.charge(nbytes * {"BOOL": 2, "BF16": 4}.get(st_dtype, 1))
        entries[name] = (st_dtype, tuple(shape), begin, end)
    # the data must be covered exactly once: no overlaps, no holes (as safetensors requires)
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin != position:
            what = "overlaps another tensor" if begin < position else "leaves a gap before it"
            raise _corrupt(f"tensor {name!r:.80} {what} (bytes {begin}..{end})")
        position = end
    if position != data_len:
        raise _corrupt(f"{data_len - position} bytes after the last tensor belong to no tensor")
    return entries


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _read_exact(fh, n):
    data = fh.read(n)
    if len(data) != n:
        raise _corrupt(f"wanted {n} bytes, the file ended after {len(data)} (truncated?)")
    return data


def _read_array(fh, st_dtype, shape, nbytes, name, bf16=False):
    raw = numpy.empty(nbytes // _ST_DTYPES[st_dtype].itemsize, dtype=_ST_DTYPES[st_dtype])
    view = memoryview(raw).cast("B")
    got = 0
    while got < nbytes:
        n = fh.readinto(view[got:])
        if not n:
            raise _corrupt(f"tensor {name!r:.80}: the file ended early (truncated?)")
        got += n
    raw = raw.reshape(shape)
    if st_dtype == "BOOL":
        return raw != 0
    if st_dtype == "BF16" and bf16:
        return raw.astype(raw.dtype.newbyteorder("="), copy=False).view(bf16)
    if st_dtype == "BF16":  # bfloat16 is the high half of a float32
        return (raw.astype(numpy.uint32) << 16).view(numpy.float32)
    return raw.astype(raw.dtype.newbyteorder("="), copy=False)


class _Decoder:
    """Rebuilds the object tree from the ember metadata, refusing anything it does not know."""

    def __init__(self, arrays, placer, budget):
        self.arrays = arrays
        self.placer = placer
        self.budget = budget
        self.tensors = {}

    def decode(self, node, depth):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not (isinstance(node, dict) and len(node) >= 1):
            raise _corrupt(f"unexpected value in the ember metadata: {type(node).__name__}")
        if "tensor" in node:
            return self._tensor(node)
        if len(node) != 1:
            raise _corrupt(f"unexpected record in the ember metadata: {sorted(node)!r:.80}")
        ((kind, value),) = node.items()
        if kind in ("list", "tuple", "dict", "odict", "counter"):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            self._expect(isinstance(value, list), kind)
            per_item = 16 if kind in ("list", "tuple") else _JSON_VALUE
            self.budget.charge(_JSON_VALUE + per_item * len(value))  # the container being built
        if kind in ("list", "tuple"):
            items = [self.decode(v, depth + 1) for v in value]
            return items if kind == "list" else tuple(items)
        if kind in ("dict", "odict", "counter"):
            self._expect(all(_is_pair(p) for p in value), kind)
            cls = {"dict": dict, "odict": collections.OrderedDict, "counter": collections.Counter}
            out = cls[kind]()
            for k, v in value:
                key = self.decode(k, depth + 1)
                try:
                    out[key] = self.decode(v, depth + 1)
                except TypeError:
                    raise _corrupt(f"unhashable dict key (a {type(key).__name__})") from None
            return out
        if kind == "float":
            self._expect(value in ("nan", "inf", "-inf"), kind)
            return float(value)
        if kind == "bytes":
            self._expect(isinstance(value, str), kind)
            try:
                return bytes.fromhex(value)
            except ValueError:
                raise _corrupt("bad bytes record") from None
        if kind == "dtype":
            self._expect(isinstance(value, str) and value in _dtype._NAMES, kind)
            return _dtype._NAMES[value]
        if kind == "device":
            self._expect(isinstance(value, str), kind)
            try:
                return _backend.Device(value)
            except (RuntimeError, TypeError):
                raise _corrupt(f"bad device {value!r:.40}") from None
        if kind == "ndarray":
            self._expect(isinstance(value, str) and value in self.arrays, kind)
            return self.arrays[value]
        raise _corrupt(f"unknown record {kind!r:.40} in the ember metadata")

    def _expect(self, ok, kind):
        if not ok:
            raise _corrupt(f"malformed {kind!r} record in the ember metadata")

    def _tensor(self, node):
        name = node["tensor"]
        if not isinstance(name, str) or name not in self.arrays:
            raise _corrupt(f"the metadata refers to a missing tensor {name!r:.80}")
        if not set(node) <= {"tensor", "requires_grad", "parameter", "device"}:
            raise _corrupt(f"unexpected tensor record keys {sorted(node)!r:.80}")
        key = (name, node.get("requires_grad", False), node.get("parameter", False))
        location = node.get("device", "cpu")
        if not (
            isinstance(key[1], bool) and isinstance(key[2], bool) and isinstance(location, str)
        ):
            raise _corrupt(f"malformed tensor record for {name!r:.80}")
        if key not in self.tensors:
            t = self.placer.place(Tensor._make(self.arrays[name]), location)
            self.tensors[key] = finish_tensor(t, key[1], key[2])
        return self.tensors[key]


def _is_pair(p):
    return isinstance(p, list) and len(p) == 2


def finish_tensor(t, requires_grad, parameter):
    """Restore requires_grad, and the Parameter type when ember.nn provides one."""
    if parameter:
        try:
            from ember.nn import Parameter
        except ImportError:
            Parameter = None  # noqa: N806
        if Parameter is not None:
            return Parameter(t, requires_grad=bool(requires_grad))
    if requires_grad:
        if not t.is_floating_point():
            raise _corrupt("only floating point tensors can require grad")
        t.requires_grad_(True)
    return t


class _Placer:
    """Applies map_location to each loaded (CPU) tensor, given where it was saved."""

    def __init__(self, map_location):
        self.map_location = map_location

    def place(self, tensor, saved_location):
        where = self.map_location
        if where is None:
            return tensor
        if callable(where) and not isinstance(where, (str, _backend.Device)):
            out = where(tensor, saved_location)
            return tensor if out is None else out
        if isinstance(where, dict):
            target = where.get(saved_location, "cpu")
            target = str(target) if not isinstance(target, str) else target
        else:
            target = str(where)
        return tensor.to(device=target)

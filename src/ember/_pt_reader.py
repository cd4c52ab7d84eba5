"""Read PyTorch's zip checkpoints (torch.save's default format) without executing pickle.

The archive holds `<name>/data.pkl` (a pickle of the object, where each tensor's storage is a
persistent id) and `<name>/data/<key>` (each storage's raw bytes). This module runs data.pkl
through a small interpreter of pickle opcodes that builds only lists, dicts, tuples, sets,
numbers, strings and bytes, and calls only the functions on an allow-list: PyTorch's tensor and
parameter rebuilders, OrderedDict, the typed storages and dtypes. Any other global
(`os.system`, `builtins.eval`, ...) stops the load with an error naming it; no code from the
file ever runs. Sizes are checked against the archive before anything is allocated.
"""

from __future__ import annotations

import collections
import math
import struct
import zipfile

import numpy

from ember import _backend, _dtype, _safe_globals
from ember._tensor import Tensor
from ember.serialization import UnsafeCheckpointError, _corrupt, finish_tensor

# torch.<X>Storage -> the NumPy dtype of its elements
_STORAGES = {
    "FloatStorage": numpy.float32,
    "DoubleStorage": numpy.float64,
    "HalfStorage": numpy.float16,
    "LongStorage": numpy.int64,
    "IntStorage": numpy.int32,
    "ShortStorage": numpy.int16,
    "CharStorage": numpy.int8,
    "ByteStorage": numpy.uint8,
    "BoolStorage": numpy.bool_,
    "BFloat16Storage": "bfloat16",  # widened to float32: ember has no bfloat16
}
_TORCH_DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}
_MAX_DIM = 2**62
# more bytes than any array NumPy can describe (zero strides could otherwise fake them)
_MAX_BYTES = 2**62


class _StorageType:
    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


class _Storage:
    """One storage's elements (a host array) and where it was saved ('cpu', 'cuda:0', ...)."""

    __slots__ = ("array", "location")

    def __init__(self, array, location):
        self.array, self.location = array, location


class _Callable:
    """An allow-listed global: the only things REDUCE may call."""

    __slots__ = ("name", "fn")

    def __init__(self, name, fn):
        self.name, self.fn = name, fn


def read(fh, size, placer):
    """Load a PyTorch zip checkpoint from a binary file object of `size` bytes."""
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise _corrupt(f"the zip archive is damaged or truncated ({e})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            if any(n.endswith("constants.pkl") for n in archive.namelist()):
                raise ValueError(
                    "ember.load: this is a TorchScript archive (torch.jit.save); ember reads "
                    "checkpoints made by torch.save, such as a model's state_dict()"
                )
            raise _corrupt("a PyTorch checkpoint has exactly one <name>/data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        loader = _Archive(archive, prefix, size, placer)
        return _Unpickler(loader.member(prefix + "data.pkl"), loader).load()


class _Archive:
    """Reads members of the zip, refusing compressed entries and reads beyond the file's size."""

    def __init__(self, archive, prefix, size, placer):
        self.archive, self.prefix, self.size, self.placer = archive, prefix, size, placer
        self.budget = size  # storages may not add up to more bytes than the file has
        self.storages = {}
        order = b"little"
        if prefix + "byteorder" in archive.namelist():
            order = self.member(prefix + "byteorder")
        if order not in (b"little", b"big"):
            raise _corrupt(f"unknown byteorder record {order[:20]!r}")
        self.byteorder = "<" if order == b"little" else ">"

    def _info(self, name):
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise _corrupt(f"the archive has no member {name!r}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise _corrupt(f"member {name!r} is compressed; torch.save stores members as is")
        if info.file_size > self.budget:
            raise _corrupt(f"member {name!r} claims {info.file_size} bytes, more than the file has")
        return info

    def member(self, name):
        info = self._info(name)
        buffer = bytearray(info.file_size)
        try:
            with self.archive.open(info) as fh:
                got = fh.readinto(buffer)
                if got != info.file_size or fh.read(1):
                    raise _corrupt(f"member {name!r} is truncated")
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise _corrupt(f"member {name!r} cannot be read ({e})") from None
        self.budget -= info.file_size
        return buffer

    def storage(self, pid):
        """The storage behind a persistent id ('storage', type, key, location, numel)."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _corrupt(f"unexpected persistent id {pid!r:.80}")
        _, kind, key, location, numel = pid
        if not isinstance(kind, _StorageType):
            raise _corrupt(f"persistent id with an unknown storage type {kind!r:.60}")
        if not (isinstance(key, str) and isinstance(location, str) and _is_count(numel)):
            raise _corrupt(f"malformed persistent id {pid!r:.80}")
        if key in self.storages:
            return self.storages[key]
        wide = kind.dtype == "bfloat16"
        dtype = numpy.dtype(numpy.uint16 if wide else kind.dtype).newbyteorder(self.byteorder)
        name = f"{self.prefix}data/{key}"
        if self._info(name).file_size != numel * dtype.itemsize:
            raise _corrupt(
                f"storage {key!r} should hold {numel} x {dtype.itemsize} bytes but has "
                f"{self._info(name).file_size}"
            )
        array = numpy.frombuffer(self.member(name), dtype=dtype)
        if wide:
            array = (array.astype(numpy.uint32) << 16).view(numpy.float32)
        elif dtype.byteorder not in ("=", "|") and dtype.byteorder != _NATIVE:
            array = array.astype(dtype.newbyteorder("="))
        self.storages[key] = _Storage(array, location)
        return self.storages[key]


_NATIVE = "<" if numpy.little_endian else ">"


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _rebuild_tensor(loader, storage, offset, size, stride, requires_grad, hooks, metadata=None):
    if not isinstance(storage, _Storage):
        raise _corrupt("a tensor is rebuilt from something that is not a storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise _corrupt(f"bad tensor size {size!r:.60} / stride {stride!r:.60}")
    if not (_is_count(offset) and all(map(_is_count, size)) and all(map(_is_count, stride))):
        raise _corrupt(f"bad tensor offset/size/stride {offset!r:.20}/{size!r:.60}/{stride!r:.60}")
    too_big = math.prod(size) * storage.array.itemsize > _MAX_BYTES
    if too_big or any(d > _MAX_DIM for d in size):
        raise _corrupt(f"tensor size {size!r:.80} is implausibly large")
    n = storage.array.size
    if 0 in size:
        if offset > n:
            raise _corrupt("an empty tensor starts past the end of its storage")
        array = numpy.empty(size, dtype=storage.array.dtype)
    else:
        last = offset + sum((d - 1) * s for d, s in zip(size, stride))
        if last >= n:
            raise _corrupt(
                f"a tensor of size {list(size)} and stride {list(stride)} at offset {offset} "
                f"reaches element {last} of a storage of {n}"
            )
        item = storage.array.itemsize
        # a view into the shared storage, as torch.load gives (views saved together stay views)
        array = numpy.lib.stride_tricks.as_strided(
            storage.array[offset:],
            shape=size,
            strides=[s * item for s in stride],
            writeable=not any(s == 0 and d > 1 for d, s in zip(size, stride)),
        )
    t = loader.placer.place(Tensor._make(array), storage.location)
    return finish_tensor(t, bool(requires_grad), False)


def _rebuild_parameter(data, requires_grad, hooks, state=None):
    if not isinstance(data, Tensor):
        raise _corrupt("a parameter is rebuilt from something that is not a tensor")
    data.requires_grad_(False)
    return finish_tensor(data, bool(requires_grad), True)


def _encode(text, encoding="latin1"):
    """Protocol 2 pickles bytes as _codecs.encode(str, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _corrupt("_codecs.encode is only allowed for latin1 bytes")
    return text.encode("latin1")


def _ordered_dict(*args):
    if args:
        raise _corrupt("OrderedDict is only rebuilt empty")
    return collections.OrderedDict()


def _container(cls):
    def build(items=()):
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise _corrupt(f"{cls.__name__} is only rebuilt from a list")
        return cls(items)

    return build


def _resolve(module, name, loader):
    """The allow-listed object for module.name, or an UnsafeCheckpointError naming it."""
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return _Callable(name, lambda *a: _rebuild_tensor(loader, *a))
    if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        return _Callable(name, _rebuild_parameter)
    if module == "collections" and name == "OrderedDict":
        return _Callable(name, _ordered_dict)
    if module == "torch" and name in _STORAGES:
        return _StorageType(name, _STORAGES[name])
    if module == "torch" and name in _TORCH_DTYPES:
        return _dtype._NAMES[_TORCH_DTYPES[name]]
    if module == "torch" and name == "Size":
        return _Callable(name, _container(tuple))
    if module == "torch" and name == "device":
        return _Callable(name, _backend.Device)
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
        return _Callable(name, _container(set if name == "set" else frozenset))
    if module == "_codecs" and name == "encode":
        return _Callable(name, _encode)
    user_allowed = _safe_globals.allowed(module, name)
    if user_allowed is not None:
        return _Callable(name, user_allowed)
    raise UnsafeCheckpointError(
        f"ember.load refused the checkpoint: it references the global '{module}.{name}', which "
        "is not on ember's allow-list of tensor-rebuilding functions (ember never runs code "
        "from a checkpoint). If you trust that object, allow it: "
        f"ember.serialization.add_safe_globals([{name}]) or, for one load, "
        f"`with ember.serialization.safe_globals([{name}]): ...`"
    )


class _Mark:
    """The MARK opcode's place on the stack."""


class _Unpickler:
    """A pickle interpreter for data built from containers, numbers and allow-listed calls."""

    def __init__(self, data, loader):
        self.data = data  # a bytearray, read in place (no second copy)
        self.pos = 0
        self.loader = loader
        self.stack = []
        self.memo = {}

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise _corrupt("the pickle stream ends early (truncated data.pkl)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def line(self):
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise _corrupt("the pickle stream ends early (truncated data.pkl)")
        out = self.data[self.pos : end]
        self.pos = end + 1
        return out.decode("utf-8", "strict")

    def uint(self, n):
        return int.from_bytes(self.take(n), "little")

    def pop(self):
        if not self.stack:
            raise _corrupt("pickle stack underflow")
        return self.stack.pop()

    def pop_mark(self):
        for i in range(len(self.stack) - 1, -1, -1):
            if isinstance(self.stack[i], _Mark):
                items = self.stack[i + 1 :]
                del self.stack[i:]
                return items
        raise _corrupt("pickle MARK missing")

    def top(self, kind):
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise _corrupt(f"pickle opcode expects a {kind.__name__} on the stack")
        return self.stack[-1]

    def load(self):
        try:
            while True:
                code = self.take(1)[0]
                handler = _OPCODES.get(code)
                if handler is None:
                    raise _corrupt(f"unsupported pickle opcode {bytes([code])!r} at {self.pos - 1}")
                if handler(self) is _STOP:
                    return self.pop()
        except (TypeError, UnicodeDecodeError, struct.error, RecursionError, MemoryError) as e:
            raise _corrupt(f"malformed pickle data ({type(e).__name__}: {e})") from None


_STOP = object()


def _push(value):
    return lambda u: u.stack.append(value)


def _op_global(u):
    module, name = u.line(), u.line()
    u.stack.append(_resolve(module, name, u.loader))


def _op_stack_global(u):
    name, module = u.pop(), u.pop()
    if not (isinstance(module, str) and isinstance(name, str)):
        raise _corrupt("STACK_GLOBAL needs two strings")
    u.stack.append(_resolve(module, name, u.loader))


def _op_reduce(u):
    args, fn = u.pop(), u.pop()
    if not isinstance(fn, _Callable):
        raise UnsafeCheckpointError(f"ember.load refused the checkpoint: it calls {fn!r:.60}")
    if not isinstance(args, tuple):
        raise _corrupt("REDUCE needs a tuple of arguments")
    u.stack.append(fn.fn(*args))


def _op_newobj(u):
    args, cls = u.pop(), u.pop()
    if not isinstance(cls, _Callable):
        raise UnsafeCheckpointError(f"ember.load refused the checkpoint: it builds {cls!r:.60}")
    if not isinstance(args, tuple):
        raise _corrupt("NEWOBJ needs a tuple of arguments")
    if isinstance(cls.fn, type) and _safe_globals.allowed(cls.fn.__module__, cls.fn.__qualname__):
        u.stack.append(cls.fn.__new__(cls.fn, *args))  # a class the user allowed
    else:
        u.stack.append(cls.fn(*args))


def _user_allowed_instance(obj):
    kind = type(obj)
    return _safe_globals.allowed(kind.__module__, kind.__qualname__) is kind


def _set_state(obj, state):
    if getattr(type(obj), "__setstate__", None) is not None:
        obj.__setstate__(state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for key, value in {**(state or {}), **(slots or {})}.items():
        setattr(obj, key, value)


def _op_build(u):
    state = u.pop()
    obj = u.stack[-1] if u.stack else None
    if _user_allowed_instance(obj):
        _set_state(obj, state)
        return
    if isinstance(obj, collections.OrderedDict) and isinstance(state, dict):
        for key, value in state.items():  # e.g. a state_dict's _metadata attribute
            if not isinstance(key, str) or key.startswith("__"):
                raise _corrupt(f"refused attribute {key!r:.40}")
            setattr(obj, key, value)
        return
    if isinstance(obj, Tensor) and not state:
        return
    raise UnsafeCheckpointError(
        f"ember.load refused the checkpoint: it sets state on a {type(obj).__name__}"
    )


def _op_binpersid(u):
    u.stack.append(u.loader.storage(u.pop()))


def _op_setitems(u):
    items = u.pop_mark()
    target = u.top(dict)
    if len(items) % 2:
        raise _corrupt("SETITEMS needs key/value pairs")
    for i in range(0, len(items), 2):
        target[items[i]] = items[i + 1]


def _op_setitem(u):
    value, key = u.pop(), u.pop()
    u.top(dict)[key] = value


def _op_appends(u):
    items = u.pop_mark()
    u.top(list).extend(items)


def _op_append(u):
    value = u.pop()
    u.top(list).append(value)


def _op_additems(u):
    items = u.pop_mark()
    u.top(set).update(items)


def _op_dict(u):
    items = u.pop_mark()
    if len(items) % 2:
        raise _corrupt("DICT needs key/value pairs")
    u.stack.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})


def _op_tuple_n(n):
    def op(u):
        if len(u.stack) < n:
            raise _corrupt("pickle stack underflow")
        items = tuple(u.stack[len(u.stack) - n :]) if n else ()
        del u.stack[len(u.stack) - n :]
        if any(isinstance(i, _Mark) for i in items):
            raise _corrupt("misplaced MARK")
        u.stack.append(items)

    return op


def _op_get(index):
    def op(u):
        i = index(u)
        if i not in u.memo:
            raise _corrupt(f"pickle memo has no entry {i}")
        u.stack.append(u.memo[i])

    return op


def _op_put(index):
    def op(u):
        if not u.stack:
            raise _corrupt("pickle stack underflow")
        u.memo[index(u)] = u.stack[-1]

    return op


def _op_frame(u):
    u.take(8)  # frames only group opcodes; the data is read as one buffer anyway


def _op_proto(u):
    if u.take(1)[0] > 5:
        raise _corrupt("unknown pickle protocol")


def _op_long(width):
    def op(u):
        n = u.uint(width)
        u.stack.append(int.from_bytes(u.take(n), "little", signed=True))

    return op


def _op_unicode(width):
    return lambda u: u.stack.append(u.take(u.uint(width)).decode("utf-8", "surrogatepass"))


def _op_bytes(width):
    return lambda u: u.stack.append(bytes(u.take(u.uint(width))))


def _op_mark(u):
    u.stack.append(_Mark())


def _op_pop(u):
    u.pop()


def _op_dup(u):
    u.stack.append(u.top(object))


_OPCODES = {
    0x80: _op_proto,
    0x95: _op_frame,
    ord("."): lambda u: _STOP,
    ord("("): _op_mark,
    ord("0"): _op_pop,
    ord("1"): lambda u: u.pop_mark(),
    ord("2"): _op_dup,
    ord("}"): lambda u: u.stack.append({}),
    ord("]"): lambda u: u.stack.append([]),
    ord(")"): lambda u: u.stack.append(()),
    0x8F: lambda u: u.stack.append(set()),
    0x90: _op_additems,
    0x91: lambda u: u.stack.append(frozenset(u.pop_mark())),
    ord("t"): lambda u: u.stack.append(tuple(u.pop_mark())),
    0x85: _op_tuple_n(1),
    0x86: _op_tuple_n(2),
    0x87: _op_tuple_n(3),
    ord("l"): lambda u: u.stack.append(list(u.pop_mark())),
    ord("d"): _op_dict,
    ord("a"): _op_append,
    ord("e"): _op_appends,
    ord("s"): _op_setitem,
    ord("u"): _op_setitems,
    ord("J"): lambda u: u.stack.append(int.from_bytes(u.take(4), "little", signed=True)),
    ord("K"): lambda u: u.stack.append(u.uint(1)),
    ord("M"): lambda u: u.stack.append(u.uint(2)),
    0x8A: _op_long(1),
    0x8B: _op_long(4),
    ord("G"): lambda u: u.stack.append(struct.unpack(">d", u.take(8))[0]),
    ord("X"): _op_unicode(4),
    0x8C: _op_unicode(1),
    0x8D: _op_unicode(8),
    ord("B"): _op_bytes(4),
    ord("C"): _op_bytes(1),
    0x8E: _op_bytes(8),
    ord("N"): _push(None),
    0x88: _push(True),
    0x89: _push(False),
    ord("c"): _op_global,
    0x93: _op_stack_global,
    ord("R"): _op_reduce,
    0x81: _op_newobj,
    ord("b"): _op_build,
    ord("Q"): _op_binpersid,
    ord("h"): _op_get(lambda u: u.uint(1)),
    ord("j"): _op_get(lambda u: u.uint(4)),
    ord("g"): _op_get(lambda u: int(u.line())),
    ord("q"): _op_put(lambda u: u.uint(1)),
    ord("r"): _op_put(lambda u: u.uint(4)),
    ord("p"): _op_put(lambda u: int(u.line())),
    0x94: _op_put(lambda u: len(u.memo)),
}

"""Read PyTorch's zip checkpoints (torch.save's default format) without executing pickle.

The archive holds `<name>/data.pkl` (a pickle of the object, where each tensor's storage is a
persistent id) and `<name>/data/<key>` (each storage's raw bytes). This module runs data.pkl
through a small interpreter of pickle opcodes that builds only lists, dicts, tuples, sets,
numbers, strings and bytes, and calls only the functions on an allow-list: PyTorch's tensor and
parameter rebuilders, OrderedDict, the typed storages and dtypes. Any other global
(`os.system`, `builtins.eval`, ...) stops the load with an error naming it; no code from the
file ever runs. Sizes are checked against the archive before anything is allocated. A tensor
of a dtype ember does not have (complex64, uint16, float8, ...) is refused as "unsupported
dtype X"; bfloat16 loads as bfloat16 with ml_dtypes installed, else as float32 with a warning.

Everything the interpreter builds is counted against the load's budget (serialization._Budget:
a multiple of the file's size): each object, each container entry, and each copy a call makes
of a memoized object, however often the memo is reused. Containers record how deeply they
nest, and anything deeper than serialization.MAX_DEPTH is refused, so no hash or comparison of
the result can overflow the C stack.
"""

from __future__ import annotations

import collections
import struct
import sys
import zipfile

import numpy

from ember import _backend, _dtype, _safe_globals
from ember._tensor import Tensor
from ember.serialization import (
    _MAX_ARRAY_BYTES,
    MAX_DEPTH,
    UnsafeCheckpointError,
    _check_shape,
    _corrupt,
    _Refused,
    _too_deep,
    finish_tensor,
)

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
    "BFloat16Storage": "bfloat16",  # ml_dtypes.bfloat16 (float32 without ml_dtypes, warned)
    "UntypedStorage": None,  # torch._rebuild_tensor_v3's bytes: dtypes ember does not have
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
    "bfloat16": "bfloat16",
}
# Bytes charged to the budget (upper estimates of CPython's memory for each thing)
_SLOT = 8  # a reference on the stack or in a tuple
_LIST_SLOT = 16  # a reference appended to a list (over-allocation, copy on growth)
_ENTRY = 64  # a dict or set entry, hash table included
_RECORD = 112  # the reader's note of a nested container's depth (dict entries, keep slot)
_TENSOR = 1536  # a rebuilt tensor's objects besides its storage (Tensor, array view, ...)
_MEMO = 96  # a memo entry and its int key
_HASH_STEP = 8  # charged per tuple node or 64-bit int digit hashed: hashing is work too


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
    """An allow-listed global: the only things REDUCE may call. `copies` is the container
    type it copies its one argument into (torch.Size, set, frozenset), else None."""

    __slots__ = ("name", "fn", "copies")

    def __init__(self, name, fn, copies=None):
        self.name, self.fn, self.copies = name, fn, copies


def read(fh, size, placer, budget):
    """Load a PyTorch zip checkpoint from a binary file object of `size` bytes, building at
    most what `budget` allows."""
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise _corrupt(f"the zip archive is damaged or truncated ({str(e)[:200]})") from None
    with archive:
        names = archive.namelist()
        budget.charge(512 * len(names))  # zipfile's record of each member
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            if any(n.endswith("constants.pkl") for n in names):
                raise _Refused(
                    "this is a TorchScript archive (torch.jit.save); ember reads "
                    "checkpoints made by torch.save, such as a model's state_dict()"
                )
            raise _corrupt("a PyTorch checkpoint has exactly one <name>/data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        loader = _Archive(archive, prefix, size, placer, budget)
        return _Unpickler(loader.member(prefix + "data.pkl"), loader).load()


class _Archive:
    """Reads members of the zip, refusing compressed entries and reads beyond the file's size."""

    def __init__(self, archive, prefix, size, placer, budget):
        self.archive, self.prefix, self.size, self.placer = archive, prefix, size, placer
        self.room = size  # members read may not add up to more bytes than the file has
        self.budget = budget
        self.storages = {}
        self.bf16 = None  # bfloat16's NumPy dtype once asked for, False without ml_dtypes
        order = b"little"
        if prefix + "byteorder" in archive.namelist():
            order = self.member(prefix + "byteorder")
        if order not in (b"little", b"big"):
            raise _corrupt(f"unknown byteorder record {bytes(order[:20])!r}")
        self.byteorder = "<" if order == b"little" else ">"

    def _info(self, name):
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise _corrupt(f"the archive has no member {name!r:.80}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise _corrupt(f"member {name!r:.80} is compressed; torch.save stores members as is")
        if info.file_size > self.room:
            raise _corrupt(
                f"member {name!r:.80} claims {info.file_size} bytes, more than the file has"
            )
        return info

    def member(self, name):
        info = self._info(name)
        buffer = bytearray(info.file_size)
        try:
            with self.archive.open(info) as fh:
                got = fh.readinto(buffer)
                if got != info.file_size or fh.read(1):
                    raise _corrupt(f"member {name!r:.80} is truncated")
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise _corrupt(f"member {name!r:.80} cannot be read ({str(e)[:200]})") from None
        self.room -= info.file_size
        return buffer

    def storage(self, pid):
        """The storage behind a persistent id ('storage', type, key, location, numel)."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _corrupt(f"unexpected persistent id ({_brief(pid)})")
        _, kind, key, location, numel = pid
        if not isinstance(kind, _StorageType):
            raise _corrupt(f"persistent id with an unknown storage type ({_brief(kind)})")
        if not (isinstance(key, str) and isinstance(location, str) and _is_count(numel)):
            raise _corrupt("malformed persistent id (key, location or size)")
        if key in self.storages:
            return self.storages[key]
        if kind.dtype is None:  # untyped bytes: _rebuild_tensor_v3 refuses the tensor
            self.storages[key] = _Storage(None, location)
            return self.storages[key]
        bf16 = kind.dtype == "bfloat16"
        if bf16 and self.bf16 is None:
            self.bf16 = _dtype.bfloat16_for_load("this checkpoint has")
        wide = bf16 and not self.bf16
        dtype = numpy.dtype(numpy.uint16 if bf16 else kind.dtype).newbyteorder(self.byteorder)
        name = f"{self.prefix}data/{key}"
        if self._info(name).file_size != numel * dtype.itemsize:
            raise _corrupt(
                f"storage {key!r:.80} should hold {numel} x {dtype.itemsize} bytes but has "
                f"{self._info(name).file_size}"
            )
        swap = dtype.byteorder not in ("=", "|") and dtype.byteorder != _NATIVE
        if wide or swap:  # the converted copy (float32 from bfloat16: twice the bytes)
            self.budget.charge(numel * dtype.itemsize * (2 if wide else 1))
        array = numpy.frombuffer(self.member(name), dtype=dtype)
        if wide:
            array = (array.astype(numpy.uint32) << 16).view(numpy.float32)
        elif swap:
            array = array.astype(dtype.newbyteorder("="))
        if bf16 and not wide:
            array = array.view(self.bf16)
        self.storages[key] = _Storage(array, location)
        return self.storages[key]


_NATIVE = "<" if numpy.little_endian else ">"


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _brief(value):
    """A short description of a value for an error message (never a long or deep repr)."""
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, (tuple, list, dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _unsupported_dtype(name):
    return _Refused(_dtype.unsupported_in_file(name, "a tensor in this checkpoint"))


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, meta=None):
    # PyTorch writes these only for dtypes without a typed storage, none of which ember has
    # (their dtype global is refused before this is called); a file that gets here anyway
    # names a dtype ember has but stores it in an untyped storage, as no torch.save does
    name = dtype.name if isinstance(dtype, _dtype.dtype) else _brief(dtype)
    raise _Refused(
        f"a tensor of dtype {name} is stored as untyped bytes (torch._utils._rebuild_tensor_v3), "
        "which ember does not read; save it with torch.save from PyTorch 2.x"
    )


def _rebuild_tensor(loader, storage, offset, size, stride, requires_grad, hooks, metadata=None):
    loader.budget.charge(_TENSOR)
    if not isinstance(storage, _Storage):
        raise _corrupt("a tensor is rebuilt from something that is not a storage")
    if storage.array is None:
        raise _corrupt("a tensor of typed storage is rebuilt from untyped bytes")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise _corrupt(f"bad tensor size ({_brief(size)}) / stride ({_brief(stride)})")
    if not (_is_count(offset) and all(map(_is_count, size)) and all(map(_is_count, stride))):
        raise _corrupt("bad tensor offset, size or stride (each must be a count)")
    item = storage.array.itemsize
    _check_shape(size, item, "a tensor")
    if offset * item > _MAX_ARRAY_BYTES or any(s * item > _MAX_ARRAY_BYTES for s in stride):
        raise _corrupt("a tensor's offset or stride is too large for any array")
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

    return _Callable(cls.__name__, build, cls)


def _global_name(module, name):
    """module.name as an error message shows it: quoted, short, on one line."""
    return repr(f"{module}.{name}" if len(module) + len(name) < 200 else f"{module[:100]}...")


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
    if module == "torch.storage" and name == "UntypedStorage":
        return _StorageType(name, None)
    if module == "torch" and name in _dtype.UNSUPPORTED_STORAGES:
        raise _unsupported_dtype(_dtype.UNSUPPORTED_STORAGES[name])
    if module == "torch" and name in _dtype.UNSUPPORTED_TORCH:
        raise _unsupported_dtype(name)
    if module == "torch._utils" and name == "_rebuild_tensor_v3":
        return _Callable(name, _rebuild_tensor_v3)
    if module == "torch" and name in _TORCH_DTYPES:
        return _dtype._NAMES[_TORCH_DTYPES[name]]
    if module == "torch" and name == "Size":
        return _container(tuple)
    if module == "torch" and name == "device":
        return _Callable(name, _backend.Device)
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
        return _container(set if name == "set" else frozenset)
    if module == "_codecs" and name == "encode":
        return _Callable(name, _encode)
    user_allowed = _safe_globals.allowed(module, name)
    if user_allowed is not None:
        return _Callable(name, user_allowed)
    hint = ""
    if name.replace(".", "_").isidentifier() and len(name) < 100:
        hint = (
            " If you trust that object, allow it: "
            f"ember.serialization.add_safe_globals([{name}]) or, for one load, "
            f"`with ember.serialization.safe_globals([{name}]): ...`"
        )
    raise UnsafeCheckpointError(
        f"refused the checkpoint: it references the global {_global_name(module, name)}, which "
        "is not on ember's allow-list of tensor-rebuilding functions (ember never runs code "
        f"from a checkpoint).{hint}"
    )


class _Mark:
    """The MARK opcode's place on the stack."""


_MARK = _Mark()
_CONTAINERS = (list, tuple, dict, set, frozenset)


class _Unpickler:
    """A pickle interpreter for data built from containers, numbers and allow-listed calls.

    `depth` notes how deeply a container built so far nests when it holds containers (one
    that holds none nests 1 deep), `weight` what hashing a tuple costs when that is more than
    its length; `built` keeps the noted objects alive so their ids stay theirs to the end.
    """

    def __init__(self, data, loader):
        self.data = data  # a bytearray, read in place (no second copy)
        self.pos = 0
        self.loader = loader
        self.budget = loader.budget
        self.stack = []
        self.memo = {}
        self.depth = {}
        self.weight = {}  # id(tuple) -> the nodes hashing it visits (tuples do not cache it)
        self.built = []

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

    def push(self, value):
        """Push a new scalar (number, string, bytes), charging its memory."""
        small = type(value) is int and -5 <= value <= 256  # CPython shares these
        self.budget.charge(_SLOT + (0 if small else sys.getsizeof(value)))
        self.stack.append(value)

    def push_ref(self, value):
        """Push another reference to an object that exists already."""
        self.budget.charge(_SLOT)
        self.stack.append(value)

    def push_made(self, obj, parts=()):
        """Push an object just built from `parts`, charging it and noting its depth."""
        self.budget.charge(_SLOT + sys.getsizeof(obj))
        container = isinstance(obj, _CONTAINERS)
        if container or _user_allowed_instance(obj):
            level = 1 + self.deepest(parts)
            if not container:  # a user-allowed object: always noted
                self.note(obj, level)
            elif type(obj) is tuple:
                weight = 1 + sum(map(self.hash_weight, obj))
                if level > 1 or weight > len(obj) + 1:
                    self.note(obj, level, weight)
            elif level > 1:
                self.note(obj, level)
        self.stack.append(obj)

    def note(self, obj, level, weight=0):
        """Note the depth (and a tuple's hash weight) of an object that differs from the
        default (1 for a container, 0 for anything else), keeping it alive meanwhile."""
        if level > MAX_DEPTH:
            raise _too_deep()
        if id(obj) not in self.depth:
            self.budget.charge(_RECORD)
            self.built.append(obj)
        self.depth[id(obj)] = level
        if weight:
            self.weight[id(obj)] = weight

    def level(self, obj):
        noted = self.depth.get(id(obj))
        if noted is not None:
            return noted
        return 1 if isinstance(obj, _CONTAINERS) else 0

    def hash_weight(self, key):
        """The work hashing `key` takes, in tuple nodes or 64-bit int digits."""
        if type(key) is int:
            return 1 + key.bit_length() // 64  # int hashes are not cached either
        noted = self.weight.get(id(key))
        if noted is not None:
            return noted
        return len(key) + 1 if type(key) is tuple else 1

    def hashing(self, keys):
        """Charge hashing `keys` (a dict or set insert): deep or shared tuples cost their
        whole tree each time, so a small file cannot ask for an exponential amount of work."""
        self.budget.charge(_HASH_STEP * sum(map(self.hash_weight, keys)))

    def deepest(self, items):
        return max(map(self.level, items), default=0)

    def grew(self, target, items, cost):
        """Charge `items` added to the container `target` and update its depth."""
        self.budget.charge(cost * len(items))
        level = 1 + self.deepest(items)
        if level > self.level(target):
            self.note(target, level)

    def pop(self):
        if not self.stack:
            raise _corrupt("pickle stack underflow")
        value = self.stack.pop()
        if value is _MARK:
            raise _corrupt("misplaced MARK")
        return value

    def pop_mark(self):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
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
        except (_Refused, UnsafeCheckpointError):
            raise
        except MemoryError:
            raise _corrupt("it needs more memory than this machine has") from None
        except (
            TypeError, ValueError, AttributeError, IndexError, KeyError, OverflowError,
            struct.error, RecursionError,
        ) as e:  # fmt: skip
            raise _corrupt(f"malformed pickle data ({type(e).__name__}: {str(e)[:200]})") from None


_STOP = object()


def _push(value):
    return lambda u: u.push_ref(value)


def _op_global(u):
    module, name = u.line(), u.line()
    u.push_ref(_resolve(module, name, u.loader))


def _op_stack_global(u):
    name, module = u.pop(), u.pop()
    if not (isinstance(module, str) and isinstance(name, str)):
        raise _corrupt("STACK_GLOBAL needs two strings")
    u.push_ref(_resolve(module, name, u.loader))


def _op_reduce(u):
    args, fn = u.pop(), u.pop()
    if not isinstance(fn, _Callable):
        raise UnsafeCheckpointError(f"refused the checkpoint: it calls {_brief(fn)}")
    if not isinstance(args, tuple):
        raise _corrupt("REDUCE needs a tuple of arguments")
    if fn.copies is not None and len(args) == 1 and isinstance(args[0], _CONTAINERS):
        items = args[0]  # copied on every call, however often the memo hands it out
        u.budget.charge(len(items) * (_SLOT if fn.copies is tuple else _ENTRY))
        if fn.copies is not tuple:
            u.hashing(items)
        u.push_made(fn.fn(items), items)
        return
    u.push_made(fn.fn(*args), args)


def _op_newobj(u):
    args, cls = u.pop(), u.pop()
    if not isinstance(cls, _Callable):
        raise UnsafeCheckpointError(f"refused the checkpoint: it builds {_brief(cls)}")
    if not isinstance(args, tuple):
        raise _corrupt("NEWOBJ needs a tuple of arguments")
    if isinstance(cls.fn, type) and _safe_globals.allowed(cls.fn.__module__, cls.fn.__qualname__):
        u.push_made(cls.fn.__new__(cls.fn, *args), args)  # a class the user allowed
    else:
        u.push_made(cls.fn(*args), args)


def _user_allowed_instance(obj):
    kind = type(obj)
    if kind in _CONTAINERS or kind in (int, float, str, bytes, Tensor):
        return False
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
        u.grew(obj, [state], _ENTRY * (1 + (len(state) if isinstance(state, dict) else 1)))
        _set_state(obj, state)
        return
    if isinstance(obj, collections.OrderedDict) and isinstance(state, dict):
        u.grew(obj, list(state.values()), _ENTRY)
        for key, value in state.items():  # e.g. a state_dict's _metadata attribute
            if not isinstance(key, str) or key.startswith("__"):
                raise _corrupt(f"refused attribute {_brief(key)}")
            setattr(obj, key, value)
        return
    if isinstance(obj, Tensor) and not state:
        return
    raise UnsafeCheckpointError(f"refused the checkpoint: it sets state on a {type(obj).__name__}")


def _op_binpersid(u):
    u.push_ref(u.loader.storage(u.pop()))


def _op_setitems(u):
    items = u.pop_mark()
    target = u.top(dict)
    if len(items) % 2:
        raise _corrupt("SETITEMS needs key/value pairs")
    u.grew(target, items, _ENTRY // 2)
    u.hashing(items[0::2])
    for i in range(0, len(items), 2):
        target[items[i]] = items[i + 1]


def _op_setitem(u):
    value, key = u.pop(), u.pop()
    target = u.top(dict)
    u.grew(target, (key, value), _ENTRY // 2)
    u.hashing((key,))
    target[key] = value


def _op_appends(u):
    items = u.pop_mark()
    target = u.top(list)
    u.grew(target, items, _LIST_SLOT)
    target.extend(items)


def _op_append(u):
    value = u.pop()
    target = u.top(list)
    u.grew(target, (value,), _LIST_SLOT)
    target.append(value)


def _op_additems(u):
    items = u.pop_mark()
    target = u.top(set)
    u.grew(target, items, _ENTRY)
    u.hashing(items)
    target.update(items)


def _op_dict(u):
    items = u.pop_mark()
    if len(items) % 2:
        raise _corrupt("DICT needs key/value pairs")
    u.hashing(items[0::2])
    u.push_made({items[i]: items[i + 1] for i in range(0, len(items), 2)}, items)


def _op_from_mark(kind):
    def op(u):
        items = u.pop_mark()
        if kind is frozenset:
            u.hashing(items)
        u.push_made(kind(items), items)

    return op


def _op_tuple_n(n):
    def op(u):
        if len(u.stack) < n:
            raise _corrupt("pickle stack underflow")
        items = tuple(u.stack[len(u.stack) - n :]) if n else ()
        del u.stack[len(u.stack) - n :]
        if _MARK in items:
            raise _corrupt("misplaced MARK")
        u.push_made(items, items)

    return op


def _op_get(index):
    def op(u):
        i = index(u)
        if i not in u.memo:
            raise _corrupt(f"pickle memo has no entry {i}")
        u.push_ref(u.memo[i])

    return op


def _op_put(index):
    def op(u):
        if not u.stack or u.stack[-1] is _MARK:
            raise _corrupt("PUT needs a value on the stack")
        i = index(u)
        if i not in u.memo:
            u.budget.charge(_MEMO)
        u.memo[i] = u.stack[-1]

    return op


def _text_index(u):
    """The memo index of a text-protocol GET/PUT: a decimal number on its own line."""
    text = u.line()
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise _corrupt(f"a memo index must be a number of at most 18 digits, got {_brief(text)}")
    return int(text)


def _op_frame(u):
    u.take(8)  # frames only group opcodes; the data is read as one buffer anyway


def _op_proto(u):
    if u.take(1)[0] > 5:
        raise _corrupt("unknown pickle protocol")


def _op_long(width):
    def op(u):
        n = u.uint(width)
        u.push(int.from_bytes(u.take(n), "little", signed=True))

    return op


def _op_unicode(width):
    return lambda u: u.push(u.take(u.uint(width)).decode("utf-8", "surrogatepass"))


def _op_bytes(width):
    return lambda u: u.push(bytes(u.take(u.uint(width))))


def _op_mark(u):
    u.push_ref(_MARK)


def _op_pop(u):
    if not u.stack:
        raise _corrupt("pickle stack underflow")
    u.stack.pop()  # a value or a MARK, as pickle's POP


def _op_dup(u):
    if not u.stack or u.stack[-1] is _MARK:
        raise _corrupt("DUP needs a value on the stack")
    u.push_ref(u.stack[-1])


_OPCODES = {
    0x80: _op_proto,
    0x95: _op_frame,
    ord("."): lambda u: _STOP,
    ord("("): _op_mark,
    ord("0"): _op_pop,
    ord("1"): lambda u: u.pop_mark(),
    ord("2"): _op_dup,
    ord("}"): lambda u: u.push_made({}),
    ord("]"): lambda u: u.push_made([]),
    ord(")"): _op_tuple_n(0),
    0x8F: lambda u: u.push_made(set()),
    0x90: _op_additems,
    0x91: _op_from_mark(frozenset),
    ord("t"): _op_from_mark(tuple),
    0x85: _op_tuple_n(1),
    0x86: _op_tuple_n(2),
    0x87: _op_tuple_n(3),
    ord("l"): _op_from_mark(list),
    ord("d"): _op_dict,
    ord("a"): _op_append,
    ord("e"): _op_appends,
    ord("s"): _op_setitem,
    ord("u"): _op_setitems,
    ord("J"): lambda u: u.push(int.from_bytes(u.take(4), "little", signed=True)),
    ord("K"): lambda u: u.push(u.uint(1)),
    ord("M"): lambda u: u.push(u.uint(2)),
    0x8A: _op_long(1),
    0x8B: _op_long(4),
    ord("G"): lambda u: u.push(struct.unpack(">d", u.take(8))[0]),
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
    ord("g"): _op_get(_text_index),
    ord("q"): _op_put(lambda u: u.uint(1)),
    ord("r"): _op_put(lambda u: u.uint(4)),
    ord("p"): _op_put(_text_index),
    0x94: _op_put(lambda u: len(u.memo)),
}

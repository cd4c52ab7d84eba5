"""class Tensor: an array, its autograd state, and Python operator sugar.

Math methods forward to `ember.ops` (bound there, family by family); this file holds the
state, conversions, printing and the autograd-facing attributes.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import copy
import threading
import warnings
import weakref

import numpy

from ember import _backend
from ember._dtype import from_numpy_dtype, to_dtype
from ember._size import Size
from ember._storage import (
    TypedStorage,
    UntypedStorage,
    _address,
    _copied_memory,
    _rebuild_tensor,
    _storage_span,
)


def _grad_enabled():
    from ember.autograd.grad_mode import _state

    return _state.enabled


_new = object.__new__


# --- inference tensors: made in inference mode, they get a version counter of this class ---
class InferenceVersion(list):
    """The version counter of an inference tensor (one made inside `inference_mode()`, views
    included, as PyTorch's): outside inference mode it may not be changed in place, saved for
    backward, or made to require grad."""


INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `ember.no_grad()` instead of "
    "`ember.inference_mode()`."
)
INFERENCE_THREADS = [0]  # how many threads are inside inference_mode()
_marking = False  # INFERENCE_THREADS[0] > 0: only then does making a tensor ask the thread
_inference = threading.local()


def inference_on() -> bool:
    """True inside inference_mode() on this thread."""
    return _marking and getattr(_inference, "on", False)


def count_inference_thread(change: int) -> None:
    """A thread enters (+1) or leaves (-1) inference mode (called by autograd.inference_mode
    under its lock): while any thread is inside, new tensors ask whether they are made there."""
    global _marking
    INFERENCE_THREADS[0] += change
    _marking = INFERENCE_THREADS[0] > 0


def new_version():
    """A fresh version counter: an InferenceVersion inside inference_mode()."""
    return InferenceVersion([0]) if inference_on() else [0]


class _HookTable(list):
    """A leaf's hooks held in a dict the user assigned to `tensor._backward_hooks`: the engine
    reads it as a list of hooks, and sees later changes to the dict."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def __iter__(self):
        return iter(list(self.table.values()))

    def __len__(self):
        return len(self.table)

    def __contains__(self, hook):
        return any(h is hook for h in self.table.values())

    def append(self, hook):
        self.table[id(hook)] = hook

    def remove(self, hook):
        key = next(k for k, h in self.table.items() if h is hook)
        del self.table[key]


class Tensor:
    """Same as torch.Tensor: an n-dimensional array that can record its history for autograd.

    `Tensor(data)` builds a tensor of the default dtype from data; `Tensor(*sizes)` an
    uninitialized one of that shape (legacy spellings; prefer `ember.tensor` and `ember.empty`).
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "_grad",
        "_node",
        "_output_nr",
        "_vc",
        "_base",
        "_view_of",
        "_hooks",
        "_accum",
        "_retains_grad",
        "__weakref__",
    )
    __array_priority__ = 1000  # numpy scalars defer to Tensor's reflected operators

    def __init__(self, *args, requires_grad=False, dtype=None, device=None):
        np_dtype = to_dtype(dtype).np
        if not args:
            array = numpy.zeros((0,), dtype=np_dtype)
        elif len(args) == 1 and not isinstance(args[0], (int, tuple)):
            data = args[0]
            data = data._data if isinstance(data, Tensor) else data
            array = _backend.as_array(data).astype(np_dtype, copy=False)
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            array = numpy.zeros(tuple(shape), dtype=np_dtype)
        if device is not None:
            array = _backend.to_device(array, _backend.Device(device))
        self._init(array, requires_grad)

    def _init(self, array, requires_grad=False, grad_fn=None, output_nr=0):
        self._data = array
        self._requires_grad = requires_grad
        self._grad = None
        self._node = grad_fn
        self._output_nr = output_nr
        self._vc = new_version() if _marking else [0]
        self._base = self._view_of = None
        self._hooks = None
        self._accum = None
        self._retains_grad = False

    @classmethod
    def _make(cls, array, requires_grad=False, grad_fn=None, output_nr=0):
        """Wrap a backend array without copying (the fast constructor used by ops)."""
        t = _new(cls)
        t._data = array
        t._requires_grad = requires_grad
        t._grad = None
        t._node = grad_fn
        t._output_nr = output_nr
        t._vc = new_version() if _marking else [0]
        t._base = t._view_of = t._hooks = t._accum = None
        t._retains_grad = False
        return t

    # --- metadata ---
    @property
    def shape(self):
        """The tensor's shape, an ember.Size."""
        return Size(self._data.shape)

    def size(self, dim=None):
        """Same as torch.Tensor.size."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_normalize_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self):
        """The element type (an ember dtype)."""
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        """The device the data lives on."""
        return _backend.device_of(self._data)

    @property
    def is_cuda(self):
        """True for a tensor on a CUDA device."""
        return self.device.type == "cuda"

    @property
    def ndim(self):
        """Number of dimensions."""
        return self._data.ndim

    def dim(self):
        """Same as torch.Tensor.dim."""
        return self._data.ndim

    ndimension = dim

    def stride(self, dim=None):
        """Same as torch.Tensor.stride: steps between elements, in elements, per dim."""
        item = self._data.itemsize
        strides = tuple(s // item for s in self._data.strides)
        if dim is None:
            return strides
        return strides[_normalize_dim(dim, self._data.ndim, "stride")]

    def numel(self):
        """Number of elements."""
        return self._data.size

    nelement = numel

    def element_size(self):
        """Bytes per element."""
        return self._data.itemsize

    def is_floating_point(self):
        """True for float16/32/64 and bfloat16 tensors."""
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format=None):
        """True when the data is laid out in row-major order."""
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self):
        """The address of the first element."""
        return self._data.__array_interface__["data"][0] if self.device.type == "cpu" else 0

    # --- autograd state ---
    @property
    def requires_grad(self):
        """Whether gradients flow to this tensor (a view's also when its base requires grad,
        as PyTorch's)."""
        return self._requires_grad or (self._base is not None and self._base._requires_grad)

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    @requires_grad.deleter
    def requires_grad(self):
        raise RuntimeError("requires_grad cannot be deleted; set it to False instead")

    @property
    def grad_fn(self):
        """The Node that made this tensor (None for leaves). A view whose base (or another
        view of it) changed in place since is first re-made from its base, as PyTorch's."""
        view = self._view_of
        if view is not None and view[3] != self._vc[0]:
            from ember.ops._primitive import refresh_view

            refresh_view(self)
        return self._node

    @grad_fn.setter
    def grad_fn(self, node):
        self._node = node

    @property
    def _grad_fn(self):
        """Same as grad_fn (PyTorch's private spelling)."""
        return self.grad_fn

    @_grad_fn.deleter
    def _grad_fn(self):
        raise RuntimeError("Deletion of _grad_fn not allowed. Detach tensor instead!")

    @property
    def _backward_hooks(self):
        """This leaf's hooks (see register_hook) as a dict, None when there are none, as
        PyTorch's. A dict assigned here becomes the hook table itself: hooks added to it later
        run too. Otherwise the dict is a snapshot of the hooks registered so far."""
        hooks = self._hooks
        if hooks.__class__ is _HookTable:
            return hooks.table
        return collections.OrderedDict(enumerate(hooks)) if hooks else None

    @_backward_hooks.setter
    def _backward_hooks(self, hooks):
        if hooks is not None and not isinstance(hooks, collections.abc.MutableMapping):
            raise TypeError(f"_backward_hooks must be a dict or None, got {type(hooks).__name__}")
        self._hooks = None if hooks is None else _HookTable(hooks)

    @_backward_hooks.deleter
    def _backward_hooks(self):
        raise RuntimeError("Deletion of _backwards_hooks not allowed!")

    def _refuse_inplace_as_custom_output(self) -> None:
        """For autograd.Function: this output, if a view, may not be changed by in-place ops
        that record a graph (PyTorch's rule: the Function's backward would not see it)."""
        from ember.ops._primitive import refuse_inplace

        refuse_inplace(self)

    def _is_view(self) -> bool:
        """Same as torch.Tensor._is_view: True for a view of another tensor's memory."""
        return self._base is not None

    def requires_grad_(self, requires_grad=True):
        """Same as torch.Tensor.requires_grad_."""
        requires_grad = bool(requires_grad)
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if requires_grad and self._vc.__class__ is InferenceVersion and not inference_on():
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype})"
            )
        self._requires_grad = requires_grad
        return self

    def is_inference(self) -> bool:
        """Same as torch.Tensor.is_inference: made inside inference_mode()."""
        return self._vc.__class__ is InferenceVersion

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op."""
        return self.grad_fn is None

    @property
    def grad(self):
        """The accumulated gradient (None until a backward reaches this leaf)."""
        if self._node is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None, got {value!r}")
            if value is self:
                raise RuntimeError("can't assign Variable as its own grad")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {list(value.shape)} vs "
                    f"{list(self.shape)}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError("assigned grad has data of a different type")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None  # `del x.grad`, as PyTorch

    @property
    def _version(self):
        """How many in-place changes this storage has seen (shared with views)."""
        return self._vc[0]

    @property
    def data(self):
        """The same storage as a new tensor outside the graph (changes to it change this one)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self._requires_grad and not value.dtype.is_floating_point:
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                f"dtype (got {value.dtype})"
            )
        self._data = value._data

    @data.deleter
    def data(self):
        raise RuntimeError("Deleting tensor data is not allowed. Delete tensor instead!")

    def detach(self):
        """A tensor on the same storage, cut from the graph (shares the version counter)."""
        out = Tensor._make(self._data)
        out._vc = self._vc
        return out

    def detach_(self):
        """Cut this tensor from the graph, making it a leaf."""
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._node, self._requires_grad = None, False
        from ember.autograd import forward_ad

        forward_ad.set_tangent(self, None)  # it leaves forward mode too, as PyTorch
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward."""
        node = self.grad_fn
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if node is None or self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                if not _grad_enabled():  # a copy: the engine may hand this array on elsewhere
                    grad = Tensor._make(grad._data.copy())
                t._grad = grad if t._grad is None else t._grad + grad

        keep._retain_grad = True
        keep._retained = ref  # which tensor it fills: an in-place op moves it (move_retained_grad)
        node._add_tensor_hook(self._output_nr, keep)

    @property
    def retains_grad(self):
        """True after retain_grad() on a non-leaf tensor."""
        return self._retains_grad

    def register_hook(self, hook):
        """Call hook(grad) on each gradient computed for this tensor; it may return a new one."""
        node = self.grad_fn
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if node is not None:
            return node._add_tensor_hook(self._output_nr, hook)
        from ember.autograd.graph import _Handle

        if self._hooks is None:
            self._hooks = []
        return _Handle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Same as torch.Tensor.register_post_accumulate_grad_hook: `hook(tensor)` runs after
        backward has added into this leaf's .grad (e.g. to step an optimizer in backward)."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from ember.autograd.engine import add_post_accumulate_hook

        return add_post_accumulate_hook(self, hook)

    @property
    def output_nr(self) -> int:
        """Same as torch.Tensor.output_nr: which output of its grad_fn this tensor is."""
        return self._output_nr

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Same as torch.Tensor.backward: accumulate d(self)/d(leaf) into each leaf's .grad."""
        from ember.autograd.engine import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # --- conversion ---
    def numpy(self, *, force=False):
        """The data as a NumPy array, sharing memory (CPU tensors only; a tensor that requires
        grad only with grad mode off, as PyTorch)."""
        if not force and self.requires_grad and _grad_enabled():
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if self.device.type != "cpu":
            if not force:
                raise TypeError(
                    f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() "
                    "to copy the tensor to host memory first."
                )
            return _backend.to_host(self._data).copy()
        return self._data

    def __array__(self, dtype=None, copy=None):
        host = _backend.to_host(self._data)
        return host if dtype is None else host.astype(dtype, copy=False)

    def item(self):
        """The single value as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return _backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        """The data as (nested) Python lists of numbers."""
        return _backend.to_host(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous"
                f" (shape {list(self.shape)})"
            )
        return bool(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    # --- storage, pickling and copying ---
    def untyped_storage(self) -> UntypedStorage:
        """Same as torch.Tensor.untyped_storage: the memory block under this tensor (sizes in
        bytes). Tensors that share memory (views, `.data`, `detach()`, `copy.copy`) report the
        same `data_ptr()`. See `UntypedStorage` for what ember's storage is."""
        return UntypedStorage(self._data)

    def storage(self) -> TypedStorage:
        """Same as torch.Tensor.storage: the storage seen as elements of this tensor's dtype
        (sizes in elements). PyTorch deprecates it for `untyped_storage()`; ember does not warn."""
        return TypedStorage(self._data)

    def storage_offset(self) -> int:
        """Same as torch.Tensor.storage_offset: where this tensor's first element sits in its
        storage, in elements."""
        start, _ = _storage_span(self._data)
        return (_address(self._data) - start) // self._data.itemsize

    def __reduce_ex__(self, protocol):
        """Pickling, as PyTorch's: the values, dtype, device and requires_grad round-trip, and a
        subclass (nn.Parameter) comes back as its class with its attributes; the graph, .grad
        and hooks do not travel (a pickled non-leaf comes back a leaf), and each tensor gets
        its own memory. ember's checkpoint files never use pickle: `ember.save` writes
        safetensors and `ember.load` never unpickles."""
        state = getattr(self, "__dict__", None) or None  # subclasses' attributes
        host = _backend.to_host(self._data)
        return (_rebuild_tensor, (type(self), host, str(self.device), self._requires_grad, state))

    def __copy__(self):
        """copy.copy: a new tensor on the same storage (a change to either shows in the other),
        as in PyTorch. It keeps requires_grad, not the graph or .grad: a copy of a non-leaf is a
        leaf. Unlike PyTorch it shares the version counter too, so an in-place change through
        the copy makes a backward that saved the original raise instead of going wrong."""
        out = _new(type(self))
        out._init(self._data, self._requires_grad)
        out._vc = self._vc
        state = getattr(self, "__dict__", None)
        if state:
            out.__dict__.update(state)
        return out

    def __deepcopy__(self, memo):
        """copy.deepcopy, as PyTorch's: new memory with the same values, requires_grad and a
        deep copy of .grad and of a subclass's attributes. Tensors that shared memory before
        share the new memory (views stay views of each other) within one deepcopy call. Only
        graph leaves can be deep-copied, as in PyTorch."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may "
                "be because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001"
            )
        if id(self) in memo:
            return memo[id(self)]
        out = _new(type(self))
        out._init(_copied_memory(self._data, memo), self._requires_grad)
        out._vc = memo.setdefault(("ember._vc", id(self._vc)), [0])
        memo[id(self)] = out
        if self._grad is not None:
            out._grad = copy.deepcopy(self._grad, memo)
        state = getattr(self, "__dict__", None)
        if state:
            out.__dict__.update(copy.deepcopy(state, memo))
        return out

    # --- printing ---
    def __repr__(self):
        from ember._printing import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    # --- legacy 0-d indexing: loss.data[0] ---
    def _legacy_scalar_index(self, index):
        if index == 0:
            warnings.warn(
                "indexing a 0-dim tensor with [0] is deprecated (PyTorch < 0.4 style); use "
                "tensor.item() to get a Python number",
                DeprecationWarning,
                stacklevel=3,
            )
            return self.item()
        raise IndexError(
            "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
            "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
        )


# --- storage: the memory under a tensor ---
# --- a seam for tracing tools: every read and assignment of a tensor's array ---
_DATA_SLOT = Tensor.__dict__["_data"]  # the __slots__ descriptor: what `t._data` normally is
# raw_array(tensor): the array a tensor holds, never through an observer (AttributeError for
# a tensor still being made); set_raw_array(tensor, array) stores one, never through an observer.
# (The slot's own methods: as fast as `t._data`, and they stay right while an observer is in.)
raw_array = _DATA_SLOT.__get__
set_raw_array = _DATA_SLOT.__set__
_array_observer = None  # (read, write) while observe_arrays is active
_OBSERVER_LOCK = threading.Lock()


@contextlib.contextmanager
def observe_arrays(read, write):
    """While the block runs, route every `t._data` read and assignment through an observer.

    For tracing tools, which must see every array reached through a tensor (ember.compile
    records a step this way): `read(tensor, array)` gets the array a tensor holds whenever
    `_data` is read and returns the array the reader gets; `write(tensor, array)` gets each
    array assigned (also when a tensor is made: its slot is then still empty, so
    `raw_array(tensor)` raises AttributeError) and returns the array to store. The observer
    reads and stores arrays of its own with `raw_array` / `set_raw_array`.

    Cost: none while no observer is installed, since `Tensor._data` is then the plain slot.
    Installing swaps the class attribute `Tensor._data` for a property (this function is the
    only code that may), so inside the block every `_data` access, on every thread, is two
    Python calls instead of a slot read. `read` and `write` must hand back, unchanged, what
    they do not track (other threads' tensors), and keep no per-call state on shared objects.
    One observer at a time: a second raises RuntimeError.
    """
    global _array_observer

    def get(t):
        return read(t, raw_array(t))

    def put(t, array):
        set_raw_array(t, write(t, array))

    with _OBSERVER_LOCK:
        if _array_observer is not None:
            raise RuntimeError("an array observer is already installed (one at a time)")
        _array_observer = (read, write)
        Tensor._data = property(get, put, doc="A tensor's array, seen by observe_arrays.")
    try:
        yield
    finally:
        with _OBSERVER_LOCK:
            Tensor._data = _DATA_SLOT
            _array_observer = None


def _normalize_dim(dim, ndim, op):
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not lo <= dim <= hi:
        raise IndexError(
            f"{op}(): Dimension out of range (expected to be in range of [{lo}, {hi}], "
            f"but got {dim})"
        )
    return dim % ndim if ndim else 0


from ember import ops as _ops  # noqa: E402  (ops needs the Tensor class defined above)


def _reflected(fn):
    def method(self, other):
        return fn(other, self)

    return method


def _comparison(fn):
    def method(self, other):
        if not isinstance(other, (Tensor, int, float, bool)) and not hasattr(other, "dtype"):
            return NotImplemented
        return fn(self, other)

    return method


for _name, _op in [
    ("add", _ops.add),
    ("sub", _ops.sub),
    ("mul", _ops.mul),
    ("truediv", _ops.div),
    ("pow", _ops.pow),
    ("matmul", _ops.matmul),
    ("floordiv", lambda a, b: _ops.floor_divide(a, b)),
    ("mod", lambda a, b: _ops.remainder(a, b)),
    ("and", _ops.bitwise_and),
    ("or", _ops.bitwise_or),
    ("xor", _ops.bitwise_xor),
]:
    setattr(Tensor, f"__{_name}__", _op)
    setattr(Tensor, f"__r{_name}__", _reflected(_op))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Tensor, f"__{_name}__", _comparison(getattr(_ops, _name)))
Tensor.__hash__ = lambda self: id(self)


def _inplace_dunder(method):
    def dunder(self, other):
        return getattr(self, method)(other)

    dunder.__name__ = f"__i{method[:-1]}__"
    return dunder


for _name, _method in [
    ("add", "add_"),
    ("sub", "sub_"),
    ("mul", "mul_"),
    ("truediv", "div_"),
    ("pow", "pow_"),
    ("floordiv", "floor_divide_"),
    ("mod", "remainder_"),
    ("and", "bitwise_and_"),
    ("or", "bitwise_or_"),
]:
    setattr(Tensor, f"__i{_name}__", _inplace_dunder(_method))
Tensor.__neg__ = lambda self: _ops.neg(self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: _ops.abs(self)
Tensor.__invert__ = lambda self: _ops.bitwise_not(self)
Tensor.__getitem__ = lambda self, index: _ops.getitem(self, index)
Tensor.__setitem__ = lambda self, index, value: _ops.setitem(self, index, value)

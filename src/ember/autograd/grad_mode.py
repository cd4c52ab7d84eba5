"""Grad mode: whether ops record a graph. Thread-local, as in PyTorch."""

from __future__ import annotations

import functools
import inspect
import threading
import warnings


class _GradState(threading.local):
    enabled = True
    anomaly = False
    anomaly_check_nan = True
    inference = False
    multithreading = True


_state = _GradState()
# a forward-mode dual level is open (autograd.forward_ad): ops check it on every call, so it is
# a plain list read here, in a module that imports nothing of ember's
DUAL_LEVEL_OPEN = [False]


def is_grad_enabled() -> bool:
    """Same as torch.is_grad_enabled."""
    return _state.enabled


class _GradModeContext:
    """A context manager that is also a decorator; subclasses say which mode to enter.

    As a decorator it also works bare (`@ember.no_grad`), and on generator functions and
    coroutines it holds the mode only while their own code runs: between yields (and awaits)
    the caller's mode is back, as in PyTorch.
    """

    _mode = True

    def __new__(cls, *args, **kwargs):
        if cls._takes_function(args, kwargs):  # bare decorator: @no_grad on a function
            return cls()(args[0] if args else next(iter(kwargs.values())))
        return super().__new__(cls)

    @classmethod
    def _takes_function(cls, args, kwargs):
        return len(args) == 1 and not kwargs and callable(args[0])

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def clone(self):
        """A fresh context of the same kind and mode (each use needs its own saved state)."""
        return self.__class__(*self._args())

    def __call__(self, fn):
        if inspect.isclass(fn):
            warnings.warn(
                "Decorating classes is deprecated and will be disabled in future versions. You "
                "should only decorate functions or methods. To preserve the current behavior of "
                "class decoration, you can directly decorate the `__init__` method and nothing "
                "else.",
                FutureWarning,
                stacklevel=2,
            )
            cls = fn

            def fn(*args, **kwargs):  # constructing the class runs in the mode
                return cls(*args, **kwargs)

        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(self.clone, fn)
        if inspect.iscoroutinefunction(fn):
            return _wrap_coroutine(self.clone, fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper

    def _args(self):
        return ()


def _wrap_generator(make_context, fn):
    """A generator function whose body runs in the context, and its caller outside it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with make_context():
                request = gen.send(None)
            while True:
                try:
                    response = yield request
                except GeneratorExit:
                    with make_context():
                        gen.close()
                    raise
                except BaseException as error:
                    with make_context():
                        request = gen.throw(error)
                else:
                    with make_context():
                        request = gen.send(response)
        except StopIteration as stop:
            return stop.value

    return wrapper


class _Stepped:
    """Awaits a coroutine one step at a time, each step inside a fresh context."""

    def __init__(self, make_context, coro):
        self.make_context, self.coro = make_context, coro

    def __await__(self):
        send, error = None, None
        while True:
            with self.make_context():
                try:
                    yielded = self.coro.send(send) if error is None else self.coro.throw(error)
                except StopIteration as stop:
                    return stop.value
            try:
                send, error = (yield yielded), None
            except BaseException as raised:  # thrown in by the event loop: hand it on
                send, error = None, raised


def _wrap_coroutine(make_context, fn):
    """A coroutine function whose body runs in the context, and the event loop outside it."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        return await _Stepped(make_context, fn(*args, **kwargs))

    return wrapper


class no_grad(_GradModeContext):  # noqa: N801
    """Turn gradient recording off, as torch.no_grad: a context manager and a decorator.

    Inside it, ops record no graph: results have `requires_grad=False` and no `grad_fn`,
    even from inputs that require grad, and no memory is kept for a backward pass. Use it
    for evaluation and for updating parameters by hand. The mode is per thread; on
    generators and coroutines it holds only while their own code runs.

    Examples:
        >>> import ember
        >>> w = ember.ones(3, requires_grad=True)
        >>> with ember.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
        >>> (w * 2).requires_grad
        True
        >>> @ember.no_grad()
        ... def evaluate(x):
        ...     return (w * x).sum()
        >>> evaluate(ember.ones(3)).requires_grad
        False

        A hand-written gradient step on a leaf (in place, outside the graph):

        >>> (w ** 2).sum().backward()
        >>> with ember.no_grad():
        ...     w -= 0.1 * w.grad
        >>> w.tolist()
        [0.800000011920929, 0.800000011920929, 0.800000011920929]
    """

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Same as torch.enable_grad: record a graph again inside no_grad."""

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Same as torch.set_grad_enabled: takes effect at once, and also works as a context."""

    @classmethod
    def _takes_function(cls, args, kwargs):
        return False

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        # as a decorator, the mode switches per call, not when the decorator is made
        _state.enabled = self._prev
        return super().__call__(fn)

    def clone(self):
        return _Switch(self._mode)

    def _args(self):
        return (self._mode,)


class _Switch(_GradModeContext):
    """Enter a given mode, restore the previous one on exit (set_grad_enabled's decorator)."""

    def __init__(self, mode):
        self._mode = mode


class inference_mode(_GradModeContext):  # noqa: N801
    """Same as torch.inference_mode (ember records no graph inside it, as no_grad); also a
    bare decorator, `@inference_mode` or `inference_mode(mode=fn)`."""

    @classmethod
    def _takes_function(cls, args, kwargs):
        mode = args[0] if len(args) == 1 and not kwargs else kwargs.get("mode", True)
        return len(args) + len(kwargs) == 1 and callable(mode)

    def __init__(self, mode: bool = True):
        self._inference = bool(mode)
        self._mode = not mode

    def __enter__(self):
        from ember import _tensor  # the tensor module marks what is made meanwhile

        super().__enter__()
        self._prev_inference = _state.inference
        _state.inference = self._inference
        _set_inference_marking(_tensor, self._prev_inference, self._inference)

    def __exit__(self, *exc):
        from ember import _tensor

        _set_inference_marking(_tensor, _state.inference, self._prev_inference)
        _state.inference = self._prev_inference
        return super().__exit__(*exc)

    def _args(self):
        return (self._inference,)


_MARKING_LOCK = threading.Lock()


def _set_inference_marking(tensor_module, was, now):
    """Tell the tensor module whether this thread makes inference tensors now."""
    tensor_module._inference.on = now
    if was != now:
        with _MARKING_LOCK:
            tensor_module.count_inference_thread(1 if now else -1)


def is_inference_mode_enabled() -> bool:
    """Same as torch.is_inference_mode_enabled."""
    return _state.inference


class set_multithreading_enabled:  # noqa: N801
    """Same as torch.autograd.set_multithreading_enabled, as function and context. ember's
    backward always runs on the calling thread, so the setting is recorded and changes
    nothing else."""

    def __init__(self, mode: bool):
        self._prev = _state.multithreading
        _state.multithreading = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.multithreading = self._prev
        return False


def is_multithreading_enabled() -> bool:
    """Same as torch.autograd.is_multithreading_enabled."""
    return _state.multithreading


class _force_original_view_tracking(_GradModeContext):  # noqa: N801
    """PyTorch's torch.autograd._force_original_view_tracking: ember always replays views from
    their base as the original view op, so the setting changes nothing."""

    def __init__(self, mode: bool):
        self._mode = _state.enabled  # leaves grad mode as it is

    def _args(self):
        return (True,)

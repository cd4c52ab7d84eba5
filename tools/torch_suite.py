"""Run PyTorch's own autograd test files against ember (or torch) under a small stand-in harness.

The test files are not shipped and this tool downloads nothing: copy test/test_autograd.py and
test/autograd/test_functional.py from a PyTorch checkout (or GitHub's pytorch/pytorch) into a
scratch folder, keeping autograd/ (test_autograd.py imports autograd.test_functional; absent
siblings such as autograd.test_complex become stubs), then run each file once per library:

    python tools/torch_suite.py /tmp/yardstick/test_autograd.py --as torch
    python tools/torch_suite.py /tmp/yardstick/test_autograd.py --as ember \
        --baseline /tmp/yardstick/results-torch-test_autograd.tsv

A run appends a line per test (id, status, first line of its error) to --out (default
results-<as>-<stem>.tsv beside the file; a rerun skips tests already there, and records a test
the last run died in as a crash) and prints counts; with --baseline (the torch run's file) it
prints the yardstick: of the tests torch passes here, how many the other library passes.

The stand-in for torch.testing._internal, the same in both runs: assertEqual compares tensors,
numbers and nested sequences with dtype-based tolerances (dtypes must match unless
exact_dtype=False); assertExpected skips (no expect files); LoggingTensor is the plain tensor;
slowTest and scoped_load_inline skip; device-type tests are made for the CPU only; dynamo, MPS,
XPU and Windows markers do nothing; an AttributeError in tearDown is noted, not counted. Under
--as ember, `torch` is ember: torch.X is ember.X where that exists, else a stub whose use raises
MissingError("ember lacks torch.X"); names a file needs while it imports (decorator arguments
such as torch.cdouble) are stubbed on ember the same way.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import importlib
import importlib.abc
import importlib.util
import inspect
import io
import itertools
import pathlib
import random
import re
import signal
import sys
import types
import unittest
import warnings

T: types.ModuleType  # the library playing `torch` in this run
ALIASES = {"cdouble": "complex128", "cfloat": "complex64", "half": "float16", "double": "float64"}
PROBES = {"is_available": False, "device_count": 0, "patch": lambda fn: fn}  # import-time calls
TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float64": (1e-7, 1e-7)}
TOLERANCES.update(dict.fromkeys(("float32", "complex64"), (1.3e-6, 1e-5)))


class MissingError(BaseException):  # BaseException: no `assertRaises(Exception)` swallows it
    pass


class Missing:
    """A name the library lacks: attributes chain, any real use raises MissingError."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Missing(f"{self._name}.{attr}")

    def _fail(self, *args, **kwargs):
        raise MissingError(f"ember lacks {self._name}")

    def __call__(self, *args, **kwargs):
        leaf = self._name.rsplit(".", 1)[-1]
        return PROBES[leaf] if leaf in PROBES else self._fail()

    __mro_entries__ = __instancecheck__ = __subclasscheck__ = __iter__ = _fail

    def __str__(self):  # a test-name label, as PyTorch spells the dtype or layout
        leaf = self._name.rsplit(".", 1)[-1]
        return ALIASES.get(leaf, leaf)

    def __repr__(self):
        return f"Missing({self._name})"


class Proxy(types.ModuleType):
    """torch.X under --as ember: ember.X's names, and a Missing for any other name."""

    def __init__(self, name, real=None):
        super().__init__(name)
        self.__path__, self._real = [], real

    def __setattr__(self, attr, value):  # an imported submodule never hides the real name
        real = self.__dict__.get("_real")
        if attr.startswith("__") or real is None or not hasattr(real, attr):
            super().__setattr__(attr, value)

    def __getattr__(self, attr):
        if self._real is not None and hasattr(self._real, attr):
            return getattr(self._real, attr)
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self.__name__.startswith("torch.testing._internal"):  # unknown harness names
            return unittest.skip(attr) if attr.startswith("only") else not attr.isupper() and _noop
        return Missing(f"{self.__name__}.{attr}")


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports modules under `prefixes` as Proxies: of ember.X for torch.X under --as ember,
    empty ones for sibling test modules that no other finder found."""

    def __init__(self, prefixes, ember_map=False):
        self.prefixes, self.ember_map = prefixes, ember_map

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.prefixes:
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec):
        real = None
        if self.ember_map:
            with contextlib.suppress(ImportError):
                real = importlib.import_module("ember" + spec.name[len("torch") :])
        return Proxy(spec.name, real)

    def exec_module(self, module):
        pass


def _noop(*args, **kwargs):  # a marker used bare (@skipIfMPS) or with arguments (@skipIf(msg=))
    return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else (lambda fn: fn)


def _is_tensor(x):
    return isinstance(x, T.Tensor)


def _array(x):
    import numpy as np

    if not _is_tensor(x):
        return np.asarray(x)
    x = x.detach()
    if getattr(x, "layout", None) not in (None, getattr(T, "strided", None)):
        x = x.to_dense()
    for method in ("resolve_conj", "resolve_neg"):
        x = getattr(x, method)() if hasattr(x, method) else x
    return (x.float() if str(x.dtype).endswith("bfloat16") else x).cpu().numpy()


def _difference(x, y, rtol, atol, exact_dtype):
    """None when x and y are equal in assertEqual's sense, else why not."""
    import numpy as np

    if x is None or y is None:
        return None if x is y else f"{x!r} != {y!r}"
    if rtol is None:
        kinds = [str(v.dtype).rsplit(".", 1)[-1] for v in (x, y) if _is_tensor(v)]
        rtol, atol = max([TOLERANCES.get(k, (1e-7, 1e-7)) for k in kinds] or [(1e-7, 1e-7)])
    if _is_tensor(x) or _is_tensor(y):
        if _is_tensor(x) and _is_tensor(y):
            if exact_dtype and x.dtype != y.dtype:
                return f"dtype {x.dtype} != {y.dtype}"
            if tuple(x.shape) != tuple(y.shape):
                return f"shape {tuple(x.shape)} != {tuple(y.shape)}"
        a, b = _array(x), _array(y)
        if a.shape != b.shape and 1 not in (a.size, b.size):
            return f"shape {a.shape} != {b.shape}"
        if np.allclose(a, b, rtol=rtol, atol=atol or 0.0, equal_nan=True):
            return None
        return f"values differ (largest |diff| {np.nanmax(np.abs(a - b)) if a.size else 0})"
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return f"lengths {len(x)} != {len(y)}"
        whys = (_difference(a, b, rtol, atol, exact_dtype) for a, b in zip(x, y))
        return next((f"[{i}] {why}" for i, why in enumerate(whys) if why), None)
    if isinstance(x, dict) and isinstance(y, dict):
        return _difference(sorted(x.items()), sorted(y.items()), rtol, atol, exact_dtype)
    close, numbers = False, (int, float, complex)
    if isinstance(x, numbers) and isinstance(y, numbers) and {type(x), type(y)} - {int, bool}:
        close = x != x and y != y or abs(x - y) <= (atol or 0.0) + rtol * abs(y)  # nan == nan
    return None if x == y or close else f"{x!r} != {y!r}"


class TestCase(unittest.TestCase):
    def setUp(self):
        T.manual_seed(0)
        random.seed(0)

    def _callTearDown(self):  # a tearDown reaching for a missing private API is only noted
        try:
            self.tearDown()
        except (AttributeError, MissingError) as e:
            self._teardown_note = f"{type(e).__name__}: {e}".splitlines()[0]

    def assertEqual(self, x, y, msg=None, *, atol=None, rtol=None, exact_dtype=True, **kw):
        why = _difference(x, y, rtol, atol, exact_dtype)
        if why:
            self.fail(f"{why}{' : ' + str(msg) if msg else ''}")

    def assertNotEqual(self, x, y, msg=None, *, atol=None, rtol=None, **kw):
        if _difference(x, y, rtol, atol, True) is None:
            self.fail(msg or f"{x!r} == {y!r}")

    def assertExpected(self, *args, **kwargs):
        self.skipTest("assertExpected needs PyTorch's expect files")

    def assertExpectedInline(self, actual, expect, skip=0):
        self.assertEqual(actual, expect)

    def assertNotWarn(self, fn, msg=""):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
        self.assertEqual(len(caught), 0, msg or [str(w.message) for w in caught])

    def assertWarnsOnceRegex(self, category, regex):
        return self.assertWarnsRegex(category, regex)


class subtest:
    def __init__(self, arg_values, name=None, decorators=None):
        self.arg_values, self.name, self.decorators = arg_values, name, decorators or []


def _clean(value):
    return re.sub(r"\W+", "_", str(value).replace("torch.", "").replace("ember.", "")).strip("_")


def _mark(attr, value):
    def mark(fn):
        setattr(fn, attr, value(fn) if callable(value) else value)
        return fn

    return mark


def parametrize(arg_str, arg_values, name_fn=None):  # the outermost decorator comes first
    entry = ([n.strip() for n in arg_str.split(",")], list(arg_values))
    return _mark("_params", lambda fn: [entry, *getattr(fn, "_params", [])])


def instantiate_parametrized_tests(cls):
    for name, fn in list(vars(cls).items()):
        if not name.startswith("test") or not getattr(fn, "_params", None):
            continue
        delattr(cls, name)
        for combo in itertools.product(*(values for _, values in fn._params)):
            kwargs, labels, decorators = {}, [], []
            for (names, _), value in zip(fn._params, combo):
                sub = value if isinstance(value, subtest) else subtest(value)
                args = sub.arg_values if len(names) > 1 else (sub.arg_values,)
                kwargs.update(zip(names, args))
                prefix = f"{names[0]}_" if len(names) == 1 else ""
                labels.append(sub.name or prefix + "_".join(_clean(a) for a in args))
                decorators += sub.decorators
            test = functools.wraps(fn)(lambda self, _f=fn, _k=kwargs: _f(self, **_k))
            for decorate in decorators:
                test = decorate(test)
            setattr(cls, f"{name}_{'_'.join(labels)}", test)
    return cls


def instantiate_device_type_tests(cls, scope, except_for=None, only_for=None, **kw):
    scope.pop(cls.__name__, None)
    listed = [(v,) if isinstance(v, str) else tuple(v or ()) for v in (except_for, only_for)]
    if "cpu" in listed[0] or (only_for and "cpu" not in listed[1]):
        return
    new = type(cls.__name__ + "CPU", (cls,), {"device_type": "cpu", "__module__": cls.__module__})
    for name, fn in list(vars(cls).items()):
        if not (name.startswith("test") and callable(fn)):
            continue
        setattr(new, name, None)  # hides the device-generic test
        for dt in getattr(fn, "_dtypes", None) or [None]:

            def test(self, _f=fn, _dt=dt, **kwargs):
                need = getattr(_f, "_min_devices", None)
                if need and need > 1:
                    self.skipTest("needs more than one device")
                arity = len(inspect.signature(_f).parameters)
                return _f(
                    self, *(["cpu"] if need else "cpu", _dt)[: arity - 1 - len(kwargs)], **kwargs
                )

            suffix = "_cpu" + (f"_{_clean(dt)}" if dt is not None else "")
            setattr(new, name + suffix, functools.wraps(fn)(test))
    scope[new.__name__] = instantiate_parametrized_tests(new)


@contextlib.contextmanager
def disable_gc():
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def set_warn_always_context(flag):
    setter = getattr(T, "set_warn_always", None)  # absent from ember: nothing to set
    old = setter and T.is_warn_always_enabled()
    setter and setter(flag)
    try:
        yield
    finally:
        setter and setter(old)


def _harness():
    """torch.testing._internal.<module>: the names this stand-in gives it."""
    checks = {"check_batched_grad": True, "fast_mode": True}  # PyTorch's harness defaults
    return {
        "common_utils": dict(
            TestCase=TestCase,
            run_tests=_noop,
            parametrize=parametrize,
            subtest=subtest,
            instantiate_parametrized_tests=instantiate_parametrized_tests,
            gradcheck=lambda fn, inputs, **kw: T.autograd.gradcheck(fn, inputs, **{**checks, **kw}),
            gradgradcheck=lambda fn, inputs, grad_outputs=None, **kw: T.autograd.gradgradcheck(
                fn, inputs, grad_outputs, **{**checks, **kw}
            ),
            disable_gc=disable_gc,
            set_warn_always_context=set_warn_always_context,
            slowTest=unittest.skip("slow test"),
            scoped_load_inline=unittest.skip("needs a C++ extension build"),
            xfailIf=lambda cond: unittest.expectedFailure if cond else (lambda fn: fn),
            HardwareClassification=types.SimpleNamespace(GENERIC=0, ACCELERATOR=1),
        ),
        "common_device_type": dict(
            instantiate_device_type_tests=instantiate_device_type_tests,
            dtypes=lambda *dts: _mark("_dtypes", list(dts)),
            deviceCountAtLeast=lambda n: _mark("_min_devices", n),
            onlyCPU=_noop,
            onlyCUDA=unittest.skip("CUDA only"),
        ),
        "common_dtype": dict(floating_types_and=lambda *more: (T.float32, T.float64, *more)),
        "common_methods_invocations": dict(  # a random mask, not all False
            mask_not_all_zeros=lambda shape: next(
                m for m in iter(lambda: T.randn(*shape).gt(0), None) if m.any()
            )
        ),
        "logging_tensor": dict(
            LoggingTensor=lambda t, requires_grad=False: (
                t.requires_grad_(requires_grad) if requires_grad else t
            )
        ),
        "common_cuda": {},
    }


def _install(lib, path):
    global T
    T = importlib.import_module(lib)
    modules = {"torch.testing._internal": Proxy("torch.testing._internal")}
    for short, names in _harness().items():
        name = f"torch.testing._internal.{short}"
        modules[name] = Proxy(name)
        modules[name].__dict__.update(names)
    if lib == "ember":
        sys.modules["torch"] = T
        for name, module in list(sys.modules.items()):  # so no import rebinds ember's own names
            if name.startswith("ember."):
                sys.modules.setdefault("torch" + name[5:], Proxy("torch" + name[5:], module))
        sys.meta_path.insert(0, StubFinder({"torch"}, ember_map=True))
        modules["torch.testing"] = Proxy("torch.testing")  # make_tensor: uniform in [-9, 9)
        modules["torch.testing"].make_tensor = lambda *shape, dtype, requires_grad=False, **kw: (
            T.rand(*shape, dtype=dtype) * 18 - 9
        ).requires_grad_(requires_grad)
    sys.modules.update(modules)
    sys.meta_path.append(StubFinder({p.name for p in path.parent.iterdir() if p.is_dir()}))
    sys.path.insert(0, str(path.parent))


def _first_line(traceback_text):  # the exception's own first line
    lines = traceback_text.rstrip().splitlines()
    last = max((i for i, line in enumerate(lines) if line.startswith("  File ")), default=-1)
    rest = [line for line in lines[last + 1 :] if not line.startswith("    ")]
    return (rest[0] if rest else lines[-1]).replace("\t", " ")[:300]


def _outcome(result):
    for status, entries in (("error", result.errors), ("fail", result.failures)):
        if entries:
            return status, _first_line(entries[0][1])
    if result.expectedFailures:
        return "xfail", _first_line(result.expectedFailures[0][1])
    if result.unexpectedSuccesses:
        return "fail", "unexpected success"
    return ("skip", str(result.skipped[0][1])[:300]) if result.skipped else ("pass", "")


def _run(test, seconds):
    result, dtype = unittest.TestResult(), T.get_default_dtype()

    def expire(*_):
        raise TimeoutError(f"ran over {seconds} s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            test.run(result)
    finally:
        signal.alarm(0)
        T.set_grad_enabled(True)
        T.set_default_dtype(dtype)
    status, text = _outcome(result)
    note = getattr(test, "_teardown_note", None)
    return status, f"{text} [tearDown: {note}]" if note else text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("test_file", type=pathlib.Path)
    ap.add_argument("--as", dest="lib", choices=["ember", "torch"], default="ember")
    ap.add_argument("--out", type=pathlib.Path, help="per-test results (tab-separated)")
    ap.add_argument("--baseline", type=pathlib.Path, help="the torch run's results file")
    ap.add_argument("-k", dest="pattern", default="", help="only test ids containing this")
    ap.add_argument("--timeout", type=int, default=20, help="seconds per test")
    args = ap.parse_args()
    path = args.test_file.resolve()
    out = args.out or path.parent / f"results-{args.lib}-{path.stem}.tsv"
    _install(args.lib, path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    while True:  # names the file needs while it imports (decorator arguments) are stubbed
        module = sys.modules[path.stem] = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            break
        except AttributeError as e:
            if e.obj is not T or args.lib != "ember":
                raise
            setattr(T, e.name, Missing(f"torch.{e.name}"))
    classes = [c for c in vars(module).values() if isinstance(c, type)]
    tests = [
        (f"{c.__name__}.{name}", c(name))
        for c in classes
        if issubclass(c, unittest.TestCase) and c.__module__ == module.__name__
        for name in unittest.defaultTestLoader.getTestCaseNames(c)
    ]
    done = {line.split("\t")[0] for line in out.read_text().splitlines()} if out.exists() else set()
    marker = out.with_suffix(".current")
    with out.open("a") as sink:
        if marker.exists() and marker.read_text() not in done:
            sink.write(f"{marker.read_text()}\tcrash\tthe process died in this test\n")
            done.add(marker.read_text())
        for test_id, test in tests:
            if args.pattern in test_id and test_id not in done:
                marker.write_text(test_id)
                sink.write("\t".join((test_id, *_run(test, args.timeout))) + "\n")
                sink.flush()
    marker.unlink(missing_ok=True)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    summary = ", ".join(
        f"{n} {s}" for s, n in collections.Counter(r[1] for r in rows).most_common()
    )
    print(f"{args.lib} on {path.name}: {len(rows)} tests: {summary} ({out})")
    if args.baseline:
        passed = lambda lines: {r[0] for r in lines if r[1] in ("pass", "xfail")}  # noqa: E731
        base = passed(line.split("\t") for line in args.baseline.read_text().splitlines())
        mine = passed(rows)
        print(
            f"yardstick: torch passes {len(base)}; {args.lib} passes {len(base & mine)} of those"
            f" ({len(base & mine) / max(len(base), 1):.0%}); {len(mine - base)} pass only here"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

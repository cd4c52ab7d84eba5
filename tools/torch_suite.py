"""Run PyTorch's own test files (test_autograd.py, autograd/test_functional.py) against ember.

The test files are not shipped and this tool downloads nothing. Copy them from a PyTorch source
checkout (or GitHub's pytorch/pytorch) into a scratch folder, keeping test_functional.py under
autograd/ because test_autograd.py imports it as autograd.test_functional:

    /tmp/yardstick/test_autograd.py          <- pytorch/test/test_autograd.py
    /tmp/yardstick/autograd/test_functional.py  <- pytorch/test/autograd/test_functional.py

    python tools/torch_suite.py /tmp/yardstick/test_autograd.py --as torch
    python tools/torch_suite.py /tmp/yardstick/test_autograd.py --as ember \
        --baseline /tmp/yardstick/results-torch-test_autograd.tsv

Each run appends one line per test (id, status, first line of its error) to --out (default:
results-<as>-<stem>.tsv next to the test file; a rerun skips tests already there and records as
a crash a test the previous run died in), prints the counts and, given --baseline (the torch
run's file), the yardstick: of the tests torch passes under this harness, how many ember passes.

PyTorch's private test harness (torch.testing._internal) is replaced, in both runs, by a small
stand-in written here: assertEqual compares tensors, numbers and nested sequences with dtype-based
tolerances (dtypes must match unless exact_dtype=False); assertExpected skips (no expect files);
LoggingTensor is the plain tensor; slowTest and scoped_load_inline skip; device-type tests are made
for the CPU only; dynamo/MPS/XPU/Windows markers do nothing; an AttributeError in tearDown is noted,
not counted. Under --as ember, `torch` is ember: torch.X is ember.X where that exists, otherwise a
stub whose use raises MissingError("ember lacks torch.X"); names the file needs while it is being
imported (decorator arguments such as torch.cdouble) are stubbed on ember the same way.
"""

from __future__ import annotations

import argparse
import ast
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
PROBES = {
    "is_available": lambda *a, **k: False,
    "device_count": lambda *a, **k: 0,
    "patch": lambda *a, **k: lambda fn: fn,
}  # evaluated while a test file imports


class MissingError(BaseException):  # BaseException: no `assertRaises(Exception)` swallows it
    pass


class Timeout(BaseException):
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
        probe = PROBES.get(self._name.rsplit(".", 1)[-1])
        return probe(*args, **kwargs) if probe else self._fail()

    __mro_entries__ = __instancecheck__ = __subclasscheck__ = __iter__ = _fail

    def __str__(self):
        leaf = self._name.rsplit(".", 1)[-1]
        return ALIASES.get(leaf, leaf)


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
        return Missing(f"{self.__name__}.{attr}")


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `torch.X` as a Proxy of ember.X (when `prefixes` is {'torch'}), or any module
    under `prefixes` that no other finder found (a sibling test file absent here) as a stub."""

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


def _skip(reason):
    return lambda fn: unittest.skip(reason)(fn)


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


def _tolerance(*values):
    table = {
        "float16": (1e-3, 1e-5),
        "bfloat16": (1.6e-2, 1e-5),
        "float32": (1.3e-6, 1e-5),
        "complex64": (1.3e-6, 1e-5),
    }
    tols = [
        table.get(str(v.dtype).rsplit(".", 1)[-1], (1e-7, 1e-7)) for v in values if _is_tensor(v)
    ]
    return max(tols) if tols else (1e-7, 1e-7)


def _difference(x, y, rtol, atol, exact_dtype):
    """None when x and y are equal in assertEqual's sense, else why not."""
    import numpy as np

    if _is_tensor(x) or _is_tensor(y):
        if _is_tensor(x) and _is_tensor(y):
            if exact_dtype and x.dtype != y.dtype:
                return f"dtype {x.dtype} != {y.dtype}"
            if tuple(x.shape) != tuple(y.shape):
                return f"shape {tuple(x.shape)} != {tuple(y.shape)}"
        a, b = _array(x), _array(y)
        if a.shape != b.shape and 1 not in (a.size, b.size):
            return f"shape {a.shape} != {b.shape}"
        rt, at = _tolerance(x, y) if rtol is None else (rtol, atol or 0.0)
        if np.allclose(a, b, rtol=rt, atol=at, equal_nan=True):
            return None
        return f"values differ (largest |diff| {np.nanmax(np.abs(a - b)) if a.size else 0})"
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return f"lengths {len(x)} != {len(y)}"
        for i, (a, b) in enumerate(zip(x, y)):
            why = _difference(a, b, rtol, atol, exact_dtype)
            if why:
                return f"[{i}] {why}"
        return None
    if isinstance(x, dict) and isinstance(y, dict):
        return _difference(sorted(x.items()), sorted(y.items()), rtol, atol, exact_dtype)
    numbers = (int, float, complex)
    if isinstance(x, numbers) and isinstance(y, numbers) and {type(x), type(y)} - {int, bool}:
        rt, at = (1e-7, 1e-7) if rtol is None else (rtol, atol or 0.0)
        both_nan = x != x and y != y
        return None if x == y or both_nan or abs(x - y) <= at + rt * abs(y) else f"{x!r} != {y!r}"
    return None if x == y else f"{x!r} != {y!r}"


class TestCase(unittest.TestCase):
    def setUp(self):
        T.manual_seed(0)
        random.seed(0)

    def _callTearDown(self):  # a tearDown reaching for a missing private API is only noted
        try:
            self.tearDown()
        except (AttributeError, MissingError) as e:
            self._teardown_note = f"{type(e).__name__}: {e}"

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


class subtest:  # noqa: N801 (PyTorch's name)
    def __init__(self, arg_values, name=None, decorators=None):
        self.arg_values, self.name, self.decorators = arg_values, name, decorators or []


def _clean(value):
    return re.sub(r"\W+", "_", str(value).replace("torch.", "").replace("ember.", "")).strip("_")


def parametrize(arg_str, arg_values, name_fn=None):
    def mark(fn):
        fn.__dict__.setdefault("_params", []).insert(0, (arg_str.split(","), list(arg_values)))
        return fn

    return mark


def instantiate_parametrized_tests(cls):
    for name, fn in list(vars(cls).items()):
        params = getattr(fn, "_params", None)
        if not name.startswith("test") or not params:
            continue
        delattr(cls, name)
        for combo in itertools.product(*(values for _, values in params)):
            kwargs, labels, decorators = {}, [], []
            for (names, _), value in zip(params, combo):
                sub = value if isinstance(value, subtest) else subtest(value)
                args = sub.arg_values if len(names) > 1 else (sub.arg_values,)
                kwargs.update(zip((n.strip() for n in names), args))
                solo = len(names) == 1 and not sub.name
                labels.append(
                    sub.name
                    or f"{names[0].strip() + '_' if solo else ''}"
                    + "_".join(_clean(a) for a in args)
                )
                decorators += sub.decorators
            test = functools.wraps(fn)(lambda self, _f=fn, _k=kwargs: _f(self, **_k))
            for decorate in decorators:
                test = decorate(test)
            setattr(cls, f"{name}_{'_'.join(labels)}", test)
    return cls


def dtypes(*types_):
    def mark(fn):
        fn._dtypes = list(types_)
        return fn

    return mark


def deviceCountAtLeast(n):  # noqa: N802 (PyTorch's name)
    def mark(fn):
        fn._min_devices = n
        return fn

    return mark


def _arity(fn):
    return len(inspect.signature(fn).parameters)


def instantiate_device_type_tests(cls, scope, except_for=None, only_for=None, **kw):
    scope.pop(cls.__name__, None)

    def as_tuple(v):
        return (v,) if isinstance(v, str) else tuple(v or ())

    if "cpu" in as_tuple(except_for) or (only_for and "cpu" not in as_tuple(only_for)):
        return
    new = type(cls.__name__ + "CPU", (cls,), {"device_type": "cpu", "__module__": cls.__module__})
    for name, fn in list(vars(cls).items()):
        if not (name.startswith("test") and callable(fn)):
            continue
        setattr(new, name, None)
        for dt in getattr(fn, "_dtypes", None) or [None]:

            def test(self, _f=fn, _dt=dt, **kwargs):
                need = getattr(_f, "_min_devices", None)
                if need and need > 1:
                    self.skipTest("needs more than one device")
                extra = (["cpu"] if need else "cpu", _dt)[: _arity(_f) - 1 - len(kwargs)]
                return _f(self, *extra, **kwargs)

            suffix = "_cpu" + (f"_{_clean(dt)}" if dt is not None else "")
            setattr(new, name + suffix, functools.wraps(fn)(test))
    scope[new.__name__] = instantiate_parametrized_tests(new)


def _standin_modules():
    """torch.testing._internal's stand-in (and torch.testing itself when ember plays torch)."""

    @contextlib.contextmanager
    def disable_gc():
        gc.disable()
        try:
            yield
        finally:
            gc.enable()

    @contextlib.contextmanager
    def set_warn_always_context(flag):
        setter = getattr(T, "set_warn_always", None)
        old = T.is_warn_always_enabled() if setter else None
        setter and setter(flag)
        try:
            yield
        finally:
            setter and setter(old)

    def gradcheck(fn, inputs, **kwargs):  # PyTorch's harness defaults
        kwargs = {"check_batched_grad": True, "fast_mode": True, **kwargs}
        return T.autograd.gradcheck(fn, inputs, **kwargs)

    def gradgradcheck(fn, inputs, grad_outputs=None, **kwargs):
        kwargs = {"check_batched_grad": True, "fast_mode": True, **kwargs}
        return T.autograd.gradgradcheck(fn, inputs, grad_outputs, **kwargs)

    def mask_not_all_zeros(shape):
        while True:
            mask = T.randn(*shape).gt(0)
            if mask.any():
                return mask

    def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad=False, **kw):
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        t = T.rand(shape, dtype=dtype) * 18 - 9
        return t.requires_grad_(requires_grad)

    def logging_tensor(t, requires_grad=False):
        return t.requires_grad_(requires_grad) if requires_grad else t

    class Harness(types.ModuleType):  # unknown markers and flags: skip*/xfail* no-ops, flags off
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            if name.startswith("only"):
                return _skip(f"{name}: not the CPU")
            return False if name.isupper() else _noop

    floats = lambda *extra: (T.float32, T.float64, *extra)  # noqa: E731
    spec = {
        "common_utils": dict(
            TestCase=TestCase,
            run_tests=lambda *a, **k: None,
            parametrize=parametrize,
            subtest=subtest,
            instantiate_parametrized_tests=instantiate_parametrized_tests,
            gradcheck=gradcheck,
            gradgradcheck=gradgradcheck,
            disable_gc=disable_gc,
            set_warn_always_context=set_warn_always_context,
            slowTest=_skip("slow test"),
            scoped_load_inline=_skip("needs a C++ extension build"),
            xfailIf=lambda cond: unittest.expectedFailure if cond else (lambda fn: fn),
            HardwareClassification=types.SimpleNamespace(GENERIC=0, ACCELERATOR=1),
            IS_LINUX=sys.platform.startswith("linux"),
        ),
        "common_device_type": dict(
            instantiate_device_type_tests=instantiate_device_type_tests,
            dtypes=dtypes,
            deviceCountAtLeast=deviceCountAtLeast,
            onlyCPU=_noop,
            onlyCUDA=_skip("CUDA only"),
        ),
        "common_dtype": dict(floating_types_and=floats),
        "common_cuda": dict(TEST_CUDA=False),
        "common_methods_invocations": dict(mask_not_all_zeros=mask_not_all_zeros),
        "logging_tensor": dict(LoggingTensor=logging_tensor),
    }
    modules = {"torch.testing._internal": Harness("torch.testing._internal")}
    for short, names in spec.items():
        module = Harness(f"torch.testing._internal.{short}")
        module.__dict__.update(names)
        modules[module.__name__] = module
    if T.__name__ != "torch":
        modules["torch.testing"] = Proxy("torch.testing")
        modules["torch.testing"].make_tensor = make_tensor
    return modules


def _install(lib, path):
    global T
    T = importlib.import_module(lib)
    if lib == "ember":
        sys.modules["torch"] = T
        for name, module in list(sys.modules.items()):  # so no import rebinds ember's own names
            if name.startswith("ember."):
                sys.modules.setdefault("torch" + name[5:], Proxy("torch" + name[5:], module))
        sys.meta_path.insert(0, StubFinder({"torch"}, ember_map=True))
        tree = ast.parse(path.read_text())
        for name in sorted(_import_time_names(tree.body)):
            if not hasattr(T, name):
                setattr(T, name, Missing(f"torch.{name}"))
    sys.modules.update(_standin_modules())
    siblings = {p.name for p in path.parent.iterdir() if p.is_dir()}
    sys.meta_path.append(StubFinder(siblings))
    sys.path.insert(0, str(path.parent))


def _import_time_names(body):
    """`torch.X` names a module evaluates while it is being imported (not inside functions)."""
    names = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts = [*node.decorator_list, *node.args.defaults]
        elif isinstance(node, ast.ClassDef):
            parts = [*node.decorator_list, *node.bases]
            names |= _import_time_names(node.body)
        else:
            parts = [node]
        for part in parts:
            for sub in ast.walk(part):
                if isinstance(sub, ast.Attribute) and getattr(sub.value, "id", "") == "torch":
                    names.add(sub.attr)
    return names


class Result(unittest.TestResult):
    outcome = ("pass", "")

    def _set(self, status, err=None):
        if self.outcome[0] == "pass":
            text = str(err[1]).strip().splitlines() if err else []
            first = f"{err[0].__name__}: {text[0] if text else ''}" if err else ""
            self.outcome = (status, first.replace("\t", " ")[:300])

    def addError(self, test, err):
        self._set("error", err)

    def addFailure(self, test, err):
        self._set("fail", err)

    def addSkip(self, test, reason):
        self.outcome = ("skip", str(reason)[:300])

    def addExpectedFailure(self, test, err):
        self._set("xfail", err)

    def addUnexpectedSuccess(self, test):
        self.outcome = ("fail", "unexpected success")

    def addSubTest(self, test, sub, err):
        if err:
            self._set("fail" if issubclass(err[0], test.failureException) else "error", err)


def _run(test, seconds):
    result, dtype = Result(), T.get_default_dtype()

    def expire(*_):
        raise Timeout(f"ran over {seconds} s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            test.run(result)
    finally:
        signal.alarm(0)
        T.set_grad_enabled(True)
        T.set_default_dtype(dtype)
    status, text = result.outcome
    note = getattr(test, "_teardown_note", None)
    return status, (f"{text} [tearDown: {note}]" if note else text).strip()


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
    module = sys.modules[path.stem] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [
        (f"{cls.__name__}.{name}", cls(name))
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, unittest.TestCase)
        and cls.__module__ == module.__name__
        for name in unittest.defaultTestLoader.getTestCaseNames(cls)
    ]
    done = {ln.split("\t")[0] for ln in out.read_text().splitlines()} if out.exists() else set()
    marker = out.with_suffix(".current")
    with out.open("a") as sink:
        if marker.exists() and marker.read_text() not in done:
            sink.write(f"{marker.read_text()}\tcrash\tthe process died in this test\n")
            done.add(marker.read_text())
        for test_id, test in tests:
            if args.pattern in test_id and test_id not in done:
                marker.write_text(test_id)
                status, text = _run(test, args.timeout)
                sink.write(f"{test_id}\t{status}\t{text}\n")
                sink.flush()
    marker.unlink(missing_ok=True)
    rows = [ln.split("\t") for ln in out.read_text().splitlines()]
    counts = {}
    for row in rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    print(
        f"{args.lib} on {path.name}: {len(rows)} tests:",
        ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1])),
        f"({out})",
    )
    if args.baseline:
        ok = {"pass", "xfail"}
        base = {
            r[0]
            for r in (ln.split("\t") for ln in args.baseline.read_text().splitlines())
            if r[1] in ok
        }
        mine = {r[0] for r in rows if r[1] in ok}
        share = len(base & mine) / max(len(base), 1)
        print(
            f"yardstick: torch passes {len(base)}; {args.lib} passes {len(base & mine)} of "
            f"those ({share:.0%}); {len(mine - base)} more pass only under {args.lib}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

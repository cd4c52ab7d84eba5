"""The documented seams ember.compile records through, and that compile patches none of
ember's own names: engine.observe_nodes, _random.intercept_draws, _tensor.observe_arrays."""

from __future__ import annotations

import ast
import pathlib
import sys
import threading

import numpy as np
import pytest

import ember
from ember import _random, _tensor
from ember._tensor import Tensor, observe_arrays, raw_array, set_raw_array
from ember.autograd import engine
from ember.autograd.graph import AccumulateGrad

_SLOT = Tensor.__dict__["_data"]
COMPILE_DIR = pathlib.Path(ember.__file__).parent / "_compile"


# --- engine.observe_nodes ---
def test_observe_nodes_sees_each_backward_node_but_not_accumulate_grad():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    with engine.observe_nodes(seen.append):
        y = (x * 2.0).exp().sum()
        y.backward()
    names = [n.name() for n in seen]
    assert names == ["SumBackward0", "ExpBackward0", "MulBackward0"]
    assert not any(isinstance(n, AccumulateGrad) for n in seen)
    assert engine._node_observers == ()
    seen.clear()
    (x * 2.0).sum().backward()  # outside the block: nothing reported
    assert seen == []


def test_observe_nodes_several_observers_in_order_and_removed_on_error():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    with pytest.raises(ValueError):
        with engine.observe_nodes(lambda n: calls.append("a")):
            with engine.observe_nodes(lambda n: calls.append("b")):
                assert len(engine._node_observers) == 2
                (x * x).sum().backward()
                raise ValueError
    assert calls == ["a", "b", "a", "b"]
    assert engine._node_observers == ()


def test_observe_nodes_skips_nodes_autograd_grad_does_not_need():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor([3.0, 4.0], requires_grad=True)
    h = a * 2.0
    out = (h + b.exp()).sum()
    seen = []
    with engine.observe_nodes(seen.append):
        (g,) = ember.autograd.grad(out, b)
    assert [n.name() for n in seen] == ["SumBackward0", "AddBackward0", "ExpBackward0"]
    np.testing.assert_allclose(g.numpy(), np.exp([3.0, 4.0]))


# --- _random.intercept_draws ---
class _Counting:
    """A hook's result: counts draws, draws from the generator's NumPy generator."""

    def __init__(self, generator, log):
        self.generator, self.log = generator, log

    def __getattr__(self, name):
        self.log.append((self.generator, name))
        return getattr(self.generator._rng, name)


def test_intercept_draws_routes_rng_through_the_hook():
    g = ember.Generator().manual_seed(3)
    log = []
    with _random.intercept_draws(lambda gen: _Counting(gen, log)):
        a = ember.rand(4, generator=g)
        b = ember.randn(2)
        assert isinstance(_random.rng(), _Counting)
    assert log[0] == (g, "random")
    assert log[1][0] is _random.default_generator
    assert _random.rng(g) is g._rng  # out of the block: the NumPy generator itself
    expected = ember.rand(4, generator=ember.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), expected.numpy())
    assert b.shape == (2,)


def test_intercept_draws_one_at_a_time_and_removed_on_error():
    with pytest.raises(KeyError):
        with _random.intercept_draws(lambda gen: gen._rng):
            with pytest.raises(RuntimeError, match="already installed"):
                with _random.intercept_draws(lambda gen: gen._rng):
                    pass
            raise KeyError
    assert _random._draw_hook is None


# --- _tensor.observe_arrays ---
def test_no_observer_leaves_the_plain_slot():
    assert Tensor.__dict__["_data"] is _SLOT
    assert type(_SLOT).__name__ == "member_descriptor"  # the eager path: a slot read


def test_observe_arrays_sees_reads_and_writes():
    a = ember.tensor([1.0, 2.0, 3.0])
    reads, writes = [], []

    def read(t, array):
        reads.append(t)
        return array

    def write(t, array):
        try:
            raw_array(t)
            writes.append(("set", t))
        except AttributeError:  # a tensor being made
            writes.append(("new", t))
        return array

    with observe_arrays(read, write):
        assert isinstance(Tensor.__dict__["_data"], property)
        b = a + 1.0
        a.data = b
    assert Tensor.__dict__["_data"] is _SLOT
    assert any(t is a for t in reads)
    assert ("new", b) in [(k, t) for k, t in writes if t is b]
    assert [k for k, t in writes if t is a] == ["set"]
    n_reads = len(reads)
    _ = a + 1.0
    assert len(reads) == n_reads  # no observer outside the block


def test_observe_arrays_can_substitute_and_raw_access_bypasses():
    p = ember.nn.Parameter(ember.zeros(2))  # a subclass goes through the same attribute
    other = np.array([5.0, 6.0], dtype=np.float32)
    with observe_arrays(lambda t, array: other, lambda t, array: array):
        np.testing.assert_array_equal(p._data, other)
        assert raw_array(p) is not other
        set_raw_array(p, other)
    assert raw_array(p) is other and p._data is other


def test_observe_arrays_one_at_a_time_and_removed_on_error():
    def same(t, array):
        return array

    with pytest.raises(ZeroDivisionError):
        with observe_arrays(same, same):
            with pytest.raises(RuntimeError, match="already installed"):
                with observe_arrays(same, same):
                    pass
            1 / 0  # noqa: B018
    assert Tensor.__dict__["_data"] is _SLOT
    assert _tensor._array_observer is None


# --- compile goes through the seams only ---
def _ember_bindings(tree):
    """Names a module binds to ember objects from outside ember._compile, by import."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ember":
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] != "ember" or node.module.startswith("ember._compile"):
                continue
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def _module_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _root(expr):
    """The name an attribute/subscript/call chain starts from (None when none)."""
    while True:
        if isinstance(expr, (ast.Attribute, ast.Subscript)):
            if isinstance(expr, ast.Attribute) and expr.attr in ("__class__", "__dict__"):
                return "<class-level>"
            expr = expr.value
        elif isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Name) and expr.func.id in ("type", "vars"):
                return "<class-level>"
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return expr.id
        else:
            return None


def _patches(path):
    """Every place a module assigns to, or setattr/delattr's on, something it may not."""
    tree = ast.parse(path.read_text())
    ember_names = _ember_bindings(tree)
    allowed_setattr = _module_level_names(tree) - ember_names | {"self", "np"}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            for t in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                if isinstance(t, (ast.Attribute, ast.Subscript)):
                    root = _root(t)
                    if root in ember_names or root == "<class-level>":
                        found.append(f"{path.name}:{node.lineno}: {ast.unparse(t)}")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in ("setattr", "delattr", "__setattr__", "__delattr__") and node.args:
                root = _root(node.args[0])
                if root not in allowed_setattr or root in ember_names:
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_compile_assigns_no_attribute_of_ember_modules_or_classes():
    files = sorted(COMPILE_DIR.glob("*.py"))
    assert len(files) >= 7
    found = [f for path in files for f in _patches(path)]
    assert found == []


def test_the_scan_catches_the_old_patches(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from ember._tensor import Tensor\n"
        "from ember.autograd import engine\n"
        "from ember import _random as r\n"
        "import ember.nn\n"
        "Tensor._data = None\n"
        "engine._call_node = None\n"
        "setattr(r, 'rng', None)\n"
        "ember.nn.Linear.forward = None\n"
        "def f(owner, t):\n"
        "    setattr(owner, 'x', 1)\n"
        "    type(t).y = 2\n"
        "    t.__class__.z = 3\n"
        "    t._grad = None\n"  # an instance's state: allowed
    )
    assert len(_patches(bad)) == 7


def _ember_namespaces():
    """(name, dict) for every loaded ember module outside _compile, and each class in it."""
    spaces = []
    for name, mod in list(sys.modules.items()):
        if not (name == "ember" or name.startswith("ember.")) or name.startswith("ember._compile"):
            continue
        if mod is None:
            continue
        spaces.append((name, vars(mod)))
        for attr, value in list(vars(mod).items()):
            if isinstance(value, type) and value.__module__ == name:
                spaces.append((f"{name}.{attr}", vars(value)))
    return spaces


# the seams' own state, changed by their own functions while a recording runs
_SEAM_STATE = {
    ("ember._tensor.Tensor", "_data"),
    ("ember._tensor", "_array_observer"),
    ("ember.autograd.engine", "_node_observers"),
    ("ember._random", "_draw_hook"),
}


def _changed_since(before):
    now = dict(_ember_namespaces())
    changed = []
    missing = object()
    for name, space in before.items():
        space_now = now.get(name, {})
        for attr in space.keys() | space_now.keys():
            if space.get(attr, missing) is not space_now.get(attr, missing):
                if (name, attr) not in _SEAM_STATE:
                    changed.append(f"{name}.{attr}")
    return changed


def test_a_recording_changes_nothing_of_ember_but_the_seams_state():
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.Dropout(0.5), ember.nn.Linear(4, 1))
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    seen = []  # what had changed, looked at from inside the recording call

    def step(x):
        if checking:
            seen.append(_changed_since(before))
            seen.append(isinstance(Tensor.__dict__["_data"], property))
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    x = ember.randn(5, 3)
    checking = False
    step(x)  # warm up: lazy imports and caches
    before = {name: dict(space) for name, space in _ember_namespaces()}
    compiled = ember.compile(step)
    checking = True
    compiled(x)
    checking = False
    assert seen == [[], True]  # recording, through the seams only
    assert Tensor.__dict__["_data"] is _SLOT
    assert engine._node_observers == () and _random._draw_hook is None
    assert _changed_since(before) == []
    compiled(x)
    assert compiled.eager_reason is None


def test_observers_pass_other_threads_through_while_recording():
    """A recording on one thread leaves another thread's eager math and draws alone."""
    started, release = threading.Event(), threading.Event()
    results = {}

    def other():
        started.wait()
        g = ember.Generator().manual_seed(7)
        a = ember.tensor([1.0, 2.0], requires_grad=True)
        (a * a).sum().backward()
        results["grad"] = a.grad.numpy().copy()
        results["draw"] = ember.rand(3, generator=g).numpy().copy()
        results["array"] = type(raw_array(a))
        release.set()

    def step(x):
        started.set()
        release.wait(10)
        return x * 2.0

    thread = threading.Thread(target=other)
    thread.start()
    ember.compile(step)(ember.ones(2))
    thread.join()
    np.testing.assert_array_equal(results["grad"], [2.0, 4.0])
    expected = ember.rand(3, generator=ember.Generator().manual_seed(7))
    np.testing.assert_array_equal(results["draw"], expected.numpy())
    assert results["array"] is np.ndarray

"""The type stubs stay true: current, right about every op's return, and seen by mypy."""

import ast
import builtins
import collections.abc
import contextlib
import importlib
import os
import subprocess
import sys
import time
import types
import typing

import numpy as np
import pytest

import ember
from ember._tensor import Tensor
from ember.ops import OPS
from tests.test_readme import ROOT, load_tool

tool = load_tool("stubs")
STUBS = {"ember": "ember/__init__.pyi", "F": "ember/nn/functional/__init__.pyi"}


def test_stubs_are_current():
    # a fresh interpreter: other tests may have added names to ember's namespace
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "stubs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def declared_returns():
    """{(owner, name): return annotation} for the stubs' functions; owner ember, F or Tensor."""
    out = {}
    for owner, rel in STUBS.items():
        for node in ast.parse((tool.SRC / rel).read_text()).body:
            if isinstance(node, ast.FunctionDef):
                out[owner, node.name] = ast.unparse(node.returns)
    tree = ast.parse((tool.SRC / "ember/_tensor.pyi").read_text())
    tensor = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    for node in tensor.body:
        setter = any(isinstance(d, ast.Attribute) for d in getattr(node, "decorator_list", ()))
        if isinstance(node, ast.FunctionDef) and not setter:
            out["Tensor", node.name] = ast.unparse(node.returns)
    return out


class _Ember:
    """`ember.<private module>` as the stubs spell it (ember/__init__ deletes some names)."""

    def __getattr__(self, name):
        return importlib.import_module(f"ember.{name}")


NAMESPACE = {
    "Any": typing.Any,
    "Iterator": collections.abc.Iterator,
    "Tensor": Tensor,
    "builtins": builtins,
    "ember": _Ember(),
    **{name: tool.result_class(name) for name in tool.RESULT_CLASSES},
}


def conforms(value, annotation) -> bool:
    """Whether a runtime value is of the type a stub annotation names."""
    tp = eval(annotation, dict(NAMESPACE)) if isinstance(annotation, str) else annotation
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any:
        return True
    if tp is None:
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(conforms, value, args))
    return isinstance(value, origin or tp)


class _Recording:
    """A stand-in for `ember` (or `nn`, `nn.functional`) that records what each function returns."""

    def __init__(self, owner, module, declared, seen):
        self._owner, self._module, self._declared, self._seen = owner, module, declared, seen

    def __getattr__(self, name):
        obj = getattr(self._module, name)
        if self._owner == "ember" and name == "nn":
            return _Recording("nn", obj, self._declared, self._seen)
        if self._owner == "nn" and name == "functional":
            return _Recording("F", obj, self._declared, self._seen)
        if (self._owner, name) in self._declared:
            return _recorded(self._owner, name, obj, self._seen)
        return obj


def _recorded(owner, name, fn, seen):
    def call(*args, **kwargs):
        result = fn(*args, **kwargs)
        seen.append((owner, name, result))
        return result

    return call


def _inputs(spec, sample):
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(*spec.domain, size=shape) for shape in sample.shapes]
    return [ember.tensor(a, dtype=ember.float64, requires_grad=True) for a in arrays]


def _well_conditioned(x):
    """A square (batch of) matrix made symmetric positive definite, for the linalg ops."""
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        return x
    return (x @ x.mT + x.shape[-1] * ember.eye(x.shape[-1], dtype=x.dtype)).detach()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_declared_returns_hold_on_every_op_sample(monkeypatch):
    """Every op-table sample, through ember.<name>, nn.functional.<name> and the Tensor
    methods it calls: each result is of the type its stub declares."""
    declared, seen = declared_returns(), []
    for (owner, name), _ in declared.items():
        fn = vars(Tensor).get(name)
        if owner == "Tensor" and callable(fn) and name != "__init__":
            monkeypatch.setattr(Tensor, name, _recorded("Tensor", name, fn, seen))
    lib = _Recording("ember", ember, declared, seen)
    for spec in OPS.values():
        for sample in spec.samples:
            spec.call(lib, *_inputs(spec, sample), **sample.kwargs)
    monkeypatch.undo()

    checked = {name for _, name, _ in seen}
    missing = []
    for spec in OPS.values():  # ops the samples reach by another spelling (a + b, lib.linalg)
        if ("ember", spec.name) in declared and spec.name not in checked:
            for sample in spec.samples:
                inputs = [_well_conditioned(x) for x in _inputs(spec, sample)]
                with contextlib.suppress(Exception):
                    result = getattr(ember, spec.name)(*inputs, **sample.kwargs)
                    seen.append(("ember", spec.name, result))
                    checked.add(spec.name)
            missing += [] if spec.name in checked else [spec.name]
    assert not missing, f"ops whose public function no sample reaches: {missing}"
    wrong = sorted(
        {
            f"{owner}.{name} -> {declared[owner, name]}, got {type(result).__name__}"
            for owner, name, result in seen
            if not conforms(result, declared[owner, name])
        }
    )
    assert not wrong, (
        "stub return types the op table contradicts (see RETURNS in tools/stubs.py):\n"
        + "\n".join(wrong)
    )
    assert len({(o, n) for o, n, _ in seen}) > 300


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_declared_returns_hold_for_tensor_attributes():
    """Tensor's properties and every method that runs with no arguments."""
    checked, wrong = 0, []
    for (owner, name), annotation in sorted(declared_returns().items()):
        if owner != "Tensor" or name == "__init__":
            continue
        x = ember.rand(3, 3, dtype=ember.float64) + 0.5
        attr = vars(Tensor)[name]
        try:
            result = getattr(x, name) if isinstance(attr, property) else getattr(x, name)()
        except Exception:  # needs arguments, or a CUDA device, or another shape
            continue
        checked += 1
        if not conforms(result, annotation):
            wrong.append(f"Tensor.{name} -> {annotation}, got {type(result).__name__}")
    assert not wrong, "\n".join(wrong)
    assert checked > 150


REVEAL = """\
import ember

x = ember.randn(2, 3)
y = ember.randn(3, 2)
reveal_type(ember.randn(2, 3))
reveal_type(x.mm(y))
reveal_type(ember.cat([x, y]))
reveal_type(ember.nn.functional.relu(x))
reveal_type(x.sum())
reveal_type(ember.zeros(2) + 1)
"""

TRAINING = """\
import ember
import ember.nn.functional as F
from ember import nn, optim

model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
optimizer = optim.SGD(model.parameters(), lr=0.1)
x, y = ember.randn(64, 3), ember.randn(64, 1)
total = 0.0
for epoch in range(3):
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    with ember.no_grad():
        total += loss.item()
grads = ember.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
print(total, grads.norm().item(), model[0].weight.shape[0] + 1)
"""


def test_mypy_sees_tensors(tmp_path):
    """mypy, on user code: ember's functions and methods reveal Tensor; a training loop is clean."""
    if not os.environ.get("CI"):
        pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    from mypy import api

    (tmp_path / "reveal.py").write_text(REVEAL)
    (tmp_path / "training.py").write_text(TRAINING)
    start = time.perf_counter()
    stdout, stderr, status = api.run(
        [
            *(str(tmp_path / name) for name in ("reveal.py", "training.py")),
            "--follow-imports=silent",  # ember's own unannotated internals are not the test
            f"--cache-dir={tmp_path / 'mypy_cache'}",
            "--no-color-output",
        ]
    )
    seconds = time.perf_counter() - start
    revealed = [
        line.split("Revealed type is ")[1] for line in stdout.splitlines() if "Revealed" in line
    ]
    assert revealed == ['"ember._tensor.Tensor"'] * 6, stdout + stderr
    assert status == 0 and "error" not in stdout, stdout + stderr
    assert seconds < 120, f"mypy took {seconds:.0f}s"


def test_stubs_ship_in_the_wheel():
    """py.typed marks the package typed; package data carries it and the stubs."""
    assert (tool.SRC / "ember" / "py.typed").exists()
    text = (ROOT / "pyproject.toml").read_text()
    assert '"py.typed"' in text and '"*.pyi"' in text

"""The front door (ember/ops/_front.py): out= for every op PyTorch gives one, with PyTorch's
rules, and unknown keywords refused; checked across the op table."""

from __future__ import annotations

import ast
import inspect
import pathlib
import warnings

import numpy as np
import pytest

import ember
from ember.ops import OPS, PUBLIC
from ember.ops._front import TAKES_OUT
from tests.ops.test_op_table import sample_arrays

SRC = pathlib.Path(ember.__file__).parent


def _table_calls():
    """(name, sample) for every op-table sample that `ember.<name>(*inputs, **kwargs)` runs."""
    cases = []
    for spec in OPS.values():
        fn = PUBLIC.get(spec.name)
        if fn is None:
            continue
        for sample in spec.samples:
            inputs = [ember.tensor(a) for a in sample_arrays(spec, sample)]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fn(*inputs, **sample.kwargs)
            except Exception:  # the table's call spells it differently: no plain call to test
                continue
            cases.append(pytest.param(spec, sample, id=f"{spec.name}-{sample!r}"))
    return cases


CALLS = _table_calls()
OUT_CALLS = [c for c in CALLS if c.values[0].name in TAKES_OUT]


def _inputs(spec, sample):
    return [ember.tensor(a) for a in sample_arrays(spec, sample)]


def _empty_like(result):
    if isinstance(result, tuple):
        return tuple(ember.empty(0, dtype=r.dtype) for r in result)
    return ember.empty(0, dtype=result.dtype)


def _values(result):
    items = result if isinstance(result, tuple) else (result,)
    return [r.numpy() for r in items]


def test_every_out_op_takes_out():
    missing = [n for n in sorted(TAKES_OUT) if "out" not in inspect.signature(PUBLIC[n]).parameters]
    assert not missing


def test_the_table_covers_most_out_ops():
    covered = {c.values[0].name for c in OUT_CALLS}
    assert len(covered) >= 90, sorted(TAKES_OUT - covered)


@pytest.mark.parametrize("spec, sample", OUT_CALLS)
def test_out_receives_the_result(spec, sample):
    fn = PUBLIC[spec.name]
    inputs = _inputs(spec, sample)
    expected = fn(*inputs, **sample.kwargs)
    out = _empty_like(expected)
    got = fn(*inputs, **sample.kwargs, out=out)
    targets = out if isinstance(out, tuple) else (out,)
    items = got if isinstance(got, tuple) else (got,)
    assert all(a is b for a, b in zip(items, targets))
    for a, b in zip(_values(got), _values(expected)):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("spec, sample", OUT_CALLS)
def test_out_of_another_shape_is_resized_with_a_warning(spec, sample):
    fn = PUBLIC[spec.name]
    inputs = _inputs(spec, sample)
    expected = fn(*inputs, **sample.kwargs)
    firsts = expected if isinstance(expected, tuple) else (expected,)
    outs = tuple(ember.zeros(7, dtype=r.dtype) for r in firsts)
    with pytest.warns(UserWarning, match="resized since it had shape \\[7\\]"):
        fn(*inputs, **sample.kwargs, out=outs if isinstance(expected, tuple) else outs[0])
    for o, r in zip(outs, firsts):
        assert o.shape == r.shape and o._vc[0] > 0


@pytest.mark.parametrize("spec, sample", OUT_CALLS)
def test_out_is_refused_in_a_recorded_graph(spec, sample):
    fn = PUBLIC[spec.name]
    inputs = _inputs(spec, sample)
    expected = fn(*inputs, **sample.kwargs)
    out = ember.ones(3, requires_grad=True)  # out itself requires grad: refused, untouched
    if isinstance(expected, tuple):
        out = (out, *(ember.ones(3) for _ in expected[1:]))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        fn(*inputs, **sample.kwargs, out=out)
    first = out[0] if isinstance(out, tuple) else out
    assert first.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("spec, sample", CALLS)
def test_an_unknown_keyword_is_a_type_error_naming_it(spec, sample):
    with pytest.raises(TypeError, match="no_such_keyword"):
        PUBLIC[spec.name](*_inputs(spec, sample), **sample.kwargs, no_such_keyword=1)


def _torch_takes_out(torch, spec, sample):
    fn = getattr(torch, spec.name)
    inputs = [torch.tensor(a) for a in sample_arrays(spec, sample)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fn(*inputs, **sample.kwargs)
        if isinstance(expected, tuple):
            out = tuple(torch.empty(0, dtype=r.dtype) for r in expected)
        else:
            out = torch.empty(0, dtype=expected.dtype)
        try:
            fn(*inputs, **sample.kwargs, out=out)
        except TypeError:
            return False
    return True


@pytest.mark.parametrize("name", sorted({c.values[0].name for c in OUT_CALLS}))
def test_pytorch_takes_out_there_too(name, torch):
    """TAKES_OUT lists only what PyTorch accepts. PyTorch accepts out= in some of an op's
    forms only (median and var with a dim, not without); ember takes it in all of them."""
    samples = [c.values for c in OUT_CALLS if c.values[0].name == name]
    assert any(_torch_takes_out(torch, spec, sample) for spec, sample in samples)


def test_pytorch_refuses_out_where_ember_does(torch):
    """Public ops PyTorch has with a documented out= are in TAKES_OUT (a sample of names
    PyTorch refuses it for: ember refuses them too)."""
    for name in ("det", "logdet", "pinverse", "reshape", "transpose"):
        assert name not in TAKES_OUT
        with pytest.raises(TypeError):
            getattr(torch, name)(torch.eye(2), out=torch.empty(0))


def test_out_checks_dtype_device_and_kind():
    a = ember.ones(2, 2)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired"):
        ember.add(a, a, out=ember.empty(2, 2, dtype=ember.long))
    ember.add(a, a, out=ember.empty(2, 2, dtype=ember.float64))  # widening is fine
    with pytest.raises(TypeError, match="'out' must be Tensor"):
        ember.mm(a, a, out=[1.0])
    with pytest.raises(TypeError, match="tuple of 2 Tensors"):
        ember.max(a, 1, out=ember.empty(0))
    pair = ember.max(a, 1, out=(ember.empty(0), ember.empty(0, dtype=ember.long)))
    assert pair.values.tolist() == [1.0, 1.0] and pair.indices.dtype == ember.long


def test_out_under_no_grad_writes_into_a_leaf_that_requires_grad():
    w = ember.zeros(2, requires_grad=True)
    with ember.no_grad():
        ember.add(ember.ones(2), ember.ones(2), out=w)
    assert w.tolist() == [2.0, 2.0] and w.requires_grad


def test_no_op_function_takes_out_itself():
    """out= comes from the front door alone, so no function can take it and drop it."""
    own = []
    for path in sorted((SRC / "ops").glob("*.py")) + [SRC / "linalg.py"]:
        if path.name in ("_out.py", "_front.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name not in ("forward", "backward"):
                if node.name.startswith("_"):  # private helpers: `out` is their own word
                    continue
                if "out" in [a.arg for a in node.args.args + node.args.kwonlyargs]:
                    own.append(f"{path.name}:{node.name}")
    assert not own


LINALG_OUT = """cholesky cholesky_ex cross det eigh eigvalsh inv inv_ex matmul matrix_norm
matrix_power matrix_rank multi_dot norm pinv qr slogdet solve solve_triangular svd svdvals
vecdot vector_norm""".split()


def test_linalg_functions_take_out():
    for name in LINALG_OUT:
        assert "out" in inspect.signature(getattr(ember.linalg, name)).parameters, name
    A = ember.tensor([[2.0, 1.0], [1.0, 3.0]])
    Q, R = ember.empty(0), ember.empty(0)
    assert ember.linalg.qr(A, out=(Q, R)) == (Q, R)
    assert np.allclose((Q @ R).numpy(), A.numpy())
    inverse = ember.empty(0)
    ember.linalg.inv(A, out=inverse)
    assert np.allclose((inverse @ A).numpy(), np.eye(2), atol=1e-6)


def test_linalg_out_names_match_pytorch(torch):
    import re

    for name in LINALG_OUT:
        doc = getattr(torch.linalg, name).__doc__ or ""
        assert re.search(r"\bout=None|\bout \(Tensor|\bout \(tuple", doc), name


@pytest.mark.parametrize("spec, sample", CALLS)
def test_a_non_tensor_input_is_pytorchs_type_error(spec, sample):
    inputs = _inputs(spec, sample)
    if not inputs:
        pytest.skip("no tensor argument")
    args = [[inputs[0].tolist()], *inputs[1:]]  # a list where a tensor goes
    with pytest.raises(TypeError):  # never an AttributeError from inside ember
        PUBLIC[spec.name](*args, **sample.kwargs)


def test_the_type_error_names_the_argument_and_its_position():
    x = ember.ones(2, 2)
    with pytest.raises(TypeError, match=r"mm\(\): argument 'input' \(position 1\) must be "):
        ember.mm([[1.0]], x)
    with pytest.raises(TypeError, match=r"dot\(\): argument 'other' \(position 2\) .* tuple"):
        ember.dot(x[0], (1.0, 2.0))
    with pytest.raises(TypeError, match=r"meshgrid\(\): argument 'tensors' must be tuple"):
        ember.meshgrid([1.0], x[0], indexing="ij")


def test_warnings_point_at_the_callers_line():
    x = ember.ones(2, 3, 4)
    with pytest.warns(UserWarning) as record:
        x.T  # noqa: B018 - deprecated on 3-D tensors, with a warning
        ember.cross(ember.ones(2, 3), ember.ones(2, 3))
    assert {pathlib.Path(w.filename).name for w in record} == {"test_front_door.py"}


def test_import_leaves_numpys_error_state_alone():
    import subprocess
    import sys

    code = (
        "import numpy as np; before = np.geterr(); import ember; "
        "x = ember.zeros(3); ember.log(x); (1 / x).sum().item(); "
        "assert np.geterr() == before, np.geterr(); "
        "import warnings; warnings.simplefilter('error'); "
        "ember.log(x); ember.exp(ember.full((2,), 1e4)); "  # ember's ops: silent, as PyTorch
        "np.seterr(all='raise'); ember.log(x); "
        "np.seterr(all='warn')\n"
        "try:\n    np.log(np.zeros(1))\nexcept RuntimeWarning:\n    print('numpy warns')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numpy warns"

"""bfloat16: the dtype, its promotion, creation, casts, ops, autograd, printing and files,
against PyTorch; and ember without ml_dtypes (in a subprocess where it cannot be imported)."""

import copy
import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import ember
from ember import _dtype
from ember._dtype import bfloat16 as bf16
from ember.serialization import UnsafeCheckpointError

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 tensors need ml_dtypes")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32"]
NAMES += ["float64"]


def _bits(t):
    """The 16-bit patterns of an ember or torch bfloat16 tensor."""
    if isinstance(t, ember.Tensor):
        return t.numpy().view(np.uint16)
    return t.view(t.new_empty(0).short().dtype).numpy().view(np.uint16)


def _values(seed=0, shape=(4, 5)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- the dtype


def test_dtype_attributes():
    assert bf16.is_floating_point and bf16.is_signed and bf16.itemsize == 2
    assert repr(bf16) == "ember.bfloat16"
    assert _dtype.to_dtype("bfloat16") is bf16 and _dtype.to_dtype("torch.bfloat16") is bf16
    assert _dtype.from_numpy_dtype(ml_dtypes.bfloat16) is bf16
    assert _dtype.from_numpy_dtype(np.dtype(ml_dtypes.bfloat16)) is bf16
    assert pickle.loads(pickle.dumps(bf16)) is bf16
    assert bf16.np == np.dtype(ml_dtypes.bfloat16)


def test_kind_checks_read_bfloat16_as_floating():
    # NumPy calls bfloat16's kind "V"; ember's checks must see a floating type
    np_bf16 = ember.zeros(1, dtype=bf16).numpy().dtype  # (a bfloat16 tensor loads ml_dtypes)
    assert np_bf16.kind == "V"
    assert _dtype.is_floating(np_bf16) and _dtype.kind(np_bf16) == "f"
    assert _dtype.category(np_bf16) == _dtype.category(np.dtype("float32")) == 2
    for name, kind, category in (("bool", "b", 0), ("uint8", "u", 1), ("int64", "i", 1)):
        assert not _dtype.is_floating(np.dtype(name))
        assert _dtype.kind(np.dtype(name)) == kind and _dtype.category(np.dtype(name)) == category
    assert _dtype.kind(np.dtype([("a", "f4")])) == "V"  # other "V" types stay what they are


def test_ember_bfloat16_is_public():
    # ember/__init__.py re-exports ember._dtype's names
    assert ember.bfloat16 is bf16


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("b", ["bfloat16"])
def test_promote_types_as_torch(a, b, torch):
    for x, y in ((a, b), (b, a)):
        ours = _dtype.promote_types(_dtype.to_dtype(x), _dtype.to_dtype(y))
        theirs = torch.promote_types(getattr(torch, x), getattr(torch, y))
        assert ours.name == str(theirs).removeprefix("torch.")


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, b: (lib.ones(3, dtype=b), 2.5),
        lambda lib, b: (lib.ones(3, dtype=b), 2),
        lambda lib, b: (lib.ones(3, dtype=b), lib.ones(3, dtype=lib.int64)),
        lambda lib, b: (lib.ones(3, dtype=b), lib.tensor(2.0, dtype=lib.float64)),
        lambda lib, b: (lib.ones(3, dtype=b), lib.ones(3, dtype=lib.float16)),
        lambda lib, b: (lib.tensor(1.0, dtype=b), lib.ones(3, dtype=lib.int32)),
        lambda lib, b: (lib.tensor(1.0, dtype=b), lib.ones(3, dtype=lib.float16)),
        lambda lib, b: (lib.ones(3, dtype=lib.int8), lib.ones(3, dtype=b)),
    ],
)
def test_result_type_and_arithmetic_dtype_as_torch(make, torch):
    ours, theirs = make(ember, bf16), make(torch, torch.bfloat16)
    assert str(ember.result_type(*ours)) == str(torch.result_type(*theirs)).replace(
        "torch", "ember"
    )
    assert str((ours[0] + ours[1]).dtype) == str((theirs[0] + theirs[1]).dtype).replace(
        "torch", "ember"
    )


# ---------------------------------------------------------------- creation and casts


def test_creation(torch):
    assert ember.zeros(2, 3, dtype=bf16).dtype is bf16
    assert ember.ones(2, dtype=bf16).tolist() == [1.0, 1.0]
    assert ember.full((2,), 0.1, dtype=bf16).tolist() == torch.full((2,), 0.1).bfloat16().tolist()
    r = ember.randn(1000, dtype=bf16)
    assert r.dtype is bf16 and 0.8 < float(r.float().std()) < 1.2
    assert ember.rand(5, dtype=bf16).dtype is bf16
    assert ember.arange(5, dtype=bf16).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    values = [1.5, 0.1, -3.3, 1e10, 1e-20]
    ours = ember.tensor(values, dtype=bf16)
    assert ours.dtype is bf16 and ours.is_floating_point()
    np.testing.assert_array_equal(_bits(ours), _bits(torch.tensor(values, dtype=torch.bfloat16)))


def test_casts_round_as_torch(torch):
    # halfway cases (round to even), subnormals, overflow to inf, nan
    special = [1.00390625, 1.01171875, -1.00390625, 3.4e38, 1e-40, float("inf"), float("nan")]
    values = np.concatenate([_values(1, (200,)) * 100, np.float32(special)]).astype(np.float32)
    ours = ember.tensor(values).to(bf16)
    theirs = torch.tensor(values).to(torch.bfloat16)
    # every bit as PyTorch's but NaN's payload (PyTorch writes 0xffff, ml_dtypes 0x7fc0)
    nan = np.isnan(values)
    np.testing.assert_array_equal(_bits(ours)[~nan], _bits(theirs)[~nan])
    np.testing.assert_array_equal(_bits(ember.tensor(values).bfloat16()), _bits(ours))
    back = ours.float()
    assert back.dtype is ember.float32
    np.testing.assert_array_equal(back.numpy(), theirs.float().numpy())  # NaN == NaN here
    assert ours.double().dtype is ember.float64
    assert ember.tensor([3.7, -2.2]).bfloat16().long().tolist() == [3, -2]
    assert ours.type() == "ember.BFloat16Tensor"


def test_numpy_round_trip():
    t = ember.tensor([1.5, -2.0], dtype=bf16)
    a = t.numpy()
    assert a.dtype == np.dtype(ml_dtypes.bfloat16)
    shared = ember.from_numpy(a)
    assert shared.dtype is bf16
    shared[0] = 4.0
    assert t[0].item() == 4.0  # from_numpy shares memory
    assert ember.tensor(np.ones(2, dtype=ml_dtypes.bfloat16)).dtype is bf16
    assert ember.as_tensor(a).dtype is bf16


def test_pickle_and_deepcopy_keep_bfloat16():
    t = ember.tensor([1.5, -2.0, 0.1], dtype=bf16, requires_grad=True)
    for copied in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t)):
        assert copied.dtype is bf16 and copied.requires_grad
        np.testing.assert_array_equal(_bits(copied.detach()), _bits(t.detach()))


# ---------------------------------------------------------------- ops and autograd

OPS = {
    "add_scalar": lambda lib, x, w: x + x * 2.5,
    "exp": lambda lib, x, w: x.exp(),
    "tanh": lambda lib, x, w: x.tanh(),
    "sigmoid": lambda lib, x, w: x.sigmoid(),
    "relu": lambda lib, x, w: lib.relu(x),
    "div": lambda lib, x, w: x / 3,
    "sum": lambda lib, x, w: x.sum(),
    "sum_dim": lambda lib, x, w: x.sum(1),
    "max_dim": lambda lib, x, w: x.max(1).values,
    "cumsum": lambda lib, x, w: x.cumsum(1),
    "matmul": lambda lib, x, w: x @ w,
    "linear": lambda lib, x, w: lib.nn.functional.linear(x, w.t()),
    "where": lambda lib, x, w: lib.where(x > 0, x, 0.0),
    "cat": lambda lib, x, w: lib.cat([x, x[:1]]),
}


@pytest.mark.parametrize("name", OPS)
def test_ops_give_bfloat16_close_to_torch(name, torch):
    x, w = _values(0, (4, 5)), _values(1, (5, 3))
    ours = OPS[name](ember, ember.tensor(x).bfloat16(), ember.tensor(w).bfloat16())
    theirs = OPS[name](torch, torch.tensor(x).bfloat16(), torch.tensor(w).bfloat16())
    assert ours.dtype is bf16 and theirs.dtype == torch.bfloat16
    np.testing.assert_allclose(ours.float().numpy(), theirs.float().numpy(), rtol=1e-2, atol=1e-2)


def test_sum_accumulates_in_float32(torch):
    # summed in bfloat16, 4096 values of 1.0 would stop growing at 256
    ones = np.ones(4096, dtype=np.float32)
    ours = ember.tensor(ones).bfloat16().sum()
    assert ours.item() == torch.tensor(ones).bfloat16().sum().item() == 4096.0
    big = _values(2, (64, 256))
    theirs = torch.tensor(big).bfloat16() @ torch.tensor(big.T).bfloat16()
    product = ember.tensor(big).bfloat16() @ ember.tensor(big.T).bfloat16()
    np.testing.assert_allclose(product.float().numpy(), theirs.float().numpy(), rtol=2e-2, atol=0.5)


def test_backward_gives_bfloat16_grads_close_to_torch(torch):
    x, w, b = _values(0, (8, 5)), _values(1, (3, 5)), _values(2, (3,))

    def run(lib):
        leaves = [lib.tensor(v).bfloat16().requires_grad_() for v in (x, w, b)]
        out = lib.nn.functional.linear(leaves[0], leaves[1], leaves[2])
        loss = (out.tanh() * out).sum()
        loss.backward()
        return loss, [leaf.grad for leaf in leaves]

    (ours_loss, ours), (theirs_loss, theirs) = run(ember), run(torch)
    assert ours_loss.dtype is bf16
    np.testing.assert_allclose(ours_loss.float().item(), theirs_loss.float().item(), rtol=1e-2)
    for g, tg in zip(ours, theirs):
        assert g.dtype is bf16
        np.testing.assert_allclose(g.float().numpy(), tg.float().numpy(), rtol=2e-2, atol=2e-2)


def test_mixed_float32_and_bfloat16_stays_float32(torch):
    x = ember.tensor(_values(0, (3,)))
    y = x.bfloat16()
    assert (x + y).dtype is ember.float32 and (y * x).dtype is ember.float32
    assert y.sum(dtype=ember.float32).dtype is ember.float32  # an asked-for dtype is kept
    assert (x + y).tolist() == (
        torch.tensor(x.numpy()) + torch.tensor(x.numpy()).bfloat16()
    ).tolist()


def test_requires_grad_on_bfloat16():
    t = ember.ones(2, dtype=bf16, requires_grad=True)
    assert t.requires_grad
    d = ember.zeros(2, requires_grad=True)
    d.data = ember.ones(2, dtype=bf16)  # a floating dtype may replace a grad-requiring one's data
    assert d.dtype is bf16


# ---------------------------------------------------------------- printing


@pytest.mark.parametrize(
    "values",
    [
        [1.5, 2.0],
        [1.0, 2.0],
        3.0,
        [0.1, 0.2, 0.3],
        [1e10, 3.0],
        [-1e-5, 3.0],
        [],
        [[1.5, -2], [3, 4]],
    ],
)
def test_repr_as_torch(values, torch):
    ours = repr(ember.tensor(values, dtype=bf16))
    theirs = repr(torch.tensor(values, dtype=torch.bfloat16))
    assert ours == theirs.replace("torch", "ember")


def test_repr_with_grad_fn_as_torch(torch):
    ours = ember.tensor([1.25, -3.0], dtype=bf16, requires_grad=True) * 2
    theirs = torch.tensor([1.25, -3.0], dtype=torch.bfloat16, requires_grad=True) * 2
    assert repr(ours) == repr(theirs).replace("torch", "ember")


# ---------------------------------------------------------------- files


def test_pt_both_ways_bit_identical(tmp_path, torch):
    values = _values(3, (3, 4))
    theirs = torch.tensor(values).bfloat16()
    torch.save({"w": theirs, "dtype": torch.bfloat16}, tmp_path / "t.pt")
    loaded = ember.load(tmp_path / "t.pt")
    assert loaded["w"].dtype is bf16 and loaded["dtype"] is bf16
    np.testing.assert_array_equal(_bits(loaded["w"]), _bits(theirs))

    ours = ember.tensor(values).bfloat16()
    ember.save({"w": ours, "view": ours[1:], "dtype": bf16}, tmp_path / "e.pt")
    back = torch.load(tmp_path / "e.pt", weights_only=True)
    assert back["w"].dtype == torch.bfloat16 and back["dtype"] == torch.bfloat16
    np.testing.assert_array_equal(_bits(back["w"]), _bits(ours))
    np.testing.assert_array_equal(_bits(back["view"]), _bits(ours[1:]))


def test_safetensors_both_ways_bit_identical(tmp_path, torch):
    st = pytest.importorskip("safetensors.torch", reason="compares with the safetensors package")
    values = _values(4, (2, 6))
    theirs = torch.tensor(values).bfloat16()
    st.save_file({"w": theirs}, str(tmp_path / "t.safetensors"))
    loaded = ember.load(tmp_path / "t.safetensors")["w"]
    assert loaded.dtype is bf16
    np.testing.assert_array_equal(_bits(loaded), _bits(theirs))

    ours = ember.tensor(values).bfloat16()
    ember.save({"w": ours}, tmp_path / "e.safetensors")
    back = st.load_file(str(tmp_path / "e.safetensors"))["w"]
    assert back.dtype == torch.bfloat16
    np.testing.assert_array_equal(_bits(back), _bits(ours))


def test_safetensors_round_trip_with_structure(tmp_path):
    ours = ember.tensor(_values(5, (3,))).bfloat16()
    ember.save({"w": ours, "meta": [1, bf16]}, tmp_path / "x.safetensors")
    back = ember.load(tmp_path / "x.safetensors")
    assert back["meta"] == [1, bf16] and back["w"].dtype is bf16
    np.testing.assert_array_equal(_bits(back["w"]), _bits(ours))
    raw = (tmp_path / "x.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert any(v.get("dtype") == "BF16" for v in header.values() if isinstance(v, dict))


# ---------------------------------------------------------------- unsupported dtypes


@pytest.mark.parametrize("name", ["complex64", "complex128", "uint16", "uint32", "float8_e4m3fn"])
def test_pt_with_an_unsupported_dtype_says_so(name, tmp_path, torch):
    torch.save({"x": torch.zeros(2, dtype=getattr(torch, name))}, tmp_path / "u.pt")
    with pytest.raises(ValueError, match=f"unsupported dtype {name}: .*Convert it") as info:
        ember.load(tmp_path / "u.pt")
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert "allow-list" not in str(info.value) and "float32" in str(info.value)


def test_a_real_global_is_still_refused_as_unsafe():
    data = b"\x80\x02cos\nsystem\nq\x00."
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data)
    buffer.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="allow-list"):
        ember.load(buffer)


def _safetensors_bytes(st_dtype, nbytes):
    header = json.dumps({"x": {"dtype": st_dtype, "shape": [1], "data_offsets": [0, nbytes]}})
    header = header.encode() + b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\x00" * nbytes


@pytest.mark.parametrize(
    ("st_dtype", "name", "size"), [("U16", "uint16", 2), ("C64", "complex64", 8)]
)
def test_safetensors_with_an_unsupported_dtype_says_so(st_dtype, name, size, tmp_path):
    (tmp_path / "u.safetensors").write_bytes(_safetensors_bytes(st_dtype, size))
    with pytest.raises(ValueError, match=f"unsupported dtype {name}: tensor 'x'"):
        ember.load(tmp_path / "u.safetensors")
    (tmp_path / "v.safetensors").write_bytes(_safetensors_bytes("Q9", 2))  # no such dtype
    with pytest.raises(ValueError, match="unknown dtype 'Q9'"):
        ember.load(tmp_path / "v.safetensors")


@pytest.mark.parametrize("np_dtype", [np.uint16, np.uint32, np.complex64, np.dtype("U3")])
def test_from_numpy_with_an_unsupported_dtype_says_so(np_dtype):
    name = np.dtype(np_dtype).name
    with pytest.raises(TypeError, match=f"unsupported dtype {name}: .*bfloat16"):
        ember.from_numpy(np.zeros(2, dtype=np_dtype))
    with pytest.raises(TypeError, match=f"unsupported dtype {name}"):
        _dtype.from_numpy_dtype(np_dtype)


# ---------------------------------------------------------------- without ml_dtypes


def _run_without_ml_dtypes(code):
    prelude = "import sys\nsys.modules['ml_dtypes'] = None  # import ml_dtypes now fails\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_without_ml_dtypes_bfloat16_exists_and_creating_it_says_what_to_install():
    out = _run_without_ml_dtypes(
        """
        import ember
        from ember._dtype import bfloat16, promote_types
        print(bfloat16, promote_types(bfloat16, ember.float16))
        for make in (lambda: ember.zeros(2, dtype=bfloat16), lambda: ember.ones(2).to(bfloat16),
                     lambda: ember.tensor([1.0], dtype=bfloat16)):
            try:
                make()
            except RuntimeError as e:
                print(e)
        """
    )
    lines = out.splitlines()
    assert lines[0] == "ember.bfloat16 ember.float32"
    assert (
        lines[1:]
        == [
            "unsupported dtype bfloat16: ember needs the ml_dtypes package for it "
            "(pip install 'ember[bfloat16]' or pip install ml_dtypes)"
        ]
        * 3
    )


def test_without_ml_dtypes_files_widen_to_float32_with_a_warning(tmp_path):
    ours = ember.tensor(_values(6, (5,))).bfloat16()
    ember.save({"w": ours}, tmp_path / "b.pt")
    ember.save({"w": ours}, tmp_path / "b.safetensors")
    out = _run_without_ml_dtypes(
        f"""
        import warnings
        import ember
        for name in ("b.pt", "b.safetensors"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                w = ember.load({str(tmp_path)!r} + "/" + name)["w"]
            print(w.dtype, w.tolist(), len(caught), caught[0].category.__name__,
                  "ml_dtypes" in str(caught[0].message))
        """
    )
    expected = ours.float().tolist()
    for line in out.splitlines():
        assert line == f"ember.float32 {expected} 1 UserWarning True"


def test_import_ember_does_not_import_ml_dtypes():
    code = "import sys, ember; print('ml_dtypes' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr

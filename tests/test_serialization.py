"""ember.save / ember.load: safetensors round trips, PyTorch checkpoints, and hostile files."""

import collections
import importlib.util
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import ember
from ember.serialization import UnsafeCheckpointError
from tests import fake_cuda as fake_device

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _sample(dtype, shape):
    rng = np.random.default_rng(0)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)])
def test_round_trip_every_dtype_and_shape(dtype, shape, tmp_path):
    t = ember.tensor(_sample(dtype, shape), dtype=getattr(ember, dtype))
    path = tmp_path / "t.safetensors"
    ember.save(t, path)
    out = ember.load(path)
    _same(t, out)
    assert out.device.type == "cpu"


def test_round_trip_non_contiguous_and_extreme_values(tmp_path):
    x = ember.tensor(np.arange(12.0).reshape(3, 4)).t()
    special = ember.tensor([np.nan, np.inf, -np.inf, -0.0, 1e-45], dtype=ember.float32)
    ember.save({"x": x, "special": special}, tmp_path / "a")
    out = ember.load(tmp_path / "a")
    np.testing.assert_array_equal(out["x"].numpy(), x.numpy())
    np.testing.assert_array_equal(out["special"].numpy(), special.numpy())
    assert np.signbit(out["special"].numpy()[3])


def test_nested_structure_with_int_keys_and_plain_values(tmp_path):
    shared = ember.tensor([1.0, 2.0])
    obj = {
        "state": {0: {"step": ember.tensor(3.0), "exp_avg": shared}, 1: {"buf": shared}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}],
        "misc": [None, True, 7, -(2**70), 1.5, float("inf"), float("nan"), "text", b"\x00\xff"],
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "counter": collections.Counter([2, 5, 5]),
        "dtype": ember.float16,
        "device": ember.device("cpu"),
        "tuple_key": {(1, "x"): "v", 2.5: "f", None: "n", True: "t"},
        "array": np.arange(4, dtype=np.int16),
        "empty": [{}, [], ()],
    }
    ember.save(obj, tmp_path / "ckpt")
    out = ember.load(tmp_path / "ckpt")
    _same(
        {k: v for k, v in obj.items() if k != "array"},
        {k: v for k, v in out.items() if k != "array"},
    )
    assert type(out["ordered"]) is collections.OrderedDict
    assert (
        out["counter"] == collections.Counter([2, 5, 5])
        and type(out["counter"]) is collections.Counter
    )
    assert out["dtype"] is ember.float16 and out["device"] == ember.device("cpu")
    np.testing.assert_array_equal(out["array"], obj["array"])
    assert out["state"][0]["exp_avg"] is out["state"][1]["buf"]  # one tensor saved once


def test_requires_grad_survives(tmp_path):
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    ember.save({"w": w, "frozen": ember.ones(2)}, tmp_path / "g")
    out = ember.load(tmp_path / "g")
    assert out["w"].requires_grad and out["w"].is_leaf and not out["frozen"].requires_grad


def test_file_objects_and_paths(tmp_path):
    buffer = io.BytesIO()
    buffer.write(b"prefix")
    ember.save({"a": ember.ones(3)}, buffer)
    buffer.seek(6)  # a checkpoint in the middle of a stream, as torch allows
    assert ember.load(buffer)["a"].tolist() == [1.0, 1.0, 1.0]
    with open(tmp_path / "f", "wb") as fh:
        ember.save([ember.zeros(2)], fh)
    with open(tmp_path / "f", "rb") as fh:
        assert ember.load(fh)[0].tolist() == [0.0, 0.0]
    ember.save(ember.ones(1), str(tmp_path / "s"))
    assert ember.load(str(tmp_path / "s")).tolist() == [1.0]


def _parse(raw):
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), 8 + n


def test_file_is_plain_safetensors(tmp_path):
    state = {"weight": ember.tensor([[1.0, 2.0]]), "bias": ember.tensor([3], dtype=ember.int64)}
    ember.save(state, tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    header, start = _parse(raw)
    assert start % 8 == 0
    assert header["weight"] == {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}
    assert header["bias"] == {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}
    assert set(header["__metadata__"]) == {"format", "ember"}
    assert np.frombuffer(raw[start : start + 8], "<f4").tolist() == [1.0, 2.0]
    assert len(raw) == start + 16


def test_reads_a_safetensors_file_without_ember_metadata(tmp_path):
    data = np.arange(6, dtype="<f8").tobytes() + np.array([1, 0], dtype="u1").tobytes()
    header = {
        "x": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
        "m": {"dtype": "BOOL", "shape": [2], "data_offsets": [48, 50]},
        "__metadata__": {"format": "pt"},
    }
    blob = json.dumps(header).encode()
    (tmp_path / "plain").write_bytes(len(blob).to_bytes(8, "little") + blob + data)
    out = ember.load(tmp_path / "plain")
    assert out["x"].dtype == ember.float64 and out["x"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out["m"].tolist() == [True, False]


def test_matches_the_safetensors_package_when_installed(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    ember.save(
        {"a": ember.tensor([1.5, 2.5]), "b": ember.tensor([[1, 2]], dtype=ember.int32)},
        tmp_path / "x",
    )
    out = st.load_file(str(tmp_path / "x"))
    assert out["a"].tolist() == [1.5, 2.5] and out["b"].dtype == np.int32
    st.save_file({"c": np.arange(3, dtype=np.float16)}, str(tmp_path / "y"))
    assert ember.load(tmp_path / "y")["c"].dtype == ember.float16


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    ember.save({"v": ember.tensor([1.0])}, path)
    before = path.read_bytes()
    from ember import serialization

    real_write = serialization._write

    def crash(fh, header, arrays):
        fh.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(serialization, "_write", crash)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"v": ember.tensor([2.0])}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt"]  # no temporary file left behind
    monkeypatch.setattr(serialization, "_write", real_write)
    fsyncs = []
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    ember.save({"v": ember.tensor([2.0])}, path)
    assert ember.load(path)["v"].tolist() == [2.0] and fsyncs


def test_save_refuses_objects_it_cannot_store_without_pickle(tmp_path):
    class Model:
        pass

    with pytest.raises(TypeError, match="cannot store an object of type .*Model"):
        ember.save({"m": Model()}, tmp_path / "x")
    with pytest.raises(TypeError, match="cannot store"):
        ember.save({1, 2}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_map_location_forms(tmp_path):
    path = tmp_path / "m"
    ember.save({"a": ember.tensor([1.0])}, path)
    assert ember.load(path, map_location="cpu")["a"].device.type == "cpu"
    assert ember.load(path, map_location=ember.device("cpu"))["a"].device.type == "cpu"
    seen = []

    def where(tensor, location):
        seen.append(location)
        return tensor * 2

    assert ember.load(path, map_location=where)["a"].tolist() == [2.0]
    assert seen == ["cpu"]
    assert ember.load(path, map_location=lambda t, loc: None)["a"].tolist() == [1.0]
    fake_device.install()
    try:
        assert ember.load(path, map_location="cuda")["a"].device.type == "cuda"
        assert ember.load(path, map_location={"cpu": "cuda:0"})["a"].device.type == "cuda"
        ember.save({"g": ember.tensor([1.0], device="cuda")}, tmp_path / "g")
        assert ember.load(tmp_path / "g")["g"].device.type == "cpu"  # CPU unless told otherwise
        moved = ember.load(tmp_path / "g", map_location={"cuda:0": "cuda:0"})
        assert moved["g"].device.type == "cuda"
    finally:
        fake_device.remove()


def test_optimizer_state_dict_round_trip_resumes_training(tmp_path):
    def make():
        w = ember.tensor([1.0, -2.0, 0.5], requires_grad=True)
        return w, ember.optim.Adam([w], lr=0.1, amsgrad=True)

    def steps(w, opt, n):
        for _ in range(n):
            opt.zero_grad()
            ((w - 3) ** 2).sum().backward()
            opt.step()

    w, opt = make()
    steps(w, opt, 3)
    ember.save({"w": w.detach(), "opt": opt.state_dict()}, tmp_path / "ckpt")
    steps(w, opt, 4)
    saved = ember.load(tmp_path / "ckpt")
    assert list(saved["opt"]["state"]) == [0]  # int keys stay ints
    w2, opt2 = make()
    with ember.no_grad():
        w2.copy_(saved["w"])
    opt2.load_state_dict(saved["opt"])
    steps(w2, opt2, 4)
    np.testing.assert_array_equal(w2.detach().numpy(), w.detach().numpy())


# ---------------------------------------------------------------- PyTorch checkpoints


_HAS_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None


def _from_torch(value, torch):
    """torch objects -> ember objects, for comparing."""
    if isinstance(value, torch.Tensor):
        return ember.tensor(
            value.detach().float().numpy()
            if value.dtype == torch.bfloat16
            else value.detach().numpy()
        )
    if isinstance(value, dict):
        return type(value)((k, _from_torch(v, torch)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_from_torch(v, torch) for v in value)
    return value


def _assert_values_equal(ours, theirs, torch):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ember.Tensor)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert ours.requires_grad == theirs.requires_grad
        expected = theirs.detach()
        if expected.dtype == torch.bfloat16:  # float32 without ml_dtypes (test_bfloat16.py)
            assert ours.dtype.name == ("bfloat16" if _HAS_ML_DTYPES else "float32")
            ours, expected = ours.float(), expected.float()
        else:
            assert ours.dtype.name == str(expected.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.detach().numpy(), expected.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            _assert_values_equal(ours[k], theirs[k], torch)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_values_equal(a, b, torch)
    elif isinstance(theirs, torch.dtype):
        assert ours is getattr(ember, str(theirs).removeprefix("torch."))
    else:
        assert ours == theirs


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_reads_a_torch_state_dict(protocol, tmp_path, torch):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    state = model.state_dict()
    torch.save(state, tmp_path / "model.pt", pickle_protocol=protocol)
    ours = ember.load(tmp_path / "model.pt")
    _assert_values_equal(ours, state, torch)
    assert type(ours) is collections.OrderedDict and list(ours) == list(state)
    assert ours._metadata == state._metadata


def test_reads_a_torch_nested_checkpoint(tmp_path, torch):
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    w = torch.nn.Parameter(torch.randn(2, 2))
    opt = torch.optim.Adam([w], lr=0.01)
    w.grad = torch.ones(2, 2)
    opt.step()
    obj = {
        "epoch": 7,
        "views": [base, base[1:], base.t()],  # views saved together share one storage
        "dtypes": {name: torch.tensor(_sample(name, (3,))) for name in DTYPES},
        "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "param": w,
        "optimizer": opt.state_dict(),
        "meta": (None, True, 1.25, "name", b"\x01\x02", -(2**40), torch.float16),
        3: {"nested": [torch.ones(1, dtype=torch.int32)]},
    }
    torch.save(obj, tmp_path / "ckpt.pth")
    ours = ember.load(tmp_path / "ckpt.pth")
    theirs = torch.load(tmp_path / "ckpt.pth", weights_only=True)
    _assert_values_equal(ours, theirs, torch)
    assert ours["param"].requires_grad
    assert list(ours["optimizer"]["state"]) == [0]
    # the three views share memory, as after torch.load
    ours["views"][0][1, 0] = 100.0
    assert ours["views"][1][0, 0].item() == 100.0 and ours["views"][2][0, 1].item() == 100.0


def test_torch_optimizer_state_dict_loads_into_an_ember_optimizer(tmp_path, torch):
    tw = torch.tensor([1.0, -2.0], requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    for _ in range(3):
        topt.zero_grad()
        (tw**2).sum().backward()
        topt.step()
    torch.save({"w": tw.detach(), "opt": topt.state_dict()}, tmp_path / "o.pt")
    saved = ember.load(tmp_path / "o.pt")
    w = saved["w"].clone().requires_grad_(True)
    opt = ember.optim.SGD([w], lr=0.5, momentum=0.1)
    opt.load_state_dict(saved["opt"])
    for p, o in ((tw, topt), (w, opt)):
        o.zero_grad()
        (p**2).sum().backward()
        o.step()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-6)


def test_map_location_applies_to_torch_checkpoints(tmp_path, torch):
    torch.save({"a": torch.ones(2)}, tmp_path / "a.pt")
    seen = []
    out = ember.load(tmp_path / "a.pt", map_location=lambda t, loc: seen.append(loc) or t)
    assert seen == ["cpu"] and out["a"].tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- corrupt and hostile files


def _good_file(tmp_path):
    path = tmp_path / "good"
    ember.save({"a": ember.arange(10, dtype=ember.float32), "n": {1: [ember.ones(3)]}}, path)
    return path.read_bytes()


def _write_header(tmp_path, header, data=b""):
    blob = json.dumps(header).encode()
    path = tmp_path / "bad"
    path.write_bytes(len(blob).to_bytes(8, "little") + blob + data)
    return path


def test_truncated_files_are_refused(tmp_path):
    raw = _good_file(tmp_path)
    for cut in list(range(0, 40)) + list(range(40, len(raw), 7)):
        (tmp_path / "cut").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            ember.load(tmp_path / "cut")


def test_bit_flips_raise_value_error_or_load(tmp_path):
    raw = bytearray(_good_file(tmp_path))
    rng = np.random.default_rng(0)
    refused = 0
    for position in rng.integers(0, len(raw), size=300):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        (tmp_path / "flip").write_bytes(bytes(flipped))
        try:
            ember.load(tmp_path / "flip")
        except ValueError:
            refused += 1
    assert refused > 50  # most flips land in the header and are caught


@pytest.mark.parametrize(
    "header, data, message",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "past the"),
        (
            {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
            b"\0" * 8,
            "needs 12 bytes",
        ),
        ({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype"),
        (
            {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}},
            b"\0" * 8,
            "invalid shape",
        ),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, "past the"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
            "overlaps",
        ),
        ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}, b"\0" * 4, "gap"),
        ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 4, "belong to no"),
        ({"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}, b"\0", "invalid shape"),
        ({"a": [1, 2]}, b"", "needs exactly dtype"),
        ([1, 2], b"", "not a JSON object"),
        ({"__metadata__": {"ember": "{"}}, b"", "not valid JSON"),
        (
            {"__metadata__": {"ember": json.dumps({"version": 1, "object": {"tensor": "zz"}})}},
            b"",
            "missing tensor",
        ),
        (
            {"__metadata__": {"ember": json.dumps({"version": 1, "object": {"pickle": "x"}})}},
            b"",
            "unknown record",
        ),
        ({"__metadata__": {"ember": json.dumps({"version": 9, "object": 1})}}, b"", "version"),
        ({"__metadata__": {"ember": 5}}, b"", "strings to strings"),
    ],
)
def test_corrupt_headers_are_refused(header, data, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        ember.load(_write_header(tmp_path, header, data))


def test_bad_json_and_duplicate_names_are_refused(tmp_path):
    for blob in [b"{not json", b'{"a": 1, "a": 2}', b"\xff\xfe{}", b"[" * 100000 + b"]" * 100000]:
        (tmp_path / "b").write_bytes(len(blob).to_bytes(8, "little") + blob)
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            ember.load(tmp_path / "b")


def test_huge_claims_are_refused_before_allocating(tmp_path):
    path = _write_header(
        tmp_path, {"a": {"dtype": "F64", "shape": [10**6, 10**6], "data_offsets": [0, 8 * 10**12]}}
    )
    (tmp_path / "len").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="past the"):
            ember.load(path)
        with pytest.raises(ValueError, match="header claims"):
            ember.load(tmp_path / "len")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def _pt_zip(path, data_pkl, extra=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for name, data in extra:
            z.writestr(name, data)
    return path


class _Payload:
    """Pickles as a call that would create a file: proof of code execution if it ever runs."""

    def __init__(self, func, marker):
        self.func, self.marker = func, marker

    def __reduce__(self):
        if self.func == "system":
            return (os.system, (f"touch {self.marker}",))
        if self.func == "eval":
            return (eval, (f"open({str(self.marker)!r}, 'w').close()",))
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("func", ["system", "eval", "exec"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_pickled_code_in_a_pt_file_is_refused_and_never_runs(func, protocol, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": [1, 2], "evil": _Payload(func, marker)}, protocol=protocol)
    path = _pt_zip(tmp_path / "evil.pt", payload)
    with pytest.raises(
        UnsafeCheckpointError,
        match=r"refused .*'(posix|nt|os|builtins|__builtin__)\.(system|eval|exec)'",
    ):
        ember.load(path)
    with pytest.raises(RuntimeError):  # also a RuntimeError, and a pickle.UnpicklingError
        ember.load(path, weights_only=False)
    assert not marker.exists()


def test_malicious_data_pkl_inside_a_real_torch_checkpoint(tmp_path, torch):
    marker = tmp_path / "pwned"
    torch.save({"w": torch.ones(2)}, tmp_path / "real.pt")
    with zipfile.ZipFile(tmp_path / "real.pt") as z:
        members = {n: z.read(n) for n in z.namelist()}
    prefix = next(n for n in members if n.endswith("data.pkl"))
    members[prefix] = pickle.dumps([_Payload("system", marker)], protocol=2)
    with zipfile.ZipFile(tmp_path / "evil.pt", "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        ember.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_raw_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps(_Payload("system", marker)))
    with pytest.raises(ValueError, match="never unpickles"):
        ember.load(tmp_path / "legacy.pt")
    assert not marker.exists()


@pytest.mark.parametrize(
    "data_pkl, error",
    [
        (b"\x80\x02cbuiltins\ngetattr\n.", UnsafeCheckpointError),
        (b"\x80\x02]q\x00(K\x01K\x02", ValueError),  # no STOP: truncated
        (b"\x80\x02}(K\x01e.", ValueError),  # APPENDS onto a dict
        (b"\x80\x02K\x01}b.", UnsafeCheckpointError),  # BUILD on an int
        (b"\x80\x02ccollections\nOrderedDict\n)R}X\x09\x00\x00\x00__class__K\x01sb.", ValueError),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf16\x86R.", ValueError),
        (b"\x80\x02h\x05.", ValueError),  # memo miss
        (b"\x80\x02X\xff\xff\xff\x7fab.", ValueError),  # string longer than the stream
        (b"\x80\x02I1\n.", ValueError),  # text-protocol opcode: unsupported
        (b"\x80\x02K\x01)R.", UnsafeCheckpointError),  # calling a non-callable
        (
            b"\x80\x02(X\x07\x00\x00\x00storageK\x01X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.",
            ValueError,
        ),
    ],
)
def test_hostile_pickle_streams_are_refused(data_pkl, error, tmp_path):
    with pytest.raises(error):
        ember.load(_pt_zip(tmp_path / "x.pt", data_pkl))


def test_pt_storage_and_view_checks(tmp_path, torch):
    torch.save({"w": torch.arange(4.0)}, tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as z:
        members = {n: z.read(n) for n in z.namelist()}
    storage = next(n for n in members if "/data/" in n)

    def rewrite(name, changes, compress=zipfile.ZIP_STORED):
        with zipfile.ZipFile(tmp_path / name, "w", compress) as z:
            for n, data in {**members, **changes}.items():
                z.writestr(n, data)
        return tmp_path / name

    with pytest.raises(ValueError, match="should hold"):
        ember.load(rewrite("short.pt", {storage: members[storage][:8]}))
    with pytest.raises(ValueError, match="compressed"):
        ember.load(rewrite("deflated.pt", {}, zipfile.ZIP_DEFLATED))
    pkl = next(n for n in members if n.endswith("data.pkl"))
    # a view that reaches past its storage (size 4 -> 9)
    bad = members[pkl].replace(b"K\x04\x85", b"K\x09\x85", 1)
    assert bad != members[pkl]
    with pytest.raises(ValueError, match="reaches element"):
        ember.load(rewrite("view.pt", {pkl: bad}))
    byteorder = next(n for n in members if n.endswith("byteorder"))
    with pytest.raises(ValueError, match="byteorder"):
        ember.load(rewrite("order.pt", {byteorder: b"middle"}))


def test_big_endian_torch_files_are_byteswapped(tmp_path, torch):
    torch.save({"w": torch.tensor([1.5, -2.0, 3.25])}, tmp_path / "le.pt")
    with zipfile.ZipFile(tmp_path / "le.pt") as z:
        members = {n: z.read(n) for n in z.namelist()}
    for name in members:
        if name.endswith("byteorder"):
            members[name] = b"big"
        elif "/data/" in name:
            members[name] = np.frombuffer(members[name], "<f4").astype(">f4").tobytes()
    with zipfile.ZipFile(tmp_path / "be.pt", "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    assert ember.load(tmp_path / "be.pt")["w"].tolist() == [1.5, -2.0, 3.25]


def test_truncated_torch_files_are_refused(tmp_path, torch):
    torch.save({"w": torch.arange(100.0), "b": [1, 2]}, tmp_path / "full.pt")
    raw = (tmp_path / "full.pt").read_bytes()
    for cut in range(4, len(raw), 97):
        (tmp_path / "cut.pt").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            ember.load(tmp_path / "cut.pt")


def test_torch_sizes_devices_and_sets_in_checkpoints(tmp_path, torch):
    torch.save(
        {"shape": torch.zeros(2, 3).shape, "dev": torch.device("cuda", 1), "ids": {1, 2}},
        tmp_path / "extras.pt",
    )
    out = ember.load(tmp_path / "extras.pt")
    assert out["shape"] == (2, 3) and out["ids"] == {1, 2}
    assert out["dev"] == ember.device("cuda", 1)


def test_numpy_objects_in_torch_checkpoints_are_refused_by_name(tmp_path, torch):
    torch.save({"a": np.arange(3)}, tmp_path / "np.pt")
    with pytest.raises(UnsafeCheckpointError, match="numpy"):
        ember.load(tmp_path / "np.pt")


def test_module_state_dicts_and_parameters(tmp_path, torch):
    if not hasattr(ember.nn, "Linear"):
        pytest.skip("ember.nn.Linear is not available yet")
    model = ember.nn.Linear(3, 2)
    ember.save(model.state_dict(), tmp_path / "lin")
    other = ember.nn.Linear(3, 2)
    other.load_state_dict(ember.load(tmp_path / "lin"))
    np.testing.assert_array_equal(other.weight.detach().numpy(), model.weight.detach().numpy())
    ember.save({"p": model.weight}, tmp_path / "p")
    loaded = ember.load(tmp_path / "p")["p"]
    assert isinstance(loaded, ember.nn.Parameter) and loaded.requires_grad
    theirs = torch.nn.Linear(3, 2)
    torch.save(theirs.state_dict(), tmp_path / "t.pt")
    other.load_state_dict(ember.load(tmp_path / "t.pt"))
    np.testing.assert_array_equal(other.bias.detach().numpy(), theirs.bias.detach().numpy())
    torch.save({"param": theirs.weight}, tmp_path / "param.pt")
    assert isinstance(ember.load(tmp_path / "param.pt")["param"], ember.nn.Parameter)


def test_a_torch_checkpoint_runs_in_the_same_ember_model(tmp_path, torch):
    def build(lib):
        nn = lib.nn
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(4 * 4 * 4, 10),
        )  # fmt: skip

    theirs = build(torch)
    torch.save(theirs.state_dict(), tmp_path / "model.pt")
    ours = build(ember)
    result = ours.load_state_dict(ember.load(tmp_path / "model.pt"))
    assert not result.missing_keys and not result.unexpected_keys
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(ember.from_numpy(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    ember.save(ours.state_dict(), tmp_path / "back.safetensors")  # and back into a fresh one
    again = build(ember)
    again.load_state_dict(ember.load(tmp_path / "back.safetensors"))
    np.testing.assert_array_equal(
        again(ember.from_numpy(x)).detach().numpy(), ours(ember.from_numpy(x)).detach().numpy()
    )


# ---------------------------------------------------------------- issue: bounds and litter


def _nested_tuple_pkl(depth, as_key=True):
    inner = b")" + b"\x85" * (depth - 1)  # `depth` tuples, one inside the next
    return b"\x80\x02}" + inner + b"K\x01s." if as_key else b"\x80\x02" + inner + b"."


def test_errors_name_ember_load_and_the_file(tmp_path):
    path = _write_header(
        tmp_path, {"x": {"dtype": "F32", "shape": [0, 2**64], "data_offsets": [0, 0]}}
    )
    with pytest.raises(ValueError) as info:
        ember.load(path)
    assert str(info.value).startswith(f"ember.load({str(path)!r}): not a valid checkpoint: ")
    assert "too large for any array" in str(info.value)
    with pytest.raises(ValueError, match=r"^ember\.load\(<BytesIO>\): .*too large"):
        ember.load(io.BytesIO(path.read_bytes()))
    pt = _pt_zip(tmp_path / "put.pt", b"\x80\x02K\x01p" + b"1" * 5000 + b"\n.")
    with pytest.raises(ValueError, match=r"^ember\.load\('.*put\.pt'\): .*at most 18 digits"):
        ember.load(pt)
    with pytest.raises(UnsafeCheckpointError, match=r"^ember\.load\('.*evil\.pt'\): refused"):
        ember.load(_pt_zip(tmp_path / "evil.pt", b"\x80\x02cos\nsystem\n."))


@pytest.mark.parametrize("as_key", [True, False])
def test_nesting_is_capped_at_max_depth(tmp_path, as_key):
    limit = ember.serialization.MAX_DEPTH - as_key  # a key is one level inside its dict
    path = _pt_zip(tmp_path / "ok.pt", _nested_tuple_pkl(limit, as_key))
    loaded = ember.load(path)
    key = next(iter(loaded)) if as_key else loaded
    depth = 0
    while isinstance(key, tuple):
        key, depth = (key[0] if key else None), depth + 1
    assert depth == limit
    with pytest.raises(ValueError, match="nested more than 500 levels deep"):
        ember.load(_pt_zip(tmp_path / "deep.pt", _nested_tuple_pkl(limit + 1, as_key)))


def test_nesting_built_by_appends_is_capped(tmp_path):
    n = ember.serialization.MAX_DEPTH + 1
    with pytest.raises(ValueError, match="levels deep"):
        ember.load(_pt_zip(tmp_path / "l.pt", b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."))
    document = '{"version":1,"object":' + '{"list":[' * n + "]}" * n + "}"
    with pytest.raises(ValueError, match="levels deep|not valid JSON"):  # JSON's own limit
        ember.load(_write_header(tmp_path, {"__metadata__": {"ember": document}}))


def test_memo_reuse_is_charged_for_every_copy(tmp_path):
    from tests.hostile_files import pt_memo_frozenset, pt_memo_size

    # the same lists passed a few times load; passed hundreds of times they are refused
    for writer in (pt_memo_size, pt_memo_frozenset):
        small = ember.load(writer(tmp_path / "few.pt", n=20_000, calls=3))
        assert len(small) == 3 and len(small[0]) in (20_000, 20_000 % 65536)
        with pytest.raises(ValueError, match=r"ember\.load allows 32 x the file's size \+ 32 MiB"):
            ember.load(writer(tmp_path / "many.pt", n=20_000, calls=3000))


def test_shared_tuples_cannot_make_hashing_explode(tmp_path):
    from tests.hostile_files import pt_hash_bomb

    assert ember.load(pt_hash_bomb(tmp_path / "ok.pt", levels=8))  # 256 nodes: fine
    with pytest.raises(ValueError, match="hashing work"):
        ember.load(pt_hash_bomb(tmp_path / "bomb.pt", levels=60))


def test_many_small_objects_are_refused_past_the_budget(tmp_path):
    from tests.hostile_files import pt_many_empty_sets, st_zero_size_entries

    assert len(ember.load(pt_many_empty_sets(tmp_path / "few.pt", n=1000))) == 1000
    with pytest.raises(ValueError, match="crafted to exhaust memory"):
        ember.load(pt_many_empty_sets(tmp_path / "many.pt", n=200_000))
    assert len(ember.load(st_zero_size_entries(tmp_path / "few", n=1000))) == 1000


def test_safetensors_records_with_wrong_types_are_refused(tmp_path):
    ok = {"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    for record in [
        {"tensor": "x", "requires_grad": [1]},
        {"tensor": "x", "device": {"a": 1}},
        {"ndarray": ["x"]},
        {"dtype": ["float32"]},
    ]:
        document = json.dumps({"version": 1, "object": record})
        path = _write_header(tmp_path, {**ok, "__metadata__": {"ember": document}}, b"\x01")
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            ember.load(path)


def _kill_during_save(target):
    """Run ember.save(target) in a child that SIGKILLs itself halfway through the write."""
    code = (
        "import os, signal, sys, ember\n"
        "from ember import serialization\n"
        "def half(fh, header, arrays):\n"
        "    fh.write(b'partial'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "serialization._write = half\n"
        "ember._pt_writer.Checkpoint.write = lambda self, fh: half(fh, None, None)\n"
        "ember.save({'w': ember.ones(3)}, sys.argv[1])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_later_save_removes_temporary_files_of_dead_writers(tmp_path):
    from ember import serialization

    target = tmp_path / "ckpt.pt"
    _kill_during_save(target)
    (left,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert left.name.startswith(".ckpt.pt.") and not target.exists()
    tag, nonce = f"{serialization._host_tag()}-{os.getpid()}", "0123456789ab"
    in_flight = tmp_path / f".other.pt.{tag}.{nonce}.tmp"  # a live writer: this process
    elsewhere = tmp_path / f".x.pt.otherhost-999999.{nonce}.tmp"  # another machine's writer
    unrelated = tmp_path / ".notes.tmp"
    for path in (in_flight, elsewhere, unrelated):
        path.write_bytes(b"keep")
    ember.save({"w": ember.ones(2)}, target)
    assert not left.exists()
    assert in_flight.exists() and elsewhere.exists() and unrelated.exists()
    assert ember.load(target)["w"].tolist() == [1.0, 1.0]


def test_save_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    events, names = [], {}
    real_open, real_replace = os.open, os.replace

    def spy_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        names[fd] = os.fspath(path)
        return fd

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b)))
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(f"fsync {names.get(fd, 'file')}"))
    ember.save({"w": ember.ones(2)}, tmp_path / "c.pt")
    assert events[-2:] == ["rename", f"fsync {tmp_path}"], events
    assert events[0].startswith("fsync") and events[0] != f"fsync {tmp_path}", events

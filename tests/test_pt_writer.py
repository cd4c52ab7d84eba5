"""ember.save to .pt/.pth writes PyTorch's zip format: torch.load(weights_only=True) reads it."""

import collections
import io
import math
import os
import struct
import zipfile

import numpy as np
import pytest

import ember
from ember import _dtype, _pt_writer


def _sample(dtype, shape=(2, 3)):
    n = math.prod(shape)
    if dtype.name == "bool":
        values = np.arange(n) % 3 == 0
    elif dtype.is_floating_point:
        values = (np.arange(n) - 2.5) * 0.75
    elif dtype.name == "uint8":
        values = np.arange(n) * 40 + 7
    else:
        values = (np.arange(n) - 3) * 9
    return ember.tensor(values.reshape(shape).tolist(), dtype=dtype)


def _as_numpy(t):
    return np.asarray(t.tolist())


@pytest.mark.parametrize("dtype", _dtype.ALL, ids=lambda d: d.name)
def test_every_dtype_reads_back_in_torch_and_ember(dtype, tmp_path, torch):
    t = _sample(dtype)
    path = tmp_path / "t.pt"
    ember.save({"t": t, "scalar": _sample(dtype, ())}, path)
    theirs = torch.load(path, weights_only=True)
    assert theirs["t"].dtype == getattr(torch, dtype.name)
    assert theirs["t"].shape == (2, 3) and theirs["t"].stride() == (3, 1)
    np.testing.assert_array_equal(_as_numpy(theirs["t"]), _as_numpy(t))
    assert theirs["scalar"].shape == () and theirs["scalar"].item() == _sample(dtype, ()).item()
    ours = ember.load(path)
    assert ours["t"].dtype is dtype
    np.testing.assert_array_equal(_as_numpy(ours["t"]), _as_numpy(t))


def test_a_state_dict_loads_into_the_torch_model(tmp_path, torch):
    model = ember.nn.Sequential(ember.nn.Linear(3, 5), ember.nn.ReLU(), ember.nn.Linear(5, 2))
    ember.save(model.state_dict(), tmp_path / "model.pth")
    twin = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    state = torch.load(tmp_path / "model.pth", weights_only=True)
    assert type(state) is collections.OrderedDict and list(state) == list(model.state_dict())
    twin.load_state_dict(state)  # strict: every key, shape and dtype must match
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    expected = model(ember.tensor(x, dtype=ember.float32)).detach().numpy()
    got = twin(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    # and ember reads its own .pth back into an ember model
    again = ember.nn.Sequential(ember.nn.Linear(3, 5), ember.nn.ReLU(), ember.nn.Linear(5, 2))
    again.load_state_dict(ember.load(tmp_path / "model.pth"))
    np.testing.assert_array_equal(
        again[0].weight.detach().numpy(), model[0].weight.detach().numpy()
    )


def test_parameters_and_requires_grad_survive(tmp_path, torch):
    w = ember.nn.Parameter(ember.ones(2, 2))
    frozen = ember.nn.Parameter(ember.zeros(3), requires_grad=False)
    leaf = ember.ones(2, requires_grad=True)
    ember.save([w, frozen, leaf, ember.ones(1), w], tmp_path / "p.pt")
    tw, tfrozen, tleaf, plain, tw_again = torch.load(tmp_path / "p.pt", weights_only=True)
    assert type(tw) is torch.nn.Parameter and tw.requires_grad
    assert type(tfrozen) is torch.nn.Parameter and not tfrozen.requires_grad
    assert type(tleaf) is torch.Tensor and tleaf.requires_grad and not plain.requires_grad
    assert tw_again is tw  # one object saved twice loads as one object
    ew, efrozen, eleaf, _, ew_again = ember.load(tmp_path / "p.pt")
    assert type(ew) is ember.nn.Parameter and ew.requires_grad and ew_again is ew
    assert type(efrozen) is ember.nn.Parameter and not efrozen.requires_grad
    assert eleaf.requires_grad


def test_nested_containers_and_plain_values(tmp_path, torch):
    state = collections.OrderedDict(a=ember.arange(3))
    state._metadata = {"": {"version": 1}, "a": {"version": 2}}
    obj = {
        "epoch": 7,
        "numbers": [0, 255, 256, 65536, -1, -(2**31), 2**31, 2**70, -(2**70), np.int64(5)],
        "floats": (1.5, -0.0, float("inf"), 1e300, np.float32(0.25)),
        "misc": (None, True, False, "naïve ✓", b"\x00\xff", (), (1,), (1, 2), (1, 2, 3, 4)),
        "kinds": [ember.float16, ember.int64, ember.device("cpu")],
        3: {"nested": [[{"deep": ember.ones(1, dtype=ember.int32)}]], (1, "k"): "tuple key"},
        "state": state,
        "long": list(range(2500)),
        "big": {str(i): i for i in range(1200)},
    }
    ember.save(obj, tmp_path / "n.pt")
    theirs = torch.load(tmp_path / "n.pt", weights_only=True)
    assert type(theirs) is dict and list(theirs) == list(obj)
    assert theirs["numbers"] == [0, 255, 256, 65536, -1, -(2**31), 2**31, 2**70, -(2**70), 5]
    assert theirs["floats"][:4] == (1.5, -0.0, float("inf"), 1e300)
    assert math.copysign(1, theirs["floats"][1]) == -1 and theirs["floats"][4] == 0.25
    assert theirs["misc"] == obj["misc"]
    assert theirs["kinds"] == [torch.float16, torch.int64, torch.device("cpu")]
    deep = theirs[3]["nested"][0][0]["deep"]
    assert deep.dtype == torch.int32 and deep.tolist() == [1]
    assert theirs[3][(1, "k")] == "tuple key"
    assert type(theirs["state"]) is collections.OrderedDict
    assert theirs["state"]._metadata == state._metadata
    assert theirs["long"] == obj["long"] and theirs["big"] == obj["big"]
    ours = ember.load(tmp_path / "n.pt")
    assert ours["numbers"][-3:] == [2**70, -(2**70), 5] and ours["misc"] == obj["misc"]
    assert ours["kinds"] == [ember.float16, ember.int64, ember.device("cpu")]
    assert ours["state"]._metadata == state._metadata and ours[3][(1, "k")] == "tuple key"


def test_views_share_one_storage_as_in_torch(tmp_path, torch):
    base = ember.arange(12.0).reshape(3, 4)
    lone = ember.arange(6.0).reshape(2, 3).t()  # saved without its base: still a view
    ember.save({"base": base, "rows": base[1:], "cols": base[:, ::2], "t": base.t(),
                "lone": lone}, tmp_path / "v.pt")  # fmt: skip
    theirs = torch.load(tmp_path / "v.pt", weights_only=True)
    for name in ("rows", "cols", "t"):
        np.testing.assert_array_equal(theirs[name].numpy(), {
            "rows": base[1:], "cols": base[:, ::2], "t": base.t()}[name].numpy())  # fmt: skip
    assert theirs["cols"].stride() == (4, 2) and theirs["t"].stride() == (1, 4)
    theirs["base"][1, 0] = 100.0  # one storage: the views see the write, as after torch.save
    assert theirs["rows"][0, 0].item() == 100.0 and theirs["t"][0, 1].item() == 100.0
    assert theirs["lone"].tolist() == lone.tolist()
    with zipfile.ZipFile(tmp_path / "v.pt") as archive:
        storages = [n for n in archive.namelist() if "/data/" in n]
    assert len(storages) == 2


def test_tensors_from_other_ops_are_written_contiguously(tmp_path, torch):
    x = ember.arange(6.0).reshape(2, 3)
    odd = {
        "flipped": x.flip(0),
        "expanded": ember.ones(1, 3).expand(4, 3),
        "empty": ember.zeros(0, 5),
    }
    ember.save(odd, tmp_path / "o.pt")
    theirs = torch.load(tmp_path / "o.pt", weights_only=True)
    for name, t in odd.items():
        assert theirs[name].tolist() == t.tolist() and tuple(theirs[name].shape) == t.shape
    assert theirs["empty"].shape == (0, 5)


def test_torch_to_ember_to_torch(tmp_path, torch):
    original = {
        "w": torch.randn(3, 4),
        "i": torch.arange(5, dtype=torch.int16),
        "p": torch.nn.Parameter(torch.randn(2)),
        "extra": [1, "two", (3.0, None)],
    }
    torch.save(original, tmp_path / "a.pt")
    ember.save(ember.load(tmp_path / "a.pt"), tmp_path / "b.pt")
    back = torch.load(tmp_path / "b.pt", weights_only=True)
    for name in ("w", "i", "p"):
        assert back[name].dtype == original[name].dtype
        assert torch.equal(back[name], original[name])
    assert type(back["p"]) is torch.nn.Parameter and back["extra"] == [1, "two", (3.0, None)]


def test_file_objects_and_other_names(tmp_path, torch):
    with open(tmp_path / "f.PTH", "wb") as fh:  # a file object named .pt/.pth
        ember.save({"x": ember.ones(2)}, fh)
    assert torch.load(tmp_path / "f.PTH", weights_only=True)["x"].tolist() == [1.0, 1.0]
    buffer = io.BytesIO()  # no name: safetensors, as before
    ember.save({"x": ember.ones(2)}, buffer)
    assert not buffer.getvalue().startswith(b"PK")
    ember.save({"x": ember.ones(2)}, tmp_path / "plain.ckpt")
    assert not (tmp_path / "plain.ckpt").read_bytes().startswith(b"PK")
    assert ember.load(tmp_path / "plain.ckpt")["x"].tolist() == [1.0, 1.0]
    assert _pt_writer.is_pt_target(str(tmp_path / "a.pt")) and not _pt_writer.is_pt_target("a.ptx")


def test_archive_layout(tmp_path):
    ember.save({"a": ember.ones(3), "b": ember.arange(5)}, tmp_path / "l.pt")
    raw = (tmp_path / "l.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "l.pt") as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names[0] == "archive/data.pkl" and names[-1] == "archive/version"
        assert {"archive/byteorder", "archive/data/0", "archive/data/1"} <= set(names)
        assert archive.read("archive/byteorder") == b"little"
        assert archive.read("archive/version") == b"3\n"
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            name_len, extra_len = struct.unpack(
                "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
            )
            assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0  # aligned data
    ember.save({"a": ember.ones(3), "b": ember.arange(5)}, tmp_path / "again.pt")
    assert (tmp_path / "again.pt").read_bytes() == raw  # deterministic


def test_zip64_members_stay_aligned_and_readable(tmp_path, torch, monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)  # a small file takes the >4 GiB path
    ember.save({"a": ember.arange(600.0)}, tmp_path / "z.pt")
    monkeypatch.undo()
    raw = (tmp_path / "z.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "z.pt") as archive:
        info = archive.getinfo("archive/data/0")
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    assert extra_len >= 20 and (info.header_offset + 30 + name_len + extra_len) % 64 == 0
    assert torch.load(tmp_path / "z.pt", weights_only=True)["a"][-1].item() == 599.0


def test_refuses_what_it_would_have_to_pickle(tmp_path):
    class Config:
        pass

    path = tmp_path / "x.pt"
    for bad, match in [
        ({"cfg": Config()}, "cannot store an object of type .*Config in a PyTorch checkpoint"),
        (ember.nn.Linear(2, 2), r"model\.state_dict\(\)"),
        ({ember.ones(1): 1}, "tensors cannot be dict keys"),
        ({1, 2}, "cannot store an object of type builtins.set"),
        (collections.namedtuple("P", "x")(1), "cannot store"),
    ]:
        with pytest.raises(TypeError, match=match):
            ember.save(bad, path)
        assert not path.exists() and os.listdir(tmp_path) == []
    deep = []
    for _ in range(600):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        ember.save(deep, path)
    assert os.listdir(tmp_path) == []


def test_pt_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    ember.save({"v": ember.tensor([1.0])}, path)
    before = path.read_bytes()

    def crash(self, fh):
        fh.write(b"PK partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(_pt_writer.Checkpoint, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"v": ember.tensor([2.0])}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]


def test_gpu_tensors_record_their_device(tmp_path, torch, fake_cuda):
    ember.save({"g": ember.tensor([1.0, 2.0], device="cuda")}, tmp_path / "g.pt")
    theirs = torch.load(tmp_path / "g.pt", weights_only=True, map_location="cpu")
    assert theirs["g"].tolist() == [1.0, 2.0]
    seen = []
    ember.load(tmp_path / "g.pt", map_location=lambda t, where: seen.append(where) or t)
    assert seen == ["cuda:0"]  # as torch.save records a tensor saved from the first GPU
    assert ember.load(tmp_path / "g.pt", map_location="cuda")["g"].device.type == "cuda"


def test_many_tensors_use_long_memo_indices(tmp_path, torch):
    many = [ember.full((1,), float(i)) for i in range(300)]
    ember.save({"many": many, "again": many[::-1]}, tmp_path / "m.pt")
    theirs = torch.load(tmp_path / "m.pt", weights_only=True)
    assert [t.item() for t in theirs["many"]] == [float(i) for i in range(300)]
    assert all(a is b for a, b in zip(theirs["again"], reversed(theirs["many"])))
    ours = ember.load(tmp_path / "m.pt")
    assert ours["again"][0] is ours["many"][-1] and ours["many"][299].item() == 299.0


def test_numpy_arrays_in_a_pt_name_fall_back_to_safetensors_with_a_warning(tmp_path):
    """PyTorch's weights_only loader refuses NumPy arrays, so such a .pt could not be read by
    torch anyway: ember writes its own format and says so (a public program does this)."""
    import numpy as np

    path = tmp_path / "traindata.pt"
    with pytest.warns(UserWarning, match="holds NumPy arrays"):
        ember.save(np.arange(6.0).reshape(2, 3), path)
    loaded = ember.load(path)
    assert isinstance(loaded, np.ndarray) and loaded.tolist() == [[0, 1, 2], [3, 4, 5]]

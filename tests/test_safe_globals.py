"""add_safe_globals / safe_globals: PyTorch checkpoints that name the user's own classes."""

import dataclasses
import threading
import zipfile

import pytest

import ember
from ember.serialization import UnsafeCheckpointError


@dataclasses.dataclass
class RunConfig:
    lr: float
    widths: list


class Counter:
    def __init__(self, n):
        self.n = n


class Stateful:
    def __init__(self):
        self.seen = None

    def __setstate__(self, state):
        self.seen = ("setstate", state)


@pytest.fixture(autouse=True)
def _empty_allow_list():
    ember.serialization.clear_safe_globals()
    yield
    ember.serialization.clear_safe_globals()


def _checkpoint(torch, path):
    torch.save({"config": RunConfig(0.1, [4, 8]), "count": Counter(7), "w": torch.ones(2)}, path)
    return path


def test_a_user_class_is_refused_with_the_way_to_allow_it(tmp_path, torch):
    path = _checkpoint(torch, tmp_path / "run.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"add_safe_globals\(\[RunConfig\]\)"):
        ember.load(path)


def test_safe_globals_lets_the_listed_classes_load_for_one_block(tmp_path, torch):
    path = _checkpoint(torch, tmp_path / "run.pt")
    with ember.serialization.safe_globals([RunConfig, Counter]):
        loaded = ember.load(path, weights_only=True)
    assert loaded["config"] == RunConfig(0.1, [4, 8])
    assert type(loaded["count"]) is Counter and loaded["count"].n == 7
    assert loaded["w"].tolist() == [1.0, 1.0]
    assert ember.serialization.get_safe_globals() == []
    with pytest.raises(UnsafeCheckpointError):
        ember.load(path)


def test_add_safe_globals_is_lasting_and_needs_every_class(tmp_path, torch):
    path = _checkpoint(torch, tmp_path / "run.pt")
    ember.serialization.add_safe_globals([RunConfig])
    with pytest.raises(UnsafeCheckpointError, match="test_safe_globals.Counter"):
        ember.load(path)
    ember.serialization.add_safe_globals([Counter])
    assert ember.load(path)["count"].n == 7
    assert set(ember.serialization.get_safe_globals()) == {RunConfig, Counter}


def test_setstate_is_used_and_renamed_entries_work(tmp_path, torch):
    obj = Stateful()
    obj.__dict__.update(k=3)
    torch.save(obj, tmp_path / "s.pt")
    with ember.serialization.safe_globals([(Stateful, f"{__name__}.Stateful")]):
        loaded = ember.load(tmp_path / "s.pt")
    assert loaded.seen == ("setstate", {"seen": None, "k": 3})


def test_bad_entries_are_refused_before_anything_is_added():
    with pytest.raises(TypeError, match="add_safe_globals"):
        ember.serialization.add_safe_globals([RunConfig, (Counter, 3)])
    assert ember.serialization.get_safe_globals() == []


def test_the_allow_list_is_safe_to_change_from_threads():
    def churn():
        for _ in range(200):
            with ember.serialization.safe_globals([Counter]):
                pass
            ember.serialization.add_safe_globals([RunConfig])

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ember.serialization.get_safe_globals() == [RunConfig]


def test_saving_a_whole_module_says_what_to_do_instead(tmp_path):
    with pytest.raises(TypeError, match=r"model\.state_dict\(\).*load_state_dict"):
        ember.save(ember.nn.Linear(2, 2), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("ember.nn.modules.linear", "NonDynamicallyQuantizableLinear"),
        ("ember.nn.modules.activation", "MultiheadAttention"),
        ("ember.nn.modules.batchnorm", "BatchNorm2d"),
        ("ember.nn.modules.instancenorm", "InstanceNorm1d"),
        ("ember.nn.modules.pixelshuffle", "PixelShuffle"),
    ],
)
def test_module_paths_programs_import_from(path, name):
    import importlib

    found = getattr(importlib.import_module(path), name)
    assert issubclass(
        found, ember.nn.Linear if name.startswith("NonDyn") else getattr(ember.nn, name)
    )


def _pt_file(path, obj):
    import pickle
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        z.writestr("archive/byteorder", "little")
    return path


def _chain(n):
    head = Counter(0)
    for _ in range(1, n):
        head = Counter(head)
    return head


def test_allowed_classes_count_toward_depth_and_memory(tmp_path):
    with ember.serialization.safe_globals([Counter]):
        loaded = ember.load(_pt_file(tmp_path / "ok.pt", _chain(100)))
        assert type(loaded.n.n) is Counter
        # each object nests its state dict: 300 objects are 600 levels
        with pytest.raises(ValueError, match="nested more than 500 levels deep"):
            ember.load(_pt_file(tmp_path / "deep.pt", _chain(300)))
        shared = list(range(5000))  # one memoized list, the state of many objects
        many = _pt_file(tmp_path / "many.pt", [Counter(shared) for _ in range(100)])
        assert ember.load(many)[99].n == shared
        # one memoized state of 10,000 attributes, set on 20,000 objects: each BUILD copies it
        state = b"}q\x01(" + b"".join(b"X\x06\x00\x00\x00a%05dK\x01" % i for i in range(10_000))
        objects = b"h\x00)\x81h\x01b" * 20_000
        data = b"\x80\x02c" + __name__.encode() + b"\nCounter\nq\x000" + state + b"u0]("
        path = tmp_path / "wide.pt"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", data + objects + b"e.")
        with pytest.raises(ValueError, match="crafted to exhaust memory"):
            ember.load(path)

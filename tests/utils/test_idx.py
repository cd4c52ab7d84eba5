"""read_idx and IDXDataset: MNIST's IDX format, plain and gzipped, and its broken files."""

import gzip

import numpy as np
import pytest

import ember
from ember.utils.data import DataLoader
from ember.utils.data.idx import IDXDataset, read_idx
from tests.cli.helpers import idx_bytes, write_idx


@pytest.mark.parametrize(
    "code, values",
    [
        (0x08, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
        (0x09, np.array([-128, -1, 0, 127], dtype=np.int8)),
        (0x0B, np.array([[-30000, 2], [3, 30000]], dtype=np.int16)),
        (0x0C, np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32)),
        (0x0D, np.array([1.5, -2.25, 1e30], dtype=np.float32)),
        (0x0E, np.linspace(-1, 1, 6).reshape(3, 2)),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips_every_type(tmp_path, code, values, gz):
    path = write_idx(tmp_path / "data.idx", values, code=code, gz=gz)
    array = read_idx(path)
    assert array.shape == values.shape
    assert array.dtype == values.dtype and array.dtype.isnative
    np.testing.assert_array_equal(array, values)
    array[...] = 0  # a writable copy, not a view of the file's bytes


def test_read_idx_gzip_is_found_by_content_not_name(tmp_path):
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8))))
    assert read_idx(path).tolist() == [0, 1, 2, 3, 4]
    assert read_idx(str(path)).tolist() == [0, 1, 2, 3, 4]


def test_read_idx_zero_sized_dimension(tmp_path):
    path = write_idx(tmp_path / "empty", np.zeros((0, 28, 28), dtype=np.uint8))
    assert read_idx(path).shape == (0, 28, 28)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic number 0x01000801"),
        (b"PK\x03\x04 not idx at all", "bad magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
        (b"\x00\x00", "shorter than the header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header: 3 dimensions need 16 bytes"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x04\x01\x02", "needs 4 bytes of data, found 2"),
        (b"\x00\x00\x0c\x01\x00\x00\x00\x02\x00\x00\x00\x01", "needs 8 bytes of data, found 4"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "1 unexpected bytes after the data"),
    ],
)
def test_read_idx_rejects_broken_files_naming_them(tmp_path, data, message):
    path = tmp_path / "broken-idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="broken-idx") as info:
        read_idx(path)
    assert message in str(info.value)


def test_read_idx_truncated_and_corrupt_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="gzip stream ends early"):
        read_idx(cut)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(packed[:10] + b"\xff" * 20 + packed[30:])
    with pytest.raises(ValueError, match=r"bad\.gz: (corrupt gzip|the gzip stream ends early)"):
        read_idx(bad)


def test_read_idx_missing_file():
    with pytest.raises(FileNotFoundError):
        read_idx("/nonexistent/train-images-idx3-ubyte")


def test_idx_dataset_like_torchvision_mnist(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 4, 5)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    ds = IDXDataset(
        write_idx(tmp_path / "img.gz", images, gz=True), write_idx(tmp_path / "lab", labels)
    )
    assert len(ds) == 6
    assert ds.data.shape == (6, 4, 5) and ds.data.dtype == ember.uint8
    assert ds.targets.dtype == ember.int64 and ds.targets.tolist() == labels.tolist()
    image, target = ds[2]
    assert isinstance(target, int) and target == 4
    np.testing.assert_array_equal(image.numpy(), images[2])
    batch_images, batch_targets = next(iter(DataLoader(ds, batch_size=4)))
    assert batch_images.shape == (4, 4, 5) and batch_targets.tolist() == [3, 1, 4, 1]


def test_idx_dataset_transforms_and_no_labels(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    path = write_idx(tmp_path / "img", images)
    ds = IDXDataset(
        path,
        write_idx(tmp_path / "lab", np.array([7, 2])),
        transform=lambda t: t.float() / 255,
        target_transform=lambda y: y * 10,
    )
    image, target = ds[1]
    assert image.dtype == ember.float32 and target == 20
    np.testing.assert_allclose(image.numpy(), images[1] / 255, rtol=1e-6)
    unlabeled = IDXDataset(path)
    assert unlabeled.targets is None
    assert unlabeled[0].tolist() == images[0].tolist()


def test_idx_dataset_rejects_mismatched_labels(tmp_path):
    images = write_idx(tmp_path / "img", np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="3 images in .* but 2 labels"):
        IDXDataset(images, write_idx(tmp_path / "lab", np.array([1, 2])))
    with pytest.raises(ValueError, match="labels must be one-dimensional"):
        IDXDataset(images, write_idx(tmp_path / "lab2", np.zeros((3, 2))))


def test_read_idx_streams_a_gzip_bomb_and_stops_at_the_first_extra_byte(tmp_path):
    import tracemalloc

    from tests.hostile_files import idx_gzip_bomb

    path = idx_gzip_bomb(tmp_path / "bomb.gz", mb=64)  # 10 images promised, 64 MB sent
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.gz: more bytes after the data of shape"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # a chunk of decompressed data, never the 64 MB


def test_read_idx_refuses_claims_no_file_of_its_size_can_hold(tmp_path):
    header = b"\x00\x00\x08\x03" + (2**32 - 1).to_bytes(4, "big") * 3
    (tmp_path / "huge").write_bytes(header + b"\x00" * 16)
    with pytest.raises(ValueError, match=r"huge: truncated IDX file: .* needs \d{20,} bytes"):
        read_idx(tmp_path / "huge")
    (tmp_path / "huge.gz").write_bytes(gzip.compress(header + b"\x00" * 16))
    with pytest.raises(ValueError, match="more than a gzip file of .* bytes can hold"):
        read_idx(tmp_path / "huge.gz")


def test_read_idx_gzip_shorter_than_its_header_says(tmp_path):
    data = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    (tmp_path / "short.gz").write_bytes(gzip.compress(data[:-2]))
    with pytest.raises(
        ValueError, match=r"short\.gz: truncated IDX file: .* needs 6 bytes .* found 4"
    ):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "long.gz").write_bytes(gzip.compress(data + b"\x00"))
    with pytest.raises(ValueError, match=r"long\.gz: more bytes after the data of shape \(2, 3\)"):
        read_idx(tmp_path / "long.gz")

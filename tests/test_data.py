"""Data preparation from every source, and refusal of bad data."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from conftest import run_python, small_arrays
from mnist_sweep import data
from mnist_sweep.data import DataError


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_5k_is_a_fixed_stratified_split(mnist_5k_file):
    arrays = data.load_prepared(mnist_5k_file)
    assert arrays["x_train"].shape == (4000, 28, 28) and arrays["x_train"].dtype == np.uint8
    assert arrays["x_test"].shape == (1000, 28, 28)
    assert np.bincount(arrays["y_train"]).tolist() == [400] * 10
    assert np.bincount(arrays["y_test"]).tolist() == [100] * 10
    # Interleaved by class, so the validation split (last 10% of train) is balanced too.
    assert np.bincount(arrays["y_train"][-400:]).tolist() == [40] * 10
    assert arrays["y_train"][:10].tolist() == list(range(10))
    again = data.load_mnist_5k()
    assert np.array_equal(again["x_test"], arrays["x_test"])
    # Real digits, not noise: ink covers a minority of pixels.
    assert 0.05 < (arrays["x_train"] > 128).mean() < 0.3


def test_npz_and_idx_folder_give_the_same_arrays(tmp_path):
    arrays = small_arrays()
    np.savez(tmp_path / "small.npz", **arrays)
    folder = tmp_path / "idx"
    folder.mkdir()
    for key, name in data.IDX_NAMES.items():
        write_idx(folder / name, arrays[key])
    from_npz = data.load_local(tmp_path / "small.npz")
    from_idx = data.load_local(folder)
    for key in arrays:
        assert np.array_equal(from_npz[key], arrays[key])
        assert np.array_equal(from_idx[key], arrays[key])


def test_idx_folder_missing_a_file_is_refused(tmp_path):
    arrays = small_arrays()
    for key, name in list(data.IDX_NAMES.items())[:3]:
        write_idx(tmp_path / name, arrays[key])
    with pytest.raises(DataError, match="missing IDX file"):
        data.load_local(tmp_path)


def test_truncated_idx_file_is_refused(tmp_path):
    path = tmp_path / "t.gz"
    header = bytes([0, 0, 0x08, 3]) + b"".join(int(n).to_bytes(4, "big") for n in (10, 28, 28))
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(100))
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(path)


def test_download_failure_says_how_to_work_offline(tmp_path):
    with pytest.raises(DataError) as error:
        data.download("http://127.0.0.1:9/mnist.npz", tmp_path / "mnist.npz", "sha256", "0" * 64)
    message = str(error.value)
    assert "data_path" in message and "mnist_5k" in message
    assert not (tmp_path / "mnist.npz").exists()
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_corrupted_download_is_removed(tmp_path):
    source = tmp_path / "served.npz"
    source.write_bytes(b"not the real file")
    target = tmp_path / "downloads" / "mnist.npz"
    with pytest.raises(DataError, match="checksum .* does not match"):
        data.download(source.as_uri(), target, "sha256", data.MNIST_FILE[2])
    assert not target.exists()


def test_good_download_is_kept_and_reused(tmp_path):
    arrays = small_arrays()
    source = tmp_path / "served.npz"
    np.savez(source, **arrays)
    digest = data.file_digest(source, "sha256")
    target = tmp_path / "downloads" / "mnist.npz"
    data.download(source.as_uri(), target, "sha256", digest)
    assert data.file_digest(target, "sha256") == digest
    source.unlink()  # a second call must not download again
    data.download(source.as_uri(), target, "sha256", digest)


def test_command_line_refuses_bad_file_with_one_line(tmp_path):
    arrays = small_arrays()
    arrays["y_train"][3] = 12
    np.savez(tmp_path / "bad.npz", **arrays)
    result = run_python("-m", "mnist_sweep.data", "--dataset", "mnist", "--data-path", str(tmp_path / "bad.npz"),
                        "--out", str(tmp_path / "out.npz"))
    assert result.returncode == 1
    assert "y_train holds labels 0..12; need labels 0-9" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("content", [b"corrupted", b"PK\x03\x04 not a whole zip", b""])
def test_damaged_prepared_data_says_to_delete_it(tmp_path, content):
    from mnist_sweep.data import DataError, load_prepared

    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="mnist.npz is damaged .*delete it and run the same command again"):
        load_prepared(path)

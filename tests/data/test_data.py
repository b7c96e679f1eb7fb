"""Download and preprocessing on the real MNIST mirror: no TensorFlow needed here."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import LOCAL_TRANSFER, data_config
from mnist_pipeline.data.download import MNIST_FILES, download_mnist, sha256_of
from mnist_pipeline.data.idx import read_idx
from mnist_pipeline.data.preprocess import load_split, one_hot, preprocess, scale_images, take_subset, validation_cut
from mnist_pipeline.plumbing.errors import DataError


def test_download_from_a_folder_gives_the_pinned_files(raw_dir: Path) -> None:
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(f.name for f in MNIST_FILES)
    for raw in MNIST_FILES:
        assert sha256_of(raw_dir / raw.name) == raw.sha256


def test_download_from_a_file_url_skips_a_broken_first_mirror(tmp_path: Path, mnist_mirror: Path) -> None:
    missing = tmp_path / "nowhere"
    download_mnist(tmp_path / "raw", [str(missing), mnist_mirror.resolve().as_uri()], LOCAL_TRANSFER)
    assert len(list((tmp_path / "raw").iterdir())) == len(MNIST_FILES)


def test_corrupt_mirror_fails_naming_the_hashes_and_leaves_no_file(tmp_path: Path, mnist_mirror: Path) -> None:
    bad = tmp_path / "bad-mirror"
    shutil.copytree(mnist_mirror, bad)
    (bad / "train-labels-idx1-ubyte.gz").chmod(0o644)
    with gzip.open(bad / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + b"\x00" * 100)
    dest = tmp_path / "raw"
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.*expected 65a50cbb.*got") as caught:
        download_mnist(dest, [str(bad)], LOCAL_TRANSFER)
    assert str(caught.value).splitlines()[1].startswith(f"  {bad}/train-labels-idx1-ubyte.gz: SHA-256 mismatch")
    assert not (dest / "train-labels-idx1-ubyte").exists()
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []


def test_only_training_imports_tensorflow(mnist_mirror: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from mnist_pipeline.data.download import Transfer, download_mnist; "
        f"download_mnist(__import__('pathlib').Path({str(tmp_path)!r}), [{str(mnist_mirror)!r}], Transfer(10, 0, 0)); "
        "from mnist_pipeline.learn import evaluation; from mnist_pipeline.stages import evaluate, preprocess; "
        "from mnist_pipeline.tracking import store; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_truncated_idx_file_is_reported(raw_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "t10k-labels-idx1-ubyte"
    cut.write_bytes((raw_dir / "t10k-labels-idx1-ubyte").read_bytes()[:5000])
    with pytest.raises(DataError, match="holds 5000 bytes but its header"):
        read_idx(cut)


def test_scaling_and_one_hot_match_the_reference_math() -> None:
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8).repeat(14, axis=1).repeat(14, axis=2)
    scaled = scale_images(images)
    assert scaled.dtype == np.float32 and scaled.shape == (1, 28, 28, 1)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(scaled[0, 0, 14:, 0], np.float32(255) / np.float32(255.0))
    labels = one_hot(np.array([3, 0, 9]))
    expected = np.zeros((3, 10), dtype=np.float32)
    expected[0, 3] = expected[1, 0] = expected[2, 9] = 1.0  # a 1 at the digit, 0 everywhere else
    assert labels.dtype == np.float32 and labels.shape == (3, 10)
    np.testing.assert_array_equal(labels, expected)


def test_validation_cut_matches_keras_validation_split() -> None:
    assert validation_cut(60000, 0.2) == 48000
    assert validation_cut(1001, 0.2) == 800  # floor(1001 * 0.8)


def test_stratified_subset_balances_digits(raw_dir: Path) -> None:
    labels = read_idx(raw_dir / "train-labels-idx1-ubyte")
    images = read_idx(raw_dir / "train-images-idx3-ubyte")
    _, first = take_subset(images, labels, 1000, "first")
    _, stratified = take_subset(images, labels, 1000, "stratified")
    assert len(first) == len(stratified) == 1000
    assert np.bincount(stratified, minlength=10).tolist() == [100] * 10
    assert np.bincount(first, minlength=10).tolist() != [100] * 10


def test_preprocess_writes_reference_splits(raw_dir: Path, tmp_path: Path) -> None:
    sizes = preprocess(raw_dir, tmp_path / "processed", data_config())
    assert sizes == {"train": 48000, "val": 12000, "test": 10000}
    val = load_split(tmp_path / "processed", "val")
    raw_labels = read_idx(raw_dir / "train-labels-idx1-ubyte")
    np.testing.assert_array_equal(val.y.argmax(axis=1), raw_labels[48000:])  # the *last* 20 %
    # Stored one-hot, exactly: 1.0 at the digit and 0.0 elsewhere, float32 (what Keras' loss expects).
    assert val.y.dtype == np.float32
    np.testing.assert_array_equal(val.y, (raw_labels[48000:, None] == np.arange(10)).astype(np.float32))
    assert val.x.shape == (12000, 28, 28, 1) and val.x.dtype == np.float32


def test_subset_larger_than_data_is_rejected() -> None:
    images, labels = np.zeros((50, 28, 28), dtype=np.uint8), np.arange(50) % 10
    with pytest.raises(DataError, match=r"data\.subset=60 is larger than the 50 training images"):
        take_subset(images, labels, 60, "first")

"""Corrupt raw and processed files: each read fails with a one-line error naming the file and
the command that repairs it, and nothing downstream is written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, data_config, pipeline_env, run
from mnist_pipeline.data.download import MNIST_FILES
from mnist_pipeline.data.preprocess import StoredSplit, load_split, preprocess, save_splits
from mnist_pipeline.plumbing.errors import DataError

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def damaged_copy(raw_dir: Path, dest: Path, name: str, damage: Callable[[bytes], bytes | None]) -> Path:
    """`raw_dir` with file `name` rewritten by `damage` (removed if it returns None)."""
    dest.mkdir()
    for raw in MNIST_FILES:
        if raw.name != name:
            (dest / raw.name).symlink_to(raw_dir / raw.name)
    blob = damage((raw_dir / name).read_bytes())
    if blob is not None:
        (dest / name).write_bytes(blob)
    return dest


def with_label(blob: bytes, value: int) -> bytes:
    return blob[:-1] + bytes([value])


def as_flat_images(blob: bytes) -> bytes:
    """The same pixels declared as (60000, 784): a valid IDX file of the wrong shape."""
    return b"\x00\x00\x08\x02" + (60000).to_bytes(4, "big") + (784).to_bytes(4, "big") + blob[16:]


def one_label_short(blob: bytes) -> bytes:
    return blob[:4] + (59999).to_bytes(4, "big") + blob[8:-1]


RAW_DAMAGE = {
    "bad magic number": (LABELS, lambda b: b"\x00\x00\x0d\x01" + b[4:], "is not an unsigned-byte IDX file"),
    "truncated": (IMAGES, lambda b: b[: len(b) // 2], r"holds 23520008 bytes but its header \(60000, 28, 28\) needs"),
    "label out of range": (LABELS, lambda b: with_label(b, 11), "has a label 11 outside 0-9"),
    "count mismatch": (LABELS, one_label_short, r"holds \(59999,\) labels for 60000 images"),
    "wrong image shape": (IMAGES, as_flat_images, r"holds images of shape \(784,\), expected 28x28"),
    "missing": (LABELS, lambda b: None, "cannot read .*: No such file or directory"),
}


@pytest.mark.parametrize("case", list(RAW_DAMAGE))
def test_corrupt_raw_file_fails_preprocessing_naming_it(raw_dir: Path, tmp_path: Path, case: str) -> None:
    name, damage, message = RAW_DAMAGE[case]
    raw = damaged_copy(raw_dir, tmp_path / "raw", name, damage)
    with pytest.raises(DataError, match=message) as caught:
        preprocess(raw, tmp_path / "processed", data_config())
    text = str(caught.value)
    assert "\n" not in text and str(raw / name) in text and text.endswith("rerun `dvc repro download`")
    assert not (tmp_path / "processed").exists()
    assert list(tmp_path.iterdir()) == [raw]


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    """A small processed folder, as the preprocess stage writes it."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    save_splits({"train": StoredSplit(images, np.arange(20, dtype=np.uint8) % 10)}, tmp_path / "processed")
    return tmp_path / "processed"


PROCESSED_DAMAGE = {
    "truncated": (lambda d: _truncate(d / "x_train.npy"), "cannot read the train split"),
    "missing": (lambda d: (d / "y_train.npy").unlink(), "cannot read the train split .*No such file"),
    "wrong dtype": (lambda d: np.save(d / "x_train.npy", np.zeros((20, 28, 28))), r"images float64\(20, 28, 28\)"),
    "one-hot labels": (lambda d: np.save(d / "y_train.npy", np.eye(10, dtype=np.uint8)), r"labels uint8\(10, 10\)"),
    "length mismatch": (lambda d: np.save(d / "y_train.npy", np.zeros(19, np.uint8)), "20 images for 19"),
    "label out of range": (lambda d: np.save(d / "y_train.npy", np.full(20, 10, np.uint8)), "label 10 outside 0-9"),
}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize("case", list(PROCESSED_DAMAGE))
def test_corrupt_processed_split_is_refused(processed: Path, case: str) -> None:
    damage, message = PROCESSED_DAMAGE[case]
    damage(processed)
    with pytest.raises(DataError, match=message) as caught:
        load_split(processed, "train")
    assert "\n" not in str(caught.value) and str(caught.value).endswith("run `dvc repro preprocess`")


def test_preprocess_stage_exits_1_and_writes_nothing(raw_dir: Path, tmp_path: Path, mnist_mirror: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    damaged_copy(raw_dir, tmp_path / "raw", LABELS, lambda b: with_label(b, 200))
    script = [str(REPO / "pipelines/preprocess.py"), "--raw", "raw", "--out", "processed"]
    done = run(["python", *script], tmp_path, pipeline_env(mnist_mirror), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: raw/{LABELS} has a label 200 outside 0-9; rerun `dvc repro download`"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "raw"]


def test_train_stage_on_a_corrupt_split_records_no_run(processed: Path, tmp_path: Path, mnist_mirror: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    _truncate(processed / "x_train.npy")
    script = [str(REPO / "pipelines/train.py"), "--data", "processed", "--out", "models", "--history", "h.csv"]
    script += ["--figures", "figures"]
    done = run(["python", *script], tmp_path, pipeline_env(mnist_mirror), check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot read the train split in processed") and "\n" not in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml", "processed"]  # no store, no model

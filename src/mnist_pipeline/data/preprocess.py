"""The reference preprocessing: pixels to float32 in [0, 1], labels one-hot, the last
`val_fraction` of the training set held out for validation (as Keras' `validation_split`).

The preprocess stage stores each split as the raw uint8 pixels and digit labels (a quarter of
the bytes of float32 arrays for DVC to write, hash and cache); `load_split` scales and
one-hot encodes them exactly as the reference script does, so what training sees is the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_pipeline.data.idx import REFETCH, read_idx
from mnist_pipeline.plumbing.errors import DataError, one_line
from mnist_pipeline.plumbing.files import atomic_dir

if TYPE_CHECKING:  # not at run time: `predict` scales images without loading OmegaConf
    from mnist_pipeline.config import DataConfig

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
SPLITS = ("train", "val", "test")
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1]
    y: np.ndarray  # float32 (N, 10) one-hot

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class StoredSplit:
    """A split as the preprocess stage stores it."""

    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # uint8 (N,), digits 0-9

    def __len__(self) -> int:
        return len(self.images)

    def scaled(self) -> Split:
        return Split(scale_images(self.images), one_hot(self.labels))


PIXEL_SCALE = 255.0  # stored pixels (uint8) / PIXEL_SCALE, in float32: the model's input


def scale_images(images: np.ndarray) -> np.ndarray:
    return images.astype("float32").reshape(-1, *IMAGE_SHAPE) / PIXEL_SCALE


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype="float32")[labels]


def take_subset(
    images: np.ndarray, labels: np.ndarray, size: int | None, strategy: str
) -> tuple[np.ndarray, np.ndarray]:
    """The first `size` examples, or (stratified) the first `size / 10` of each digit, in data order."""
    if size is None:
        return images, labels
    if size > len(labels):
        raise DataError(f"data.subset={size} is larger than the {len(labels)} training images; lower it or set null")
    if strategy == "first":
        return images[:size], labels[:size]
    per_class = size // NUM_CLASSES
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(NUM_CLASSES)]))
    return images[keep], labels[keep]


def validation_cut(n: int, val_fraction: float) -> int:
    """Index where validation starts: Keras' `floor(n * (1 - validation_split))`."""
    cut = math.floor(n * (1.0 - val_fraction))
    if cut in (0, n):
        raise DataError(f"{n} training images cannot be split with data.val_fraction={val_fraction}")
    return cut


def load_raw(raw_dir: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """One part's images and labels, checked: 28x28 images, one label in 0-9 per image."""
    images_name, labels_name = RAW_FILES[part]
    images, labels = read_idx(raw_dir / images_name), read_idx(raw_dir / labels_name)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[:2]:
        raise DataError(f"{raw_dir / images_name} holds images of shape {images.shape[1:]}, expected 28x28; {REFETCH}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{raw_dir / labels_name} holds {labels.shape} labels for {len(images)} images; {REFETCH}")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{raw_dir / labels_name} has a label {labels.max()} outside 0-9; {REFETCH}")
    return images, labels


def make_splits(raw_dir: Path, config: DataConfig) -> dict[str, StoredSplit]:
    images, labels = take_subset(*load_raw(raw_dir, "train"), config.subset, config.subset_strategy)
    cut = validation_cut(len(labels), config.val_fraction)
    return {
        "train": StoredSplit(images[:cut], labels[:cut]),
        "val": StoredSplit(images[cut:], labels[cut:]),
        "test": StoredSplit(*load_raw(raw_dir, "test")),
    }


def save_splits(splits: dict[str, StoredSplit], out_dir: Path) -> None:
    """One `.npy` per array; the folder appears whole or not at all."""
    with atomic_dir(out_dir) as tmp:
        for name, split in splits.items():
            np.save(tmp / f"x_{name}.npy", split.images)
            np.save(tmp / f"y_{name}.npy", split.labels)


def load_stored_split(data_dir: Path, name: str) -> StoredSplit:
    """A split as stored, checked against what preprocess writes, so that a truncated or
    foreign file fails here with one line."""
    fix = "run `dvc repro preprocess`"
    try:
        split = StoredSplit(*(np.load(data_dir / f"{part}_{name}.npy") for part in ("x", "y")))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the {name} split in {data_dir} ({one_line(exc)}); {fix}") from None
    x, y = split.images, split.labels
    if x.dtype != np.uint8 or x.shape[1:] != IMAGE_SHAPE[:2] or y.dtype != np.uint8 or y.ndim != 1:
        raise DataError(
            f"the {name} split in {data_dir} holds images {x.dtype}{x.shape} and labels {y.dtype}{y.shape}, "
            f"expected uint8 (N, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) and (N,); {fix}"
        )
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"the {name} split in {data_dir} holds {len(x)} images for {len(y)} labels; {fix}")
    if y.max() >= NUM_CLASSES:
        raise DataError(f"the {name} split in {data_dir} has a label {y.max()} outside 0-9; {fix}")
    return split


def load_split(data_dir: Path, name: str) -> Split:
    """A processed split as the model sees it: float32 pixels in [0, 1], one-hot labels."""
    return load_stored_split(data_dir, name).scaled()


def preprocess(raw_dir: Path, out_dir: Path, config: DataConfig) -> dict[str, int]:
    """Turn raw IDX files into train/val/test arrays; returns each split's size."""
    splits = make_splits(raw_dir, config)
    save_splits(splits, out_dir)
    return {name: len(split) for name, split in splits.items()}

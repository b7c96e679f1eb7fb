"""Variants of the MNIST test set that mimic digits written unlike MNIST, to measure how well a
model holds up on them (the evaluate stage's robustness accuracies).

- `lowres`: each digit reduced to 8x8 pixels with 16 grey levels (as in scikit-learn's
  `load_digits`), then prepared by `imageprep.to_mnist`, exactly as `mnist-pipeline predict`
  prepares such an 8x8 image;
- `thick` / `thin`: strokes one pixel wider / narrower (a bolder or a finer pen);
- `rotated`: turned by up to ROTATION degrees either way (a slanted hand);
- `shifted`: moved by up to SHIFT pixels each way (a digit not centred by its centre of mass).

Each is built with NumPy for the whole set at once (the lowres digits go through `to_mnist` one
by one, as `predict` takes them, in forked workers), from fixed seeds: the same images every
run. The preprocess stage builds them once per data (`save`, one `<name>.npy` each, kept by
DVC) and the evaluate stage scores every trained model on them (`load`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.data.preprocess import IMAGE_SHAPE
from mnist_pipeline.learn.evaluation import accuracy
from mnist_pipeline.plumbing.children import cores, map_in_forked_workers
from mnist_pipeline.plumbing.errors import DataError
from mnist_pipeline.plumbing.files import atomic_dir
from mnist_pipeline.predict.imageprep import to_mnist
from mnist_pipeline.predict.runtimes import Classifier, probabilities_of

VARIANTS = ("lowres", "thick", "thin", "rotated", "shifted")
# scikit-learn's digits (the UCI optical digits): 8x8 pixels, 16 grey levels (0-15 here; 0-16
# there), a common source of small digits; at that size a stroke is about a pixel wide.
LOWRES_SIDE = 8
LOWRES_LEVELS = 16
# Grey dilation / erosion over a 2x2 square: MNIST's strokes (2.9 px, imageprep.STROKE_WIDTH)
# become about 3.9 / 1.9 px, a bolder or a finer pen at MNIST's scale. 3x3 would add or take
# two pixels: under erosion a stroke would be left about a pixel wide, and fainter ones gone.
STROKE_SQUARE = 2
# Up to 15 degrees either way: a hand that slants, or a page scanned askew; small enough that
# each digit stays itself (a 6 turned far enough reads as a 9, a 1 as a 7).
ROTATION = 15.0
ROTATION_STEPS = 30  # angles in steps of ROTATION / ROTATION_STEPS = 0.5 degrees, drawn uniformly
# Up to 3 pixels each way: about how far centring by bounding box (not by centre of mass, as
# MNIST does) or a loose crop moves a digit; the 20x20 digit in its 28x28 field stays whole
# (but for a few strokes near the edge).
SHIFT = 3
LOWRES_PER_WORKER = 2000  # fewer images than this a worker are prepared here: a fork would not pay
SEED = 13  # one generator, drawn in image order: image i gets the same angle and shift every run


def accuracies(classifier: Classifier, built: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """The share of each variant (`build`, `load`) that `classifier` reads as `labels` (digits), by name."""
    return {name: accuracy(probabilities_of(classifier, images), labels) for name, images in built.items()}


def build(images: np.ndarray) -> dict[str, np.ndarray]:
    """Every variant of `images` (uint8 (n, 28, 28), as MNIST stores them), by name (VARIANTS'
    order), each uint8 (n, 28, 28) as an 8-bit image file would hold it."""
    rng = np.random.default_rng(SEED)
    steps = rng.integers(-ROTATION_STEPS, ROTATION_STEPS + 1, len(images))
    offsets = rng.integers(-SHIFT, SHIFT + 1, (len(images), 2))
    return {
        "lowres": _prepared_lowres_in_workers(images),
        "thick": _square_filter(images, np.maximum),
        "thin": _square_filter(images, np.minimum),
        "rotated": rotate(images, steps * (ROTATION / ROTATION_STEPS)),
        "shifted": shift(images, offsets),
    }


def for_training(images: np.ndarray) -> list[np.ndarray]:
    """The training images' variants named by config.TRAINING_VARIANTS, in its order, uint8
    (n, 28, 28) each, row for row: what `model.augment.variants` swaps in. Rotations and
    shifts are the augmentation layers' job."""
    return [_prepared_lowres_in_workers(images), _square_filter(images, np.maximum), _square_filter(images, np.minimum)]


def save(built: dict[str, np.ndarray], folder: Path) -> None:
    """The variants (`build`) as `<name>.npy` files in `folder`, replacing it atomically."""
    with atomic_dir(folder) as tmp:
        for name, images in built.items():
            np.save(tmp / f"{name}.npy", images)


def load(folder: Path, count: int) -> dict[str, np.ndarray]:
    """The variants `save` wrote into `folder`, each checked to hold `count` images like the test set's."""
    fix = "run `dvc repro preprocess`"
    built = {}
    for name in VARIANTS:
        path = folder / f"{name}.npy"
        try:
            images = np.load(path, mmap_mode="r")  # read as scored, a batch at a time
        except (OSError, ValueError):
            raise DataError(f"{path} is missing or unreadable; {fix}") from None
        if images.dtype != np.uint8 or images.shape != (count, *IMAGE_SHAPE[:2]):
            raise DataError(
                f"{path} holds images {images.dtype}{images.shape}, not the test set's {count} uint8 "
                f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images; {fix}"
            )
        built[name] = images
    return built


def _prepared_lowres_in_workers(images: np.ndarray) -> np.ndarray:
    """The `lowres` variant of `images`; the digits, prepared one by one as `predict` would, are
    most of the cost of the variants: split over forked workers, one per core."""
    chunks = np.array_split(images, max(1, min(cores(), len(images) // LOWRES_PER_WORKER)))
    return np.concatenate(map_in_forked_workers(_prepared_lowres_of, chunks, len(chunks)))


def _prepared_lowres_of(images: np.ndarray) -> np.ndarray:
    """The `lowres` variant of `images`: reduced to 8x8, then prepared as `predict` prepares it."""
    return prepared_lowres(lowres(images))


def lowres(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) 0-255 -> (n, 8, 8) grey levels 0 to LOWRES_LEVELS - 1: each small pixel the
    mean of the 3.5x3.5 pixels it covers (area averaging, as two matrix products), quantised."""
    rows, cols = _area_weights(images.shape[1]), _area_weights(images.shape[2])
    means = rows @ images.astype(np.float32) @ cols.T
    return np.round(means * np.float32((LOWRES_LEVELS - 1) / 255.0)).astype(np.uint8)


def prepared_lowres(levels: np.ndarray) -> np.ndarray:
    """Small grey-level images (0 to LOWRES_LEVELS - 1, white on black) as `mnist-pipeline predict`
    prepares them: an 8-bit image file of them (levels stretched to 0-255), read by `to_mnist`."""
    gray = levels * np.float32(255.0 / (LOWRES_LEVELS - 1))
    return np.stack([to_mnist(image) for image in gray])


def _area_weights(size: int) -> np.ndarray:
    """(LOWRES_SIDE, size): row j holds the share of each of `size` unit pixels in the j-th of
    LOWRES_SIDE equal bins, over the bin's width (each row sums to 1)."""
    edges = np.linspace(0.0, size, LOWRES_SIDE + 1)
    starts, ends = np.arange(size), np.arange(1, size + 1)
    overlap = np.minimum(ends[None, :], edges[1:, None]) - np.maximum(starts[None, :], edges[:-1, None])
    return (np.clip(overlap, 0.0, None) / (size / LOWRES_SIDE)).astype(np.float32)


def _square_filter(images: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """Grey dilation (`np.maximum`) or erosion (`np.minimum`) over a STROKE_SQUARE square."""
    n, height, width = images.shape
    margin = STROKE_SQUARE - 1
    padded = np.zeros((n, height + margin, width + margin), dtype=images.dtype)
    padded[:, :height, :width] = images
    result = images.copy()
    for row in range(STROKE_SQUARE):
        for col in range(STROKE_SQUARE):
            if row or col:
                pick(result, padded[:, row : row + height, col : col + width], out=result)
    return result


def rotate(images: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Each uint8 image turned by its angle (counter-clockwise, about the field's centre;
    bilinear, black outside). The images that share an angle are turned together: one index
    per angle."""
    n, height, width = images.shape
    pad = int(np.ceil(max(height, width) / 4))  # a turn of up to 30 degrees samples only inside this margin
    stride = width + 2 * pad
    padded = np.zeros((n, height + 2 * pad, stride), dtype=np.float32)
    padded[:, pad : pad + height, pad : pad + width] = images
    flat = padded.reshape(n, -1)
    rows, cols = np.indices((height, width))
    y, x = (rows - (height - 1) / 2).ravel(), (cols - (width - 1) / 2).ravel()
    result = np.empty((n, height * width), dtype=np.uint8)
    angles, groups = np.unique(degrees, return_inverse=True)
    for group, angle in enumerate(angles):
        chosen = np.flatnonzero(groups == group)
        cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        # Where each output pixel comes from (the inverse turn), in the padded field: all positive.
        source_row = cos * y + sin * x + (height - 1) / 2 + pad
        source_col = cos * x - sin * y + (width - 1) / 2 + pad
        top, left = source_row.astype(np.intp), source_col.astype(np.intp)
        down, right = (source_row - top).astype(np.float32), (source_col - left).astype(np.float32)
        corner = top * stride + left
        group_images = flat[chosen]
        upper, lower = group_images[:, corner], group_images[:, corner + stride]
        upper += (group_images[:, corner + 1] - upper) * right
        lower += (group_images[:, corner + stride + 1] - lower) * right
        upper += (lower - upper) * down
        result[chosen] = np.round(upper)
    return result.reshape(n, height, width)


def shift(images: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each image moved by its (down, right) offset in whole pixels, black where it left."""
    n, height, width = images.shape
    pad = int(np.abs(offsets).max(initial=0))
    padded = np.zeros((n, height + 2 * pad, width + 2 * pad), dtype=images.dtype)
    padded[:, pad : pad + height, pad : pad + width] = images
    rows = np.arange(height)[None, :] - offsets[:, :1] + pad
    cols = np.arange(width)[None, :] - offsets[:, 1:] + pad
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

"""Each epoch's training images, drawn afresh from the training's seed and the epoch's number
(the same runs train on the same images):

- `model.augment.variants`: a share of the images swapped for a variant of the same digit (at
  8x8 pixels as `predict` prepares it, or drawn with a thicker or a thinner pen);
- `model.augment.shift` with nearest-pixel resampling: each image moved by whole pixels, the
  same random shift Keras' RandomTranslation layer draws, done here on the stored pixels
  instead of inside the model's graph: under 0.1 s an epoch for 54,000 images instead of about
  1 s of a small CNN's 6.5 s on 2 CPU cores (measured), and nothing of it in the saved model.

The variants are built once, before training (the stage hands them over), and stacked with the
images into one uint8 array; an epoch picks rows of it, moves them, and scales only those.
Scaling the whole stack up front instead (four times the training set, 0.7 GB as float32) cost
seconds before the first epoch and more per epoch to gather from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mnist_pipeline.data.preprocess import IMAGE_SHAPE, scale_images

_SHIFT_STREAM = 1  # the shifts' random stream, apart from the variant picks'


@dataclass(frozen=True)
class EpochImages:
    images: np.ndarray  # uint8 (n, 28, 28): the training images as stored
    variants: tuple[np.ndarray, ...]  # uint8 (n, 28, 28) each, row for row with `images`
    share: float  # of the images an epoch swaps for a variant (0: none)
    seed: int
    weights: tuple[float, ...]  # how the swapped images divide among `variants` (model.augment.variant_weights)
    shift: float = 0.0  # the largest move, in pixels, each way (0: none); rounded to whole pixels per image

    @functools.cached_property
    def stacked(self) -> np.ndarray:
        """The images, then each variant, as stored (uint8, shaped as model input)."""
        return np.concatenate([self.images, *self.variants]).reshape(-1, *IMAGE_SHAPE)

    def epoch_rows(self, epoch: int) -> np.ndarray:
        """Row i of `epoch`'s training images, as a row of `stacked`: image i itself or, for a
        `share` of them drawn afresh each epoch, one of its variants (drawn by `weights`)."""
        count = len(self.images)
        if not self.share:
            return np.arange(count)
        rng = np.random.default_rng((self.seed, epoch))
        swapped = rng.random(count) < self.share
        chances = np.asarray(self.weights, dtype=float) / sum(self.weights)
        which = np.where(swapped, rng.choice(len(self.variants), count, p=chances) + 1, 0)
        return np.arange(count) + count * which

    def epoch_shifts(self, epoch: int) -> np.ndarray:
        """Each of `epoch`'s images' move (rows, columns), in whole pixels: a uniform draw within
        `shift` each way, rounded, as a nearest-pixel RandomTranslation moves an image."""
        rng = np.random.default_rng((self.seed, epoch, _SHIFT_STREAM))
        return np.rint(rng.uniform(-self.shift, self.shift, (len(self.images), 2))).astype(int)

    def epoch_pixels(self, epoch: int) -> np.ndarray:
        """`epoch`'s training images as stored pixels (uint8, shaped as model input), row for row with the labels."""
        pixels = self.stacked[self.epoch_rows(epoch)]
        return moved(pixels, self.epoch_shifts(epoch)) if self.shift else pixels

    def epoch_images(self, epoch: int) -> np.ndarray:
        """`epoch`'s training images (model input, scaled as `load_split` scales), row for row with the labels."""
        return scale_images(self.epoch_pixels(epoch))


def moved(pixels: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each image (n, height, width, ...) moved by its (rows, columns) in whole pixels, zeros
    (MNIST's background) filling in: one slice copy per distinct move, not per image."""
    out = np.zeros_like(pixels)
    height, width = pixels.shape[1:3]
    for down, right in np.unique(shifts, axis=0):
        chosen = np.flatnonzero((shifts[:, 0] == down) & (shifts[:, 1] == right))
        target = (chosen, _span(down, height), _span(right, width))
        out[target] = pixels[chosen][:, _span(-down, height), _span(-right, width)]
    return out


def _span(offset: int, size: int) -> slice:
    """Where a line of `size` pixels lands once moved by `offset` (clipped to the image)."""
    return slice(max(offset, 0), size + min(offset, 0))

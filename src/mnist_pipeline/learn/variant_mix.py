"""Train-time augmentation with the digits a model meets outside MNIST: each epoch, a share of
the training images is swapped for a variant of the same digit (at 8x8 pixels as `predict`
prepares it, or drawn with a thicker or a thinner pen; `model.augment.variants`).

The variants are built once, before training (the stage hands them over), and scaled once
with the images into one array; an epoch only picks rows of it (the fused loop gathers them
with the epoch's shuffle, at no extra cost). The picks come from the training's
seed and the epoch's number: the same runs pick the same images.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mnist_pipeline.data.preprocess import scale_images


@dataclass(frozen=True)
class VariantMix:
    images: np.ndarray  # uint8 (n, 28, 28): the training images as stored
    variants: tuple[np.ndarray, ...]  # uint8 (n, 28, 28) each, row for row with `images`
    share: float  # of the images an epoch swaps
    seed: int
    weights: tuple[float, ...]  # how the swapped images divide among `variants` (model.augment.variant_weights)

    @functools.cached_property
    def stacked(self) -> np.ndarray:
        """The images, then each variant, as model input (float32, scaled as `load_split`
        scales): scaled once, so that an epoch only gathers rows from it."""
        return scale_images(np.concatenate([self.images, *self.variants]))

    def epoch_rows(self, epoch: int) -> np.ndarray:
        """Row i of `epoch`'s training images, as a row of `stacked`: image i itself or, for a
        `share` of them drawn afresh each epoch, one of its variants (drawn by `weights`)."""
        rng = np.random.default_rng((self.seed, epoch))
        count = len(self.images)
        swapped = rng.random(count) < self.share
        chances = np.asarray(self.weights, dtype=float) / sum(self.weights)
        which = np.where(swapped, rng.choice(len(self.variants), count, p=chances) + 1, 0)
        return np.arange(count) + count * which

    def epoch_images(self, epoch: int) -> np.ndarray:
        """`epoch`'s training images (model input), row for row with the labels."""
        return self.stacked[self.epoch_rows(epoch)]

"""Train-time augmentation with the digits a model meets outside MNIST: each epoch, a share of
the training images is swapped for a variant of the same digit (at 8x8 pixels as `predict`
prepares it, or drawn with a thicker or a thinner pen; `model.augment.variants`).

The variants are built once, before training (the stage hands them over); an epoch only picks
rows, so the cost per epoch is a copy of the training set. The picks come from the training's
seed and the epoch's number: the same runs pick the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_pipeline.data.preprocess import scale_images


@dataclass(frozen=True)
class VariantMix:
    images: np.ndarray  # uint8 (n, 28, 28): the training images as stored
    variants: tuple[np.ndarray, ...]  # uint8 (n, 28, 28) each, row for row with `images`
    share: float  # of the images an epoch swaps, spread evenly over the variants
    seed: int

    def epoch_images(self, epoch: int) -> np.ndarray:
        """The model input for `epoch` (float32, scaled as `load_split` scales): the training
        images, with a `share` of them, drawn afresh, replaced by one of their variants."""
        rng = np.random.default_rng((self.seed, epoch))
        count = len(self.images)
        swapped = rng.random(count) < self.share
        which = np.where(swapped, rng.integers(1, len(self.variants) + 1, count), 0)
        mixed = self.images.copy()
        for number, variant in enumerate(self.variants, start=1):
            rows = which == number
            mixed[rows] = variant[rows]
        return scale_images(mixed)

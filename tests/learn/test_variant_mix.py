"""`model.augment.variants`: each epoch a share of the training images is swapped for the same
digit at 8x8 pixels or drawn with a thicker or a thinner pen; a CNN trained so reads such digits
far better, on real MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, data_config
from mnist_pipeline.config import TRAINING_VARIANTS, validate
from mnist_pipeline.data.preprocess import load_raw, load_split, load_stored_split, preprocess, scale_images
from mnist_pipeline.learn.variant_mix import VariantMix
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.predict import variants
from mnist_pipeline.stages import params
from mnist_pipeline.stages.train import variant_mix

SUBSET = 4000  # training images: enough for the effect to show after two epochs
EVEN = (1.0, 1.0, 1.0)  # lowres, thick, thin


@pytest.fixture(scope="module")
def processed(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    preprocess(raw_dir, out, data_config(subset=SUBSET))
    return out


@pytest.fixture(scope="module")
def mix(processed: Path) -> VariantMix:
    images = load_stored_split(processed, "train").images
    return VariantMix(images, tuple(variants.for_training(images)), share=0.3, seed=1, weights=EVEN)


def which_variant(mix: VariantMix, epoch_images: np.ndarray) -> np.ndarray:
    """Per row: 0 for the original image, k for the k-th variant (-1: none of them)."""
    versions = [mix.images, *mix.variants]
    found = np.full(len(mix.images), -1)
    for number, version in reversed(list(enumerate(versions))):  # the original wins where they agree
        found[np.all(epoch_images == scale_images(version), axis=(1, 2, 3))] = number
    return found


def test_an_epoch_swaps_a_share_of_the_images_for_their_variants_evenly(mix: VariantMix) -> None:
    found = which_variant(mix, mix.epoch_images(0))
    assert (found >= 0).all(), "every row is its own image or one of its own variants"
    swapped = found > 0
    assert 0.25 < swapped.mean() < 0.35
    counts = np.bincount(found[swapped], minlength=len(mix.variants) + 1)[1:]
    assert counts.min() > 0.8 * counts.max(), f"variants drawn unevenly: {counts}"


def test_the_variant_weights_divide_the_swapped_images(mix: VariantMix) -> None:
    weighted = VariantMix(mix.images, mix.variants, 0.3, seed=1, weights=(2.0, 1.0, 1.0))
    found = which_variant(weighted, weighted.epoch_images(0))
    counts = np.bincount(found[found > 0], minlength=len(mix.variants) + 1)[1:]
    shares = counts / counts.sum()
    assert 0.45 < shares[0] < 0.55 and 0.2 < shares[1] < 0.3 and 0.2 < shares[2] < 0.3, f"drawn as {counts}"


def test_each_epoch_draws_afresh_and_the_same_seed_draws_the_same(mix: VariantMix) -> None:
    first, second = mix.epoch_images(0), mix.epoch_images(1)
    assert np.array_equal(first, mix.epoch_images(0))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, VariantMix(mix.images, mix.variants, 0.3, 1, EVEN).epoch_images(0))
    assert not np.array_equal(first, VariantMix(mix.images, mix.variants, 0.3, 2, EVEN).epoch_images(0))


def test_training_variants_are_the_evaluated_ones(raw_dir: Path) -> None:
    """Built in forked workers for a whole training set, the same images as the evaluate stage's
    lowres, thick and thin test-set variants."""
    images = load_raw(raw_dir, "test")[0][: 2 * variants.LOWRES_PER_WORKER]
    built = variants.build(images)
    for name, variant in zip(TRAINING_VARIANTS, variants.for_training(images), strict=True):
        assert np.array_equal(variant, built[name]), name


@pytest.mark.slow
def test_a_cnn_trained_with_variants_reads_lowres_and_thin_digits_better(processed: Path, raw_dir: Path) -> None:
    from mnist_pipeline.learn.training import fit
    from mnist_pipeline.predict.runtimes import KerasClassifier

    train, val = load_split(processed, "train"), load_split(processed, "val")
    test_images, test_labels = (part[:2000] for part in load_raw(raw_dir, "test"))
    scores = {}
    for share in (0.0, 0.3):
        overrides = ["+experiment=cnn", "train.epochs=2", f"model.augment.variants={share}"]
        config = validate(params.compose(Workspace(REPO), overrides))
        mix = variant_mix(config, load_stored_split(processed, "train").images)  # as the train stage builds it
        model, _ = fit(config.model, config.train, train, val, verbose=0, mix=mix)
        scores[share] = variants.accuracies(KerasClassifier(model), test_images, test_labels)
    without, with_variants = scores[0.0], scores[0.3]
    assert with_variants["lowres"] > without["lowres"] + 0.1, scores
    assert with_variants["thin"] > without["thin"], scores

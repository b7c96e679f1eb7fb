"""Each epoch's training images: with `model.augment.variants` a share of them is swapped for the
same digit at 8x8 pixels or drawn with a thicker or a thinner pen (a CNN trained so reads such
digits far better, on real MNIST); with a nearest-pixel `model.augment.shift` each is moved by
whole pixels, as Keras' RandomTranslation layer would move it inside the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, data_config
from mnist_pipeline.config import TRAINING_VARIANTS, validate
from mnist_pipeline.data.preprocess import load_raw, load_split, load_stored_split, preprocess, scale_images
from mnist_pipeline.learn.epoch_images import EpochImages, moved
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.predict import variants
from mnist_pipeline.stages import params
from mnist_pipeline.stages.train import epoch_images

SUBSET = 4000  # training images: enough for the effect to show after two epochs
EVEN = (1.0, 1.0, 1.0)  # lowres, thick, thin


@pytest.fixture(scope="module")
def processed(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    preprocess(raw_dir, out, data_config(subset=SUBSET))
    return out


@pytest.fixture(scope="module")
def mix(processed: Path) -> EpochImages:
    images = load_stored_split(processed, "train").images
    return EpochImages(images, tuple(variants.for_training(images)), share=0.3, seed=1, weights=EVEN)


def which_variant(mix: EpochImages, images: np.ndarray) -> np.ndarray:
    """Per row: 0 for the original image, k for the k-th variant (-1: none of them)."""
    versions = [mix.images, *mix.variants]
    found = np.full(len(mix.images), -1)
    for number, version in reversed(list(enumerate(versions))):  # the original wins where they agree
        found[np.all(images == scale_images(version), axis=(1, 2, 3))] = number
    return found


def test_an_epoch_swaps_a_share_of_the_images_for_their_variants_evenly(mix: EpochImages) -> None:
    found = which_variant(mix, mix.epoch_images(0))
    assert (found >= 0).all(), "every row is its own image or one of its own variants"
    swapped = found > 0
    assert 0.25 < swapped.mean() < 0.35
    counts = np.bincount(found[swapped], minlength=len(mix.variants) + 1)[1:]
    assert counts.min() > 0.8 * counts.max(), f"variants drawn unevenly: {counts}"


def test_the_variant_weights_divide_the_swapped_images(mix: EpochImages) -> None:
    weighted = EpochImages(mix.images, mix.variants, 0.3, seed=1, weights=(2.0, 1.0, 1.0))
    found = which_variant(weighted, weighted.epoch_images(0))
    counts = np.bincount(found[found > 0], minlength=len(mix.variants) + 1)[1:]
    shares = counts / counts.sum()
    assert 0.45 < shares[0] < 0.55 and 0.2 < shares[1] < 0.3 and 0.2 < shares[2] < 0.3, f"drawn as {counts}"


def test_each_epoch_draws_afresh_and_the_same_seed_draws_the_same(mix: EpochImages) -> None:
    first, second = mix.epoch_images(0), mix.epoch_images(1)
    assert np.array_equal(first, mix.epoch_images(0))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, EpochImages(mix.images, mix.variants, 0.3, 1, EVEN).epoch_images(0))
    assert not np.array_equal(first, EpochImages(mix.images, mix.variants, 0.3, 2, EVEN).epoch_images(0))


def moved_one_by_one(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """The plain way: pad with background, then cut the window the move brings into view."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((height, height), (width, width), (0, 0)))
    return padded[height - down : 2 * height - down, width - right : 2 * width - right]


def test_a_whole_pixel_shift_moves_each_digit_and_fills_in_background(processed: Path) -> None:
    images = load_stored_split(processed, "train").images
    shifted = EpochImages(images, (), share=0.0, seed=1, weights=EVEN, shift=2.8)
    pixels, moves = shifted.epoch_pixels(0), shifted.epoch_shifts(0)
    assert pixels.dtype == np.uint8 and pixels.shape == (len(images), 28, 28, 1)
    originals = images.reshape(pixels.shape)
    for row in range(len(images)):
        np.testing.assert_array_equal(pixels[row], moved_one_by_one(originals[row], *moves[row]))
    assert set(np.unique(moves)) == set(range(-3, 4))
    assert (np.abs(moves) == 3).mean() < 0.15, "3 px only where the draw of up to 2.8 px rounds up"
    assert not np.array_equal(moves, shifted.epoch_shifts(1))
    np.testing.assert_array_equal(moves, EpochImages(images, (), 0.0, 1, EVEN, 2.8).epoch_shifts(0))
    np.testing.assert_array_equal(moved(originals, np.zeros_like(moves)), originals)


def test_the_shift_draws_the_moves_keras_random_translation_makes() -> None:
    """The same amounts as the nearest-pixel layer it replaces: a one-pixel image moved by the
    layer and by an epoch's draw lands on the same positions, as often (within sampling error)."""
    import keras

    count = 20000
    dot = np.zeros((count, 28, 28, 1), dtype=np.uint8)
    dot[:, 14, 14] = 1
    layer = keras.layers.RandomTranslation(
        0.1, 0.1, fill_mode="constant", fill_value=0.0, interpolation="nearest", seed=1
    )
    by_layer = np.asarray(layer(dot.astype("float32"), training=True)).reshape(count, -1).argmax(axis=1)
    by_epoch = EpochImages(dot[:, :, :, 0], (), 0.0, 1, EVEN, shift=0.1 * 28).epoch_pixels(0)
    by_epoch = by_epoch.reshape(count, -1).argmax(axis=1)
    for axis_of, name in ((lambda p: p // 28, "rows"), (lambda p: p % 28, "columns")):
        layer_share = np.bincount(axis_of(by_layer) - 11, minlength=7) / count
        epoch_share = np.bincount(axis_of(by_epoch) - 11, minlength=7) / count
        np.testing.assert_allclose(epoch_share, layer_share, atol=0.015, err_msg=name)


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
    test_variants = variants.build(test_images)
    scores = {}
    for share in (0.0, 0.3):
        overrides = ["+experiment=cnn", "train.epochs=2", f"model.augment.variants={share}"]
        config = validate(params.compose(Workspace(REPO), overrides))
        drawn = epoch_images(config, load_stored_split(processed, "train").images)  # as the train stage builds it
        model, _ = fit(config.model, config.train, train, val, verbose=0, epoch_data=drawn)
        scores[share] = variants.accuracies(KerasClassifier(model), test_variants, test_labels)
    without, with_variants = scores[0.0], scores[0.3]
    assert with_variants["lowres"] > without["lowres"] + 0.1, scores
    assert with_variants["thin"] > without["thin"], scores

"""The test-set variants the evaluate stage scores a model on (digits written unlike MNIST),
built from real MNIST test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_pipeline.data.preprocess import load_raw
from mnist_pipeline.predict import variants
from mnist_pipeline.predict.imageprep import prepare

COUNT = 200  # real test digits: enough for each property, a fraction of a second to build


@pytest.fixture(scope="module")
def digits(raw_dir: Path) -> np.ndarray:
    return load_raw(raw_dir, "test")[0][:COUNT]


@pytest.fixture(scope="module")
def built(digits: np.ndarray) -> dict[str, np.ndarray]:
    return variants.build(digits)


def test_every_variant_is_a_uint8_image_set_like_the_test_set(digits: np.ndarray, built: dict) -> None:
    assert list(built) == list(variants.VARIANTS) == ["lowres", "thick", "thin", "rotated", "shifted"]
    for name, images in built.items():
        assert images.dtype == np.uint8 and images.shape == digits.shape, name
        assert not np.array_equal(images, digits), name


def test_the_same_images_every_call(digits: np.ndarray, built: dict) -> None:
    again = variants.build(digits.copy())
    for name in variants.VARIANTS:
        assert np.array_equal(again[name], built[name]), name


def test_lowres_is_8x8_with_16_grey_levels_prepared_as_predict_prepares_such_a_file(
    digits: np.ndarray, built: dict, tmp_path: Path
) -> None:
    small = variants.lowres(digits)
    assert small.shape == (COUNT, 8, 8) and set(np.unique(small)) <= set(range(16))
    assert len(np.unique(small)) == 16  # all the levels are used
    for index in range(5):  # an 8-bit PNG of the small digit, given to `predict`'s preparation
        path = tmp_path / f"digit{index}.png"
        Image.fromarray((small[index] * 17).astype(np.uint8), mode="L").save(path)
        assert np.array_equal(prepare(path)[0], built["lowres"][index])


def test_a_prepared_lowres_digit_resembles_the_digit_it_came_from(digits: np.ndarray, built: dict) -> None:
    """Brought back from 8x8 pixels, a digit keeps its size and place: its pixels correlate with
    the original's at 0.772 on average (0.757 when the crop was found on the 8x8 pixels
    themselves, before imageprep.SMALL_IMAGE_ENLARGEMENT)."""
    flat = [images.reshape(COUNT, -1).astype(float) for images in (built["lowres"], digits)]
    prepared, original = (values - values.mean(axis=1, keepdims=True) for values in flat)
    correlations = (prepared * original).sum(axis=1) / np.sqrt((prepared**2).sum(axis=1) * (original**2).sum(axis=1))
    assert correlations.mean() > 0.765


def test_a_lowres_digit_holds_no_more_than_8x8_pixels_can(digits: np.ndarray, built: dict) -> None:
    """A 28x28 picture scaled up from 8x8 pixels is, as a matrix, of rank 8 at most (a resize is
    a matrix product on each side; only clipping and rounding add a trace more). MNIST's own
    digits are not: most need more than 8 singular values."""

    def ninth_singular_value(image: np.ndarray) -> float:
        values = np.linalg.svd(image.astype(float), compute_uv=False)
        return float(values[8] / values[0])

    assert max(ninth_singular_value(image) for image in built["lowres"]) < 0.03
    assert np.mean([ninth_singular_value(image) > 0.03 for image in digits]) > 0.7


def test_thick_and_thin_strokes_cover_more_and_less_ink(digits: np.ndarray, built: dict) -> None:
    plain, thick, thin = (images.astype(int) for images in (digits, built["thick"], built["thin"]))
    assert np.all(thick >= plain) and np.all(thin <= plain)  # dilation and erosion, pixel by pixel
    assert 1.3 < thick.sum() / plain.sum() < 1.8 and 0.3 < thin.sum() / plain.sum() < 0.7
    assert np.all(thin.reshape(COUNT, -1).max(axis=1) > 0)  # no digit erased


def test_rotated_digits_keep_their_ink_and_place(digits: np.ndarray, built: dict) -> None:
    plain, rotated = digits.reshape(COUNT, -1).astype(float), built["rotated"].reshape(COUNT, -1).astype(float)
    kept = rotated.sum(axis=1) / plain.sum(axis=1)  # all of it but what a corner turns out of the field
    assert np.mean(np.abs(kept - 1) < 0.01) > 0.95 and kept.min() > 0.9
    rows = np.indices(digits.shape[1:])[0].ravel()
    centre_row = lambda images: (images * rows).sum(axis=1) / images.sum(axis=1)  # noqa: E731
    assert np.abs(centre_row(rotated) - centre_row(plain)).max() < 2.0  # turned about the centre
    assert np.array_equal(variants.rotate(digits[:5], np.zeros(5)), digits[:5])


def test_a_turn_goes_counter_clockwise_by_the_angle() -> None:
    bar = np.zeros((1, 28, 28), dtype=np.uint8)
    bar[0, 13:15, 4:24] = 255  # a horizontal bar through the centre
    turned = variants.rotate(bar, np.array([15.0]))[0].astype(float)
    rows, cols = np.indices(turned.shape)
    mass = turned.sum()
    dy = rows - (rows * turned).sum() / mass
    dx = cols - (cols * turned).sum() / mass
    mu20, mu02, mu11 = (dx * dx * turned).sum(), (dy * dy * turned).sum(), (dx * dy * turned).sum()
    angle = -np.degrees(0.5 * np.arctan2(2 * mu11, mu20 - mu02))  # rows grow downwards
    assert angle == pytest.approx(15.0, abs=1.0)


def test_shifted_digits_are_the_digits_moved_by_at_most_3_pixels(digits: np.ndarray, built: dict) -> None:
    def moved(image: np.ndarray, down: int, right: int) -> np.ndarray:
        padded = np.pad(image, 3)
        return padded[3 - down : 31 - down, 3 - right : 31 - right]

    offsets = []
    for image, shifted in zip(digits[:50], built["shifted"][:50], strict=True):
        found = [(d, r) for d in range(-3, 4) for r in range(-3, 4) if np.array_equal(moved(image, d, r), shifted)]
        assert found, "not a shift of at most 3 pixels"
        offsets.append(found[0])
    assert sum(offset != (0, 0) for offset in offsets) > 40  # nearly every digit moved

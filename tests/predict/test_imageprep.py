"""Turning user images into MNIST-style inputs: drawn with PIL as a user would, no TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drawn_digits import draw_strokes
from mnist_pipeline.plumbing.errors import DataError
from mnist_pipeline.predict.imageprep import load_grayscale, prepare, to_mnist


def mnist_of(image: Image.Image, tmp_path: Path, name: str = "digit.png") -> np.ndarray:
    path = tmp_path / name
    image.save(path)
    return prepare(path)[0]


def ink_box(pixels: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(pixels.shape)
    mass = pixels.sum()
    return (rows * pixels).sum() / mass, (cols * pixels).sum() / mass


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_a_drawing_becomes_an_mnist_digit(tmp_path: Path) -> None:
    pixels = mnist_of(draw_strokes(5, size=(640, 480), width=30), tmp_path)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    assert max(ink_box(pixels)) == 20  # the longer side fills MNIST's 20x20 box
    row, col = centre_of_mass(pixels)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert pixels.max() == 255 and np.all(pixels[0] == 0) and np.all(pixels[:, -1] == 0)  # white on black


def test_model_input_is_scaled_like_training(tmp_path: Path) -> None:
    path = tmp_path / "seven.png"
    draw_strokes(7).save(path)
    pixels, model_input = prepare(path)
    assert model_input.shape == (28, 28, 1) and model_input.dtype == np.float32
    np.testing.assert_array_equal(model_input[..., 0], pixels.astype(np.float32) / 255.0)


def test_dark_on_light_and_light_on_dark_give_the_same_input(tmp_path: Path) -> None:
    dark_ink = mnist_of(draw_strokes(2, ink=0, paper=255), tmp_path, "dark.png")
    light_ink = mnist_of(draw_strokes(2, ink=255, paper=0), tmp_path, "light.png")
    np.testing.assert_array_equal(dark_ink, light_ink)
    blue_on_cream = draw_strokes(2, ink=(30, 40, 160), paper=(245, 240, 220), mode="RGB")
    assert similarity(mnist_of(blue_on_cream, tmp_path, "blue.jpg"), dark_ink) > 0.95


def test_size_and_pen_width_hardly_matter(tmp_path: Path) -> None:
    reference = mnist_of(draw_strokes(3, size=(200, 200), width=14), tmp_path, "ref.png")
    for size, width in [((56, 56), 4), ((1200, 900), 5), ((1200, 900), 90), ((300, 800), 20)]:
        other = mnist_of(draw_strokes(3, size=size, width=width), tmp_path, f"{size[0]}-{width}.png")
        assert similarity(other, reference) > 0.9, (size, width)  # a 3 and an 8 score 0.7


def test_a_small_images_faint_grey_is_ink_a_large_images_is_paper(tmp_path: Path) -> None:
    """In an 8x8 digit (scikit-learn's size) a faint grey pixel is a stroke's edge: it stays in
    the digit (which keeps the size its strong strokes give it); in a large image the same
    faint grey is paper grain and goes."""
    plain = np.zeros((8, 8), np.uint8)
    plain[1:7, 2] = plain[1:7, 5] = 255  # two uprights
    edged = plain.copy()
    edged[4, 3:5] = 34  # and a faint bar between them: 2 of 16 grey levels, under the paper's floor
    small_edged, small_plain = (
        mnist_of(Image.fromarray(image), tmp_path, f"small-{i}.png") for i, image in enumerate((edged, plain))
    )
    assert ink_box(small_edged) == ink_box(small_plain)
    assert small_edged.sum() > small_plain.sum()  # the bar is there
    large_edged, large_plain = (np.kron(image, np.ones((10, 10), np.uint8)) for image in (edged, plain))
    np.testing.assert_array_equal(
        mnist_of(Image.fromarray(large_edged), tmp_path, "large-edged.png"),
        mnist_of(Image.fromarray(large_plain), tmp_path, "large.png"),
    )


def test_aspect_ratio_is_kept(tmp_path: Path) -> None:
    height, width = ink_box(mnist_of(draw_strokes(1, size=(400, 400), width=20), tmp_path))
    assert height == 20 and width < 12


def test_transparent_and_16_bit_images_are_read(tmp_path: Path) -> None:
    reference = mnist_of(draw_strokes(4), tmp_path, "ref.png")
    ink_only = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ink_only.putalpha(Image.eval(draw_strokes(4), lambda v: 255 - v))  # black ink on a transparent sheet
    assert similarity(mnist_of(ink_only, tmp_path, "transparent.png"), reference) > 0.99
    sixteen_bit = Image.fromarray(np.asarray(draw_strokes(4), dtype=np.uint16) * 257)
    assert similarity(mnist_of(sixteen_bit, tmp_path, "deep.png"), reference) > 0.99


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image at all", "not an image"),
        (None, "no such file"),
        ("truncated", "unreadable image"),
        ("blank", "blank image"),
        ("faint", "blank image"),
    ],
)
def test_unusable_files_fail_with_a_reason(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "input.png"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "truncated":
        draw_strokes(8).save(path)
        path.write_bytes(path.read_bytes()[:200])
    elif content == "blank":
        Image.new("RGB", (64, 64), (250, 250, 250)).save(path)
    elif content == "faint":  # a pencil mark too light to tell from the paper
        draw_strokes(8, ink=235, paper=255).save(path)
    with pytest.raises(DataError, match=message) as caught:
        to_mnist(load_grayscale(path))
    assert "\n" not in str(caught.value)


def test_preprocessing_and_predict_import_no_tensorflow() -> None:
    code = (
        "import sys; from mnist_pipeline.predict import imageprep, predictor; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_large_folder_is_prepared_in_workers_exactly_as_one_by_one(raw_dir: Path, tmp_path: Path) -> None:
    """Enough MNIST test digits (as dark-on-white PNGs) for the worker processes, and one
    unreadable file among them: the same pixels and the same error, in the same order, and the
    workers end without a word on stderr."""
    from mnist_pipeline.data.idx import read_idx
    from mnist_pipeline.predict.imageprep import FILES_PER_WORKER, pixels_or_error, prepare_many

    digits = read_idx(raw_dir / "t10k-images-idx3-ubyte")[: 2 * FILES_PER_WORKER]
    paths = []
    for index, digit in enumerate(digits):
        paths.append(tmp_path / f"{index:04d}.png")
        Image.fromarray(255 - digit).save(paths[-1])
    paths[7].write_bytes(b"not an image")
    together = prepare_many(paths)
    alone = [pixels_or_error(path) for path in paths]
    assert len(together) == len(paths)
    assert str(together[7]) == str(alone[7]) and "not an image" in str(together[7])
    assert all(np.array_equal(a, b) for i, (a, b) in enumerate(zip(together, alone, strict=True)) if i != 7)
    assert together[0].shape == (28, 28) and together[0].dtype == np.uint8
    # As in `mnist-pipeline predict`, whose SIGTERM handler the workers inherit: the pool ends them silently.
    code = (
        "import sys; from pathlib import Path; from mnist_pipeline.plumbing.interrupts import handle_interrupts; "
        "from mnist_pipeline.predict.imageprep import prepare_many; handle_interrupts(); "
        "print(len(prepare_many(sorted(Path(sys.argv[1]).iterdir()))))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == (f"{len(paths)}\n", "")

"""Behavioural tests of a trained model (the session's small CNN) on real MNIST test digits:
what a user would notice if the model or prediction's preprocessing went wrong."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from conftest import TrainedModel
from mnist_pipeline.data.preprocess import load_split
from mnist_pipeline.predict.predictor import predict_files
from mnist_pipeline.predict.runtimes import KerasClassifier

SAMPLE = 1000  # test digits per check


@pytest.fixture(scope="module")
def model(small_cnn: TrainedModel) -> keras.Model:
    return keras.saving.load_model(small_cnn.model_file)


@pytest.fixture(scope="module")
def digits(small_cnn: TrainedModel) -> tuple[np.ndarray, np.ndarray]:
    """The first SAMPLE test images (float32 in [0, 1]) and their labels."""
    test = load_split(small_cnn.data_dir, "test")
    return test.x[:SAMPLE], test.y[:SAMPLE].argmax(axis=1)


def shift(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Move every image down by `rows` and right by `cols` pixels (negative: up, left), filling with 0."""
    pad = max(abs(rows), abs(cols))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    height, width = images.shape[1:3]
    return padded[:, pad - rows : pad - rows + height, pad - cols : pad - cols + width]


def test_a_two_pixel_shift_keeps_the_prediction(model: keras.Model, digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = digits
    before = model.predict(images, verbose=0).argmax(axis=1)
    for rows, cols in [(2, 0), (-2, 0), (0, 2), (0, -2)]:
        after = model.predict(shift(images, rows, cols), verbose=0).argmax(axis=1)
        kept = float(np.mean(after == before))
        assert kept >= 0.9, f"a shift by ({rows}, {cols}) px changed {1 - kept:.1%} of the predictions"


def test_inverted_colours_go_through_preprocessing_to_the_same_answer(
    model: keras.Model, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """Each test digit saved as an image, once as MNIST has it (white on black) and once as a
    drawing (black on white, 3x larger): predict's preprocessing gives the same answers."""
    images, labels = digits[0][:200], digits[1][:200]
    as_is, inverted = [], []
    for index, image in enumerate(np.round(images[..., 0] * 255).astype(np.uint8)):
        as_is.append(tmp_path / f"mnist-{index}.png")
        Image.fromarray(image).save(as_is[-1])
        inverted.append(tmp_path / f"paper-{index}.png")
        Image.fromarray(255 - image).resize((84, 84), Image.Resampling.BICUBIC).save(inverted[-1])
    plain = [p.digit for p in predict_files(lambda: KerasClassifier(model), as_is)]
    drawn = [p.digit for p in predict_files(lambda: KerasClassifier(model), inverted)]
    agree = float(np.mean(np.array(plain) == np.array(drawn)))
    assert agree >= 0.97, f"inverting and enlarging changed {1 - agree:.1%} of the answers"
    assert float(np.mean(np.array(drawn) == labels)) >= 0.9


def test_per_class_accuracy_is_reported(small_cnn: TrainedModel, record_property) -> None:
    logged = MlflowClient(small_cnn.tracking_uri).get_run(small_cnn.run_id).data.metrics
    per_class = {d: logged[f"test_accuracy_digit_{d}"] for d in range(10)}
    record_property("per_class_accuracy", per_class)
    worst = min(per_class, key=per_class.get)
    assert per_class[worst] >= 0.85, f"digit {worst} is recognised only {per_class[worst]:.1%} of the time"
    assert set(small_cnn.metrics) == {"test_accuracy", "test_loss"}  # per digit: the run and the CSV

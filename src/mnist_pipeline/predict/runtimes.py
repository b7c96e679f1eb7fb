"""What runs a trained model for `predict`: ONNX Runtime on the train stage's `model.onnx` (the
default: starts in a fraction of a second, no TensorFlow), or Keras on `model.keras`.

Both take float32 images (n, 28, 28, 1) scaled like training and give float32 probabilities
(n, 10); the ONNX file is the same model exported at training time (learn/onnx_export.py).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mnist_pipeline.data.preprocess import scale_images
from mnist_pipeline.plumbing.errors import DataError, one_line

ONNX_SUFFIX = ".onnx"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # a legacy `.h5` model
KERAS_CONFIG = "config.json"  # the model's architecture, in every `.keras` archive


class Classifier(Protocol):
    def probabilities(self, images: np.ndarray) -> np.ndarray: ...


# Images per model call: as fast as one call for all (measured with the MLP), and a CNN's
# activations for a batch stay in the hundreds of MB.
BATCH = 1024


def probabilities_of(classifier: Classifier, pixels: np.ndarray) -> np.ndarray:
    """`classifier`'s probabilities (n, 10) for uint8 images (n, 28, 28) as MNIST stores them,
    scaled like training and fed BATCH at a time."""
    parts = [classifier.probabilities(scale_images(pixels[i : i + BATCH])) for i in range(0, len(pixels), BATCH)]
    return np.concatenate(parts)


class OnnxClassifier:
    """An ONNX model in ONNX Runtime, on the CPU (on `threads` cores; default: all)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no notices on stderr
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own untyped errors for a bad file
            raise DataError(f"cannot load the ONNX model {path} ({one_line(exc)}); give a `.onnx` file") from None
        self._input = self._session.get_inputs()[0].name

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {self._input: images})[0], dtype=np.float32)


class KerasClassifier:
    """A Keras model (from a `.keras` file or an MLflow model URI); loads TensorFlow."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict(images, verbose=0), dtype=np.float32)


def load_keras_file(path: Path) -> KerasClassifier:
    check_keras_file(path)
    import keras

    try:
        return KerasClassifier(keras.saving.load_model(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load the Keras model {path} ({one_line(exc)}); give a `.keras` file") from None


def check_keras_file(path: Path) -> None:
    """Refuse a file Keras cannot load before TensorFlow is imported (seconds, and its log lines):
    Keras 3 loads a `.keras` zip archive holding `config.json`, or a legacy HDF5 file."""
    fix = (
        "give a .keras file saved by Keras (e.g. the train stage's models/model.keras), "
        "its ONNX export (models/model.onnx) or a model URI"
    )
    with path.open("rb") as file:
        if file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a Keras model (not a .keras zip archive: cut short, or another file); {fix}")
    with zipfile.ZipFile(path) as archive:
        if KERAS_CONFIG not in archive.namelist():
            raise DataError(f"{path} is not a Keras model (a zip archive without {KERAS_CONFIG}); {fix}")
        damaged = archive.testzip()
    if damaged is not None:
        raise DataError(f"{path} is a damaged Keras model ({damaged} fails its checksum); {fix}")


def load_file(path: Path) -> Classifier:
    """A model file by its suffix: `.onnx` in ONNX Runtime, anything else as a Keras model."""
    return OnnxClassifier(path) if path.suffix == ONNX_SUFFIX else load_keras_file(path)

"""Predict the digit in image files with a trained model: a local `.keras` file or an MLflow model.

Each image is read and preprocessed on its own (see imageprep), so one bad file is reported
and the others are still predicted. TensorFlow (and MLflow) load only when a model is.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.errors import DataError, PipelineError, one_line
from mnist_pipeline.plumbing.workspace import MODEL_FILE, Workspace
from mnist_pipeline.predict.imageprep import IMAGE_SUFFIXES, prepare, save_pixels

# `models:/NAME@alias`, `models:/<model_id>`, `runs:/<run_id>/model`, any other `scheme:/...`;
# two letters at least, so a Windows drive (`C:\\`) is a path.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # a legacy `.h5` model
KERAS_CONFIG = "config.json"  # the model's architecture, in every `.keras` archive


@dataclass(frozen=True)
class Prediction:
    image: str
    digit: int | None = None
    probability: float | None = None
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"{self.image}: error: {self.error}"
        return f"{self.image}: {self.digit} (p={self.probability:.3f})"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def is_model_uri(spec: str) -> bool:
    return bool(_URI.match(spec))


def image_files(paths: list[Path]) -> list[Path]:
    """Files as given, in order; a folder stands for its images (by suffix, sorted by name)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


def default_model() -> Path:
    """The train stage's model in this repository (where dvc.yaml says the stage writes)."""
    try:
        workspace = Workspace.find()
    except PipelineError:
        raise DataError("no --model given, and no repository here to take models/model.keras from") from None
    return workspace.stage_output("train") / MODEL_FILE


def load_model(spec: str) -> Any:
    """A Keras model from an MLflow model URI or a local `.keras` file (or a folder holding one)."""
    if is_model_uri(spec):
        from mnist_pipeline.tracking import store

        return store.load_keras_model(spec, _store_uri())
    path = Path(spec)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise DataError(f"no model at {path}: train one (`dvc repro train`) or pass --model FILE.keras or a model URI")
    _check_model_file(path)
    import keras

    try:
        return keras.saving.load_model(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load the Keras model {path} ({one_line(exc)}); give a `.keras` file") from None


def _check_model_file(path: Path) -> None:
    """Refuse a file Keras cannot load before TensorFlow is imported (seconds, and its log lines):
    Keras 3 loads a `.keras` zip archive holding `config.json`, or a legacy HDF5 file."""
    fix = "give a .keras file saved by Keras (e.g. the train stage's models/model.keras) or a model URI"
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


def _store_uri() -> str:
    """$MLFLOW_TRACKING_URI, else the MLflow store this repository's pipeline logs to."""
    from mnist_pipeline.tracking import store

    environment = os.environ.get(store.TRACKING_URI_ENV)
    if environment:
        return environment
    try:
        workspace = Workspace.find()
    except PipelineError:
        raise DataError(f"outside the repository, set {store.TRACKING_URI_ENV} to the MLflow store") from None
    return store.tracking_uri(load_params(workspace.params_file).tracking, workspace)


def predict_files(model: Any, files: list[Path], save_dir: Path | None = None) -> list[Prediction]:
    """One prediction (or error) per file, in order; the readable ones go through the model together."""
    results: list[Prediction] = []
    batch: list[np.ndarray] = []
    slots: list[int] = []
    for path in files:
        try:
            pixels, model_input = prepare(path)
        except PipelineError as exc:
            results.append(Prediction(str(path), error=str(exc)))
            continue
        if save_dir is not None:
            save_pixels(pixels, save_dir / f"{path.stem}.png")
        slots.append(len(results))
        results.append(Prediction(str(path)))
        batch.append(model_input)
    if batch:
        for slot, scores in zip(slots, model.predict(np.stack(batch), verbose=0), strict=True):
            digit = int(np.argmax(scores))
            results[slot] = Prediction(results[slot].image, digit=digit, probability=float(scores[digit]))
    return results

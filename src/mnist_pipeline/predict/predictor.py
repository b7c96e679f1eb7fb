"""Predict the digit in image files with a trained model: the train stage's ONNX export (the
default, in ONNX Runtime), a `.keras` file, or an MLflow model.

Each image is read and preprocessed on its own (see imageprep), so one bad file is reported
and the others are still predicted. TensorFlow loads only for a Keras model, MLflow only for a
model URI: the default path imports neither (nor Hydra), to start in a fraction of a second.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_pipeline.data.preprocess import scale_images
from mnist_pipeline.plumbing.errors import DataError, PipelineError
from mnist_pipeline.plumbing.workspace import MODEL_FILE, ONNX_FILE, Workspace
from mnist_pipeline.predict import runtimes
from mnist_pipeline.predict.imageprep import IMAGE_SUFFIXES, prepare_many, save_pixels

# `models:/NAME@alias`, `models:/<model_id>`, `runs:/<run_id>/model`, any other `scheme:/...`;
# two letters at least, so a Windows drive (`C:\\`) is a path.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


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
    """Files as given, in order; a folder stands for its images (by suffix, sorted by name).
    A folder is read with `os.scandir`, whose entries know their type without a `stat` call
    each: 10,000 files listed in 0.025 s instead of 0.13 s (2-core AMD EPYC)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            with os.scandir(path) as entries:
                names = [e.name for e in entries if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES]
            files += [path / name for name in sorted(names)]
        else:
            files.append(path)
    return files


def default_model() -> Path:
    """The train stage's output folder in this repository (where dvc.yaml says the stage writes)."""
    try:
        workspace = Workspace.find()
    except PipelineError:
        raise DataError(f"no --model given, and no repository here to take models/{ONNX_FILE} from") from None
    return workspace.stage_output("train")


def model_file(spec: str | None, keras: bool = False) -> Path:
    """The file `--model` names (default: the train stage's folder): in a folder, its ONNX export,
    or with `keras` its `.keras` model; a file is taken as given."""
    path = Path(spec) if spec else default_model()
    if path.is_dir():
        folder, path = path, path / (MODEL_FILE if keras else ONNX_FILE)
        if not path.is_file() and not keras and (folder / MODEL_FILE).is_file():
            raise DataError(
                f"no {ONNX_FILE} in {folder} (trained before models were exported to ONNX): "
                f"run `dvc repro train` to export it, or pass --keras to use {folder / MODEL_FILE}"
            )
    if not path.is_file():
        raise DataError(
            f"no model at {path}: train one (`dvc repro train`) or pass --model FILE.onnx|FILE.keras or a model URI"
        )
    return path


def model_loader(spec: str | None, keras: bool = False) -> Callable[[], runtimes.Classifier]:
    """What loads the classifier `--model` names (an MLflow model URI: its Keras model; else a local
    file or folder), checked now; loading waits until the images are prepared, in processes forked
    before any model's threads start."""
    if spec and is_model_uri(spec):
        from mnist_pipeline.tracking import store

        uri = _store_uri()
        return lambda: runtimes.KerasClassifier(store.load_keras_model(spec, uri))
    path = model_file(spec, keras)
    return lambda: runtimes.load_file(path)


def _store_uri() -> str:
    """$MLFLOW_TRACKING_URI, else the MLflow store this repository's pipeline logs to."""
    from mnist_pipeline.config import load_params  # OmegaConf: only for a model URI
    from mnist_pipeline.tracking import store

    environment = os.environ.get(store.TRACKING_URI_ENV)
    if environment:
        return environment
    try:
        workspace = Workspace.find()
    except PipelineError:
        raise DataError(f"outside the repository, set {store.TRACKING_URI_ENV} to the MLflow store") from None
    return store.tracking_uri(load_params(workspace.params_file).tracking, workspace)


def predict_files(
    load_model: Callable[[], runtimes.Classifier], files: list[Path], save_dir: Path | None = None
) -> list[Prediction]:
    """One prediction (or error) per file, in order; the readable ones go through the model together."""
    results: list[Prediction] = []
    batch: list[np.ndarray] = []
    slots: list[int] = []
    for path, prepared in zip(files, prepare_many(files), strict=True):
        if isinstance(prepared, PipelineError):
            results.append(Prediction(str(path), error=str(prepared)))
            continue
        if save_dir is not None:
            save_pixels(prepared, save_dir / f"{path.stem}.png")
        slots.append(len(results))
        results.append(Prediction(str(path)))
        batch.append(prepared)
    if batch:
        images = scale_images(np.stack(batch))  # as imageprep.prepare scales each one
        for slot, scores in zip(slots, load_model().probabilities(images), strict=True):
            digit = int(np.argmax(scores))
            results[slot] = Prediction(results[slot].image, digit=digit, probability=float(scores[digit]))
    return results

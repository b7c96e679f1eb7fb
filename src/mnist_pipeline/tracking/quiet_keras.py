"""MLflow's Keras flavour with a quiet `python_function` side, for the logged model.

MLflow's own pyfunc wrapper calls `model.predict(data)`, whose default verbosity draws a Keras
progress bar for every call: a line per request in the log of `mlflow models serve`, and one
per `mlflow.pyfunc.load_model(...).predict(...)`. This module saves the model exactly as
`mlflow.keras` does (the `keras` flavour, so `mlflow.keras.load_model` is unchanged) and names
itself as the pyfunc loader, whose `predict` draws nothing unless `verbose()`. Loading it
imports this package, which also hides TensorFlow's start-up lines in the server
(plumbing/verbosity.py). The serving environment needs `mnist-pipeline` installed (as
`--env-manager local` in this venv has it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import mlflow.keras
from mlflow.keras.load import KerasModelWrapper
from mlflow.keras.load import _load_pyfunc as _load_keras_pyfunc
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.pyfunc import FLAVOR_NAME as PYFUNC_FLAVOR
from mlflow.pyfunc import MAIN as LOADER_MODULE

from mnist_pipeline.plumbing.verbosity import verbose

FLAVOR_NAME = "mlflow.keras"  # what the logged model records as its flavour, as `mlflow.keras.log_model` would


def save_model(path: str, mlflow_model: Model, **kwargs: Any) -> None:
    """`mlflow.keras.save_model`, then this module as the pyfunc loader (what `Model.log` calls)."""
    mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors[PYFUNC_FLAVOR][LOADER_MODULE] = __name__
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


class QuietKerasModel(KerasModelWrapper):
    """MLflow's Keras pyfunc model, with `predict(..., verbose=0)` unless `verbose()`."""

    def get_model_call_method(self) -> Callable[..., Any]:
        call = super().get_model_call_method()
        if self.save_exported_model or verbose():
            return call
        return functools.partial(call, verbose=0)


def _load_pyfunc(path: str) -> QuietKerasModel:
    """What `mlflow.pyfunc.load_model` and `mlflow models serve` call for the logged model."""
    loaded = _load_keras_pyfunc(path)
    return QuietKerasModel(loaded.model, loaded.signature, loaded.save_exported_model)

"""MLflow's Keras flavour with a quiet `python_function` side, for the logged model.

MLflow's own pyfunc wrapper calls `model.predict(data)`, whose default verbosity draws a Keras
progress bar for every call: a line per request in the log of `mlflow models serve`, and one
per `mlflow.pyfunc.load_model(...).predict(...)`. This module saves the model exactly as
`mlflow.keras` does (the `keras` flavour, so `mlflow.keras.load_model` is unchanged) and names
itself as the pyfunc loader, whose `predict` draws nothing unless `verbose()`.

The model carries this file (its `code/` folder, which MLflow puts on `sys.path` before it
imports the loader), so it loads wherever its own requirements are installed, with or without
this package. Where the package is there, its switch (`-v`, `MNIST_PIPELINE_VERBOSE`) applies
and TensorFlow's start-up lines stay hidden (plumbing/verbosity.py); elsewhere it is quiet.
"""

from __future__ import annotations

# First, before anything imports TensorFlow: within this project, importing the package hides
# TensorFlow's start-up lines (plumbing/verbosity.py), and its switch applies.
try:
    from mnist_pipeline.plumbing.verbosity import verbose
except ImportError:  # the model served on its own, with only its requirements installed

    def verbose() -> bool:
        return False


import functools
import os
import shutil
from collections.abc import Callable
from typing import Any

import mlflow.keras
from mlflow.keras.load import KerasModelWrapper
from mlflow.keras.load import _load_pyfunc as _load_keras_pyfunc
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.pyfunc import CODE as CODE_FOLDER
from mlflow.pyfunc import FLAVOR_NAME as PYFUNC_FLAVOR
from mlflow.pyfunc import MAIN as LOADER_MODULE

FLAVOR_NAME = "mlflow.keras"  # what the logged model records as its flavour, as `mlflow.keras.log_model` would
LOADER = "quiet_keras"  # this file's module name inside the model's code/ folder


def save_model(path: str, mlflow_model: Model, **kwargs: Any) -> None:
    """`mlflow.keras.save_model`, then this file, in the model, as its pyfunc loader (what `Model.log` calls)."""
    mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
    os.makedirs(os.path.join(path, CODE_FOLDER))
    shutil.copyfile(__file__, os.path.join(path, CODE_FOLDER, f"{LOADER}.py"))
    mlflow_model.flavors[PYFUNC_FLAVOR].update({LOADER_MODULE: LOADER, CODE_FOLDER: CODE_FOLDER})
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

"""Quiet by default: TensorFlow's C++ start-up lines and its retracing warnings say nothing a
user of this pipeline can act on, so every process of the package hides them, before anything
imports TensorFlow (the package's `__init__` calls `quiet_native_logs`).

`MNIST_PIPELINE_VERBOSE=1` (or `mnist-pipeline -v`) brings all of it back.
"""

from __future__ import annotations

import logging
import os

VERBOSE_ENV = "MNIST_PIPELINE_VERBOSE"
# TensorFlow's C++ logging: 0 everything, 1 no INFO (oneDNN, cpu_feature_guard), 2 no WARNING.
_TF_CPP_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
_TF_CPP_QUIET = "2"
# tf.function's warning that a function was traced again for new arguments (a new model per
# sweep job does that): a few hundred characters about code that is TensorFlow's, not ours.
_RETRACING = "triggered tf.function retracing"


def verbose() -> bool:
    """Whether the user asked for everything (`MNIST_PIPELINE_VERBOSE` set to anything but 0/empty)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _not_retracing(record: logging.LogRecord) -> bool:
    return _RETRACING not in record.getMessage()


def quiet_native_logs() -> None:
    """Hide TensorFlow's C++ INFO/WARNING lines and retracing warnings unless `verbose()`.

    The C++ level is read once, when TensorFlow loads: a value the user set wins. Child
    processes (DVC stages, sweep jobs) inherit it through the environment.
    """
    if verbose():
        return
    os.environ.setdefault(_TF_CPP_LEVEL_ENV, _TF_CPP_QUIET)
    tensorflow_logger = logging.getLogger("tensorflow")
    if _not_retracing not in tensorflow_logger.filters:
        tensorflow_logger.addFilter(_not_retracing)

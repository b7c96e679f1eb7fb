"""Quiet by default: TensorFlow's C++ start-up lines and its retracing warnings say nothing a
user of this pipeline can act on, so every process of the package hides them, before anything
imports TensorFlow (the package's `__init__` calls `quiet_native_logs`).

`TF_CPP_MIN_LOG_LEVEL` hides most of TensorFlow's C++ lines, but not the two that abseil writes
while TensorFlow's shared libraries load (their static initialisers run before any level is
read; abseil-cpp pull requests 1718, 1957): the "before absl::InitializeLog()" notice and
oneDNN's INFO line, once per library. So the first `import tensorflow` (whoever imports it:
Keras, tf2onnx, MLflow's Keras flavour) runs with file descriptor 2 in a temporary file, and
every line of it that is not one of those INFO notices is written to stderr afterwards.

`MNIST_PIPELINE_VERBOSE=1` (or `mnist-pipeline -v`) brings all of it back.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from mnist_pipeline.plumbing.import_hooks import OnFirstImport

VERBOSE_ENV = "MNIST_PIPELINE_VERBOSE"
# TensorFlow's C++ logging: 0 everything, 1 no INFO (oneDNN, cpu_feature_guard), 2 no WARNING.
_TF_CPP_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
_TF_CPP_QUIET = "2"
# tf.function's warning that a function was traced again for new arguments (a new model per
# sweep job does that): a few hundred characters about code that is TensorFlow's, not ours.
_RETRACING = "triggered tf.function retracing"
# What abseil prints before it is initialised: its notice, and INFO lines (`I0000 00:00:... port.cc:153] ...`).
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_ABSL_INFO = re.compile(r"I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] ")
# Libraries that log INFO lines about their own work where a Hydra job's logging shows INFO
# (tf2onnx: five lines per ONNX export, so per sweep job).
_CHATTY_LOGGERS = ("tf2onnx",)


def verbose() -> bool:
    """Whether the user asked for everything (`MNIST_PIPELINE_VERBOSE` set to anything but 0/empty)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _not_retracing(record: logging.LogRecord) -> bool:
    return _RETRACING not in record.getMessage()


def is_start_up_notice(line: str) -> bool:
    """Whether `line` is one of the notices abseil prints while TensorFlow loads (INFO, never an error)."""
    return line.rstrip("\n") == _ABSL_NOTICE or _ABSL_INFO.match(line) is not None


@contextmanager
def start_up_notices_hidden() -> Iterator[None]:
    """Run the block with file descriptor 2 in a temporary file, then write every line of it
    but abseil's start-up notices to stderr: also when the block fails, so no error is lost."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not is_start_up_notice(line))
            if kept:
                os.write(2, kept.encode())


_HOOK = OnFirstImport("tensorflow", start_up_notices_hidden)  # whoever imports it first
_LEVEL_SET_HERE: list[bool] = []  # whether `quiet_native_logs` set the C++ level (not the user)


def quiet_native_logs() -> None:
    """Hide TensorFlow's C++ start-up lines and retracing warnings, and the INFO lines of
    `_CHATTY_LOGGERS`, unless `verbose()`.

    The C++ level is read once, when TensorFlow loads: a value the user set wins. Child
    processes (DVC stages, sweep jobs) inherit it through the environment.
    """
    if verbose():
        return
    if _TF_CPP_LEVEL_ENV not in os.environ:
        os.environ[_TF_CPP_LEVEL_ENV] = _TF_CPP_QUIET
        _LEVEL_SET_HERE.append(True)
    tensorflow_logger = logging.getLogger("tensorflow")
    if _not_retracing not in tensorflow_logger.filters:
        tensorflow_logger.addFilter(_not_retracing)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _HOOK.install()


def be_verbose() -> None:
    """Bring everything back in this process and its children (`mnist-pipeline -v`): undo
    `quiet_native_logs`, unless TensorFlow is loaded already."""
    os.environ[VERBOSE_ENV] = "1"
    if _LEVEL_SET_HERE:
        os.environ.pop(_TF_CPP_LEVEL_ENV, None)
        _LEVEL_SET_HERE.clear()
    logging.getLogger("tensorflow").removeFilter(_not_retracing)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _HOOK.remove()

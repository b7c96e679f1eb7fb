"""Quiet by default: a process of the package does not print TensorFlow's C++ start-up lines
(cpu_feature_guard) or its retracing warnings; MNIST_PIPELINE_VERBOSE=1 brings them back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnist_pipeline.plumbing.verbosity import VERBOSE_ENV

# A new tf.function per call: TensorFlow warns about retracing from the fifth on, as it does
# when a sweep builds a new model per job in one process.
RETRACES = """
import mnist_pipeline
import tensorflow as tf
for i in range(6):
    tf.function(lambda x: x + 1)(tf.constant(float(i)))
print("traced")
"""


def run_retracing(verbose: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    if verbose:
        env[VERBOSE_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", RETRACES], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "traced"
    return done.stderr


@pytest.mark.slow
def test_tensorflow_start_up_lines_and_retracing_warnings_are_hidden_unless_verbose() -> None:
    quiet = run_retracing(verbose=False)
    assert "cpu_feature_guard" not in quiet
    assert "retracing" not in quiet
    loud = run_retracing(verbose=True)
    assert "cpu_feature_guard" in loud
    assert "triggered tf.function retracing" in loud

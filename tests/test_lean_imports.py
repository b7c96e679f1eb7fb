"""Keras loads in the package's processes without scikit-learn (about a second of every train
stage's start), and scikit-learn still imports as usual afterwards."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import mnist_pipeline  # what every stage, sweep and command imports first
import keras
loaded_with_keras = "sklearn" in sys.modules
import sklearn.metrics  # MLflow and the tests still have it
print(loaded_with_keras, sklearn.metrics.accuracy_score([1, 2], [1, 3]))
"""


def test_keras_loads_without_scikit_learn_which_still_imports_afterwards() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "0.5"]


def test_without_the_package_keras_would_import_scikit_learn() -> None:
    """The saving is real: plain Keras, with scikit-learn installed, loads it."""
    probe = "import sys, keras; print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "True"

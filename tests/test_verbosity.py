"""Quiet by default: a process of the package does not print TensorFlow's C++ start-up lines
(abseil's "before absl::InitializeLog()" notice, oneDNN's and cpu_feature_guard's INFO lines)
or its retracing warnings; MNIST_PIPELINE_VERBOSE=1 or `mnist-pipeline -v` brings them back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import pipeline_env, run
from drawn_digits import draw_strokes
from mnist_pipeline.plumbing.verbosity import VERBOSE_ENV

# What TensorFlow 2.21 prints while it loads, before any log level is read.
ABSL_NOTICE = "All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN_NOTICE = "port.cc:153] oneDNN custom operations are on"
LONG_LINE = 200  # characters: a line longer than that is noise in a terminal

# A new tf.function per call: TensorFlow warns about retracing from the fifth on, as it does
# when a sweep builds a new model per job in one process.
RETRACES = """
import mnist_pipeline
import tensorflow as tf
for i in range(6):
    tf.function(lambda x: x + 1)(tf.constant(float(i)))
print("traced")
"""


def tensorflow_lines(output: str) -> list[str]:
    """The lines of `output` that TensorFlow's C++ code printed (abseil's format, or its notice)."""
    markers = (ABSL_NOTICE, "port.cc:", "cpu_feature_guard", "To enable the following instructions")
    return [line for line in output.splitlines() if any(marker in line for marker in markers)]


def long_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if len(line) > LONG_LINE]


def quiet_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) without the variables that make TensorFlow talk, and
    with oneDNN on: TensorFlow turns it on by itself (and prints ONEDNN_NOTICE) only on some
    CPUs (those with AVX-512; not on an AMD EPYC with AVX2 only), so that the notice is there
    to hide on every CPU."""
    talkative = (VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")
    quiet = {k: v for k, v in (os.environ if env is None else env).items() if k not in talkative}
    return {**quiet, "TF_ENABLE_ONEDNN_OPTS": "1"}


def run_retracing(verbose: bool) -> str:
    env = quiet_env()
    if verbose:
        env[VERBOSE_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", RETRACES], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "traced"
    return done.stderr


@pytest.mark.slow
def test_tensorflow_start_up_lines_and_retracing_warnings_are_hidden_unless_verbose() -> None:
    quiet = run_retracing(verbose=False)
    assert tensorflow_lines(quiet) == []
    assert "retracing" not in quiet
    loud = run_retracing(verbose=True)
    assert ABSL_NOTICE in loud and ONEDNN_NOTICE in loud and "cpu_feature_guard" in loud
    assert "triggered tf.function retracing" in loud


def test_what_tensorflow_writes_while_loading_is_kept_but_its_start_up_notices() -> None:
    """Only abseil's notice and INFO lines go: a warning, an error or a traceback printed while
    TensorFlow loads still reaches stderr, in order, also when the import fails."""
    written = (
        f"WARNING: {ABSL_NOTICE}\n"
        "I0000 00:00:1796191850.651573    3085 port.cc:153] oneDNN custom operations are on.\n"
        "W0000 00:00:1796191850.651573    3085 cuda_dnn.cc:1] no GPU\n"
        "E0000 00:00:1796191850.651573    3085 loader.cc:2] a real error\n"
        "ImportError: libfoo.so: cannot open shared object file\n"
    )
    script = (
        "import os\n"
        "from mnist_pipeline.plumbing.verbosity import start_up_notices_hidden\n"
        "with start_up_notices_hidden():\n"
        f"    os.write(2, {written.encode()!r})\n"
        "    raise SystemExit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=quiet_env(), capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stderr.splitlines() == written.splitlines()[2:]


@pytest.fixture(scope="module")
def keras_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained MNIST-shaped Keras model: what `predict --model x.keras` runs in TensorFlow."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    path = tmp_path_factory.mktemp("keras_model") / "model.keras"
    model.save(path)
    return path


@pytest.mark.slow
def test_predict_with_tensorflow_prints_only_its_result_unless_asked_with_v(
    keras_model_file: Path, tmp_path: Path, mnist_mirror: Path
) -> None:
    draw_strokes(7).save(tmp_path / "seven.png")
    env = quiet_env(pipeline_env(mnist_mirror))
    command = ["mnist-pipeline", "predict", "seven.png", "--model", str(keras_model_file)]
    quiet = run(command, tmp_path, env)
    assert quiet.stderr == "" and quiet.stdout.startswith("seven.png: ") and len(quiet.stdout.splitlines()) == 1
    loud = run(["mnist-pipeline", "-v", *command[1:]], tmp_path, env)
    assert ABSL_NOTICE in loud.stderr and ONEDNN_NOTICE in loud.stderr
    assert loud.stdout == quiet.stdout

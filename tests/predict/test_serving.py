"""`mlflow models serve -m models:/NAME@champion` on the session's small CNN (the champion of
its own store): the real server on 127.0.0.1, queried over HTTP as the README shows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import VENV_BIN, TrainedModel, free_port, pipeline_env, run
from mnist_pipeline.data.preprocess import load_split
from mnist_pipeline.plumbing.workspace import PROBABILITIES_FILE

pytestmark = pytest.mark.slow
START_TIMEOUT = 180  # seconds for the server to load TensorFlow and the model
# What a Keras progress bar draws (`1/1 ━━━━━━━━━━━━━━━━━━━━ 0s 40ms/step`), and TensorFlow's start-up notices.
PROGRESS_BAR = ("━", "/step")
TENSORFLOW_START_UP = ("absl::InitializeLog()", "port.cc:", "cpu_feature_guard")


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@contextmanager
def serving(model_uri: str, small_cnn: TrainedModel, mnist_mirror: Path, log_name: str) -> Iterator[str]:
    """`mlflow models serve -m MODEL_URI --env-manager local` on a free port; yields its base URL,
    and stops the server (its process group) by PID."""
    port = free_port()
    env = {**pipeline_env(mnist_mirror), "MLFLOW_TRACKING_URI": small_cnn.tracking_uri}
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    log = small_cnn.root / log_name
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start (exit code {process.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the workers it started
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(small_cnn: TrainedModel, mnist_mirror: Path) -> Iterator[str]:
    """The registry's champion (the Keras model)."""
    with serving(small_cnn.champion_uri, small_cnn, mnist_mirror, "serve.log") as url:
        yield url


def test_server_predicts_mnist_digits(server: str, small_cnn: TrainedModel) -> None:
    test = load_split(small_cnn.data_dir, "test")
    images, labels = test.x[:50], test.y[:50].argmax(axis=1)
    status, body = post(f"{server}/invocations", {"inputs": images.tolist()})
    assert status == 200, body
    served = np.array(body["predictions"])
    assert served.shape == (50, 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-4)
    local = keras.saving.load_model(small_cnn.model_file).predict(images, verbose=0)
    np.testing.assert_allclose(served, local, atol=1e-4)
    assert np.mean(served.argmax(axis=1) == labels) >= 0.9


def test_the_server_log_has_no_progress_bar_per_request_nor_tensorflow_start_up(
    server: str, small_cnn: TrainedModel
) -> None:
    test = load_split(small_cnn.data_dir, "test")
    for start in range(0, 30, 10):
        status, _ = post(f"{server}/invocations", {"inputs": test.x[start : start + 10].tolist()})
        assert status == 200
    log = (small_cnn.root / "serve.log").read_text()
    noise = [line for line in log.splitlines() if any(mark in line for mark in PROGRESS_BAR + TENSORFLOW_START_UP)]
    assert noise == []


# The README's registry snippet, with a marker printed once the model is loaded.
PYFUNC_PREDICT = """
import sys
import mlflow
import numpy as np

mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
print("loaded", flush=True)
probabilities = model.predict(np.zeros((3, 28, 28, 1), np.float32))
print(probabilities.shape, flush=True)
"""


def pyfunc_predict(small_cnn: TrainedModel, mnist_mirror: Path, verbose: bool) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in pipeline_env(mnist_mirror).items()
        if k not in ("MNIST_PIPELINE_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")
    }
    if verbose:
        env["MNIST_PIPELINE_VERBOSE"] = "1"
    command = [sys.executable, "-c", PYFUNC_PREDICT, small_cnn.tracking_uri, small_cnn.champion_uri]
    return run(command, small_cnn.root, env)


def test_pyfunc_predict_prints_nothing_unless_verbose(small_cnn: TrainedModel, mnist_mirror: Path) -> None:
    """`mlflow.pyfunc.load_model(...).predict(...)` as in the README: no Keras progress bar and no
    TensorFlow start-up line; MNIST_PIPELINE_VERBOSE=1 brings both back."""
    quiet = pyfunc_predict(small_cnn, mnist_mirror, verbose=False)
    assert quiet.stdout.splitlines() == ["loaded", "(3, 10)"]
    assert not any(mark in quiet.stderr for mark in PROGRESS_BAR + TENSORFLOW_START_UP), quiet.stderr[-2000:]
    loud = pyfunc_predict(small_cnn, mnist_mirror, verbose=True)
    assert "━" in loud.stdout.split("loaded", 1)[1]
    assert "absl::InitializeLog()" in loud.stderr


def test_server_rejects_input_of_the_wrong_shape(server: str) -> None:
    status, body = post(f"{server}/invocations", {"inputs": np.zeros((2, 784)).tolist()})
    assert status == 400
    assert "shape" in json.dumps(body).lower()


def test_the_onnx_flavor_serves_the_same_probabilities(small_cnn: TrainedModel, mnist_mirror: Path) -> None:
    """The ONNX export the train stage logged beside the Keras model (`model_onnx`, same
    signature), served by ONNX Runtime: the Keras model's probabilities, under the output's name."""
    test = load_split(small_cnn.data_dir, "test")
    images = test.x[:50]
    onnx_model = f"models:/{small_cnn.logged_model_id('model_onnx')}"
    with serving(onnx_model, small_cnn, mnist_mirror, "serve-onnx.log") as url:
        status, body = post(f"{url}/invocations", {"inputs": images.tolist()})
        wrong_status, wrong = post(f"{url}/invocations", {"inputs": np.zeros((2, 784)).tolist()})
    assert status == 200, body
    served = np.array(body["predictions"]["probabilities"])
    local = np.load(small_cnn.model_file.parent / PROBABILITIES_FILE)[:50]  # the Keras model's, at training
    np.testing.assert_allclose(served, local, atol=1e-5)
    assert wrong_status == 400 and "shape" in json.dumps(wrong).lower()

"""`mlflow models serve -m models:/NAME@champion` on the session's small CNN (the champion of
its own store): the real server on 127.0.0.1, queried over HTTP as the README shows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import keras
import numpy as np
import pytest

from conftest import VENV_BIN, TrainedModel, pipeline_env
from mnist_pipeline.data.preprocess import load_split

pytestmark = pytest.mark.slow
START_TIMEOUT = 180  # seconds for the server to load TensorFlow and the model


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def server(small_cnn: TrainedModel, mnist_mirror) -> Iterator[str]:
    """`mlflow models serve -m models:/NAME@champion --env-manager local`; yields its base URL."""
    port = free_port()
    env = {**pipeline_env(mnist_mirror), "MLFLOW_TRACKING_URI": small_cnn.tracking_uri}
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", small_cnn.champion_uri]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    log = small_cnn.root / "serve.log"
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


def test_server_rejects_input_of_the_wrong_shape(server: str) -> None:
    status, body = post(f"{server}/invocations", {"inputs": np.zeros((2, 784)).tolist()})
    assert status == 400
    assert "shape" in json.dumps(body).lower()

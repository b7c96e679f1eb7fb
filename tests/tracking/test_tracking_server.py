"""The pipeline against a real `mlflow server` on 127.0.0.1 (SQLite backend + artifact folder),
selected with `tracking=server`; read back over the REST API; then the server stops and the
next stage fails fast without writing its outputs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import rendered_dom, screenshot
from conftest import VENV_BIN, copy_repo, free_port, pipeline_env, rest, run, set_conf

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`mlflow server` as a team would run it (README), on a free loopback port."""
    port, artifacts = free_port(), tmp_path / "server-artifacts"
    log = (tmp_path / "server.log").open("wb")
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(artifacts)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not answer within 2 minutes")
        yield url, proc, artifacts
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_pipeline_logs_to_a_server_and_fails_fast_once_it_is_down(server, tmp_path: Path, mnist_mirror: Path) -> None:
    url, proc, artifacts = server
    repo = copy_repo(tmp_path / "repo")
    env = pipeline_env(mnist_mirror)
    set_conf(repo, "data/mnist.yaml", subset=1000)
    set_conf(repo, "train/default.yaml", epochs=1)
    set_conf(repo, "tracking/server.yaml", uri=url)
    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("- tracking: local", "- tracking: server"))
    run(["mnist-pipeline", "params"], repo, env)
    printed = run(["dvc", "repro"], repo, env).stdout

    experiment = rest(url, "experiments/get-by-name?experiment_name=mnist")["experiment"]
    (tracked,) = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    runs_view = f"{url}/#/experiments/{experiment['experiment_id']}/runs?viewStateShareKey=training-runs"
    assert (
        f"  this run:      {url}/#/experiments/{experiment['experiment_id']}/runs/{tracked['info']['run_id']}"
        in printed
    )
    assert f"  training runs: {runs_view}" in printed
    metrics = {m["key"]: m["value"] for m in tracked["data"]["metrics"]}
    local = json.loads((repo / "reports/metrics.json").read_text())
    assert tracked["info"]["status"] == "FINISHED" and tracked["info"]["run_name"] == "mlp-u128-e1"
    assert metrics["test_accuracy"] == pytest.approx(local["test_accuracy"])
    assert not (repo / "mlflow.db").exists()  # nothing went to the local store
    # The printed view opens the runs table on the columns runs are compared by, best first.
    page = rendered_dom(runs_view)
    headers = re.findall(r'<div [^>]*role="columnheader"[^>]*col-id="([^"]+)"', page)
    wanted = ["metrics.`test_accuracy`", "metrics.`val_accuracy`", "params.`model.units`", "params.`train.epochs`"]
    assert set(wanted) <= set(headers), headers
    screenshot(runs_view, tmp_path / "training-runs.png")
    assert (tmp_path / "training-runs.png").read_bytes().startswith(b"\x89PNG")
    assert list(artifacts.rglob("confusion_matrix.png")) and list(artifacts.rglob("model.keras"))
    champion = rest(url, "registered-models/alias?name=mnist-classifier&alias=champion")["model_version"]
    assert champion["run_id"] == tracked["info"]["run_id"]

    stop(proc)
    try:
        down = run(["dvc", "repro", "--force", "train"], repo, env, check=False, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a stage against a stopped server kept retrying for 2 minutes")
    assert down.returncode != 0
    error = next(line for line in down.stderr.splitlines() if line.startswith("error:"))
    assert error == (
        f"error: MLflow tracking server {url} is not reachable (connection refused): "
        "start it, or point MLFLOW_TRACKING_URI / tracking.uri at a running one"
    )
    assert not (repo / "models").exists()

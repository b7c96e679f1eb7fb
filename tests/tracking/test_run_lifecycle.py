"""The MLflow run's life (FINISHED, FAILED, KILLED, reopened) and the store's URI, on a real
temporary SQLite store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import store


@pytest.fixture
def tracking_config(tracking_store: str, monkeypatch: pytest.MonkeyPatch) -> TrackingConfig:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return TrackingConfig(uri=tracking_store, experiment="test")


def test_run_that_raises_is_marked_failed(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), store.pipeline_run(tracking_config, Workspace(tmp_path)) as run:
        run.log_metrics({"loss": 1.0})
        raise RuntimeError("boom")
    assert store.run_status(tracking_config, Workspace(tmp_path), run.run_id) == "FAILED"


def test_interrupted_run_is_marked_killed(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), store.pipeline_run(tracking_config, Workspace(tmp_path)) as run:
        raise KeyboardInterrupt
    assert store.run_status(tracking_config, Workspace(tmp_path), run.run_id) == "KILLED"


def test_reopened_run_keeps_earlier_metrics(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with store.pipeline_run(tracking_config, Workspace(tmp_path), run_name="first") as run:
        run.log_epoch(0, {"val_accuracy": 0.5})
    with store.pipeline_run(tracking_config, Workspace(tmp_path), run_id=run.run_id) as again:
        again.log_metrics({"test_accuracy": 0.9})
    stored = MlflowClient(tracking_config.uri).get_run(run.run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "first"
    assert stored.data.metrics == {"val_accuracy": 0.5, "test_accuracy": 0.9}


def test_environment_uri_wins_over_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = TrackingConfig(uri=None, experiment="x")
    assert store.tracking_uri(config, Workspace(tmp_path)) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert store.tracking_uri(config, Workspace(tmp_path)) == "http://127.0.0.1:5999"


def test_a_run_left_running_by_a_killed_process_is_closed_by_the_next_run(
    tracking_config: TrackingConfig, tmp_path: Path
) -> None:
    """An open run names its process (host:pid); a process SIGKILLed inside its run leaves it
    RUNNING under that name. The next run in the experiment marks it KILLED and says so, and
    leaves alone a run whose process still lives. (Fast: the slow twin kills a real train stage.)"""
    host = socket.gethostname()
    with store.pipeline_run(tracking_config, Workspace(tmp_path)) as first:
        client = MlflowClient(tracking_config.uri)
        assert client.get_run(first.run_id).data.tags[store.OWNER_TAG] == f"{host}:{os.getpid()}"
    experiment_id = client.get_run(first.run_id).info.experiment_id
    victim = subprocess.Popen(["sleep", "60"])
    victim.kill()
    victim.wait()  # gone, as a SIGKILLed stage is
    stale_id = client.create_run(experiment_id, tags={store.OWNER_TAG: f"{host}:{victim.pid}"}).info.run_id
    live_id = client.create_run(experiment_id, tags={store.OWNER_TAG: f"{host}:{os.getpid()}"}).info.run_id

    with store.pipeline_run(tracking_config, Workspace(tmp_path)) as second:
        pass
    stale = client.get_run(stale_id)
    assert stale.info.status == "KILLED"
    assert stale.data.tags[store.END_REASON_TAG] == f"process {victim.pid} on {host} ended without closing the run"
    assert client.get_run(live_id).info.status == "RUNNING"
    assert client.get_run(second.run_id).info.status == "FINISHED"


def test_the_experiment_carries_the_training_runs_view_and_a_run_says_where_to_look(
    tracking_config: TrackingConfig, tmp_path: Path
) -> None:
    """The view the printed link opens (the UI reads it from this tag), added to a store made
    before the tag existed too; a local store's links point at `make ui`."""
    client = MlflowClient(tracking_config.uri)
    experiment_id = client.create_experiment(tracking_config.experiment)  # as an older version made it
    with store.pipeline_run(tracking_config, Workspace(tmp_path)) as run:
        lines = run.where_to_look()
    view = json.loads(client.get_experiment(experiment_id).tags["mlflow.sharedViewState.training-runs"])
    assert view["orderByKey"] == "metrics.`test_accuracy`" and view["orderByAsc"] is False
    assert {
        "metrics.`test_accuracy`",
        "metrics.`val_accuracy`",
        "params.`model.units`",
        "params.`train.epochs`",
    } <= set(view["selectedColumns"])
    assert lines == [
        "MLflow UI (start it with `make ui`):",
        f"  this run:      http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run.run_id}",
        f"  training runs: http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?viewStateShareKey=training-runs",
    ]

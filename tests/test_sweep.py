"""A real 2x2 Hydra multirun in a temporary copy of the repository: one MLflow run per job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, set_conf

pytestmark = pytest.mark.slow


def test_multirun_logs_one_run_per_combination(tmp_path: Path, mnist_mirror: Path) -> None:
    repo = copy_repo(tmp_path)
    env = pipeline_env(mnist_mirror)
    set_conf(repo, "data/mnist.yaml", subset=1000)
    run(["mnist-pipeline", "params"], repo, env)
    sweep = run([sys.executable, "pipelines/sweep.py", "-m", "model.units=16,32", "train.epochs=1,2"], repo, env)
    assert sweep.stderr.count("Launching 4 jobs") + sweep.stdout.count("Launching 4 jobs") == 1

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    combos = sorted((r.data.params["model.units"], r.data.params["train.epochs"]) for r in runs)
    assert combos == [("16", "1"), ("16", "2"), ("32", "1"), ("32", "2")]
    for tracked in runs:
        assert tracked.info.status == "FINISHED"
        assert 0.3 < tracked.data.metrics["test_accuracy"] <= 1.0
        assert tracked.data.tags["launched_by"] == "sweep"
        epochs = int(tracked.data.params["train.epochs"])
        assert len(client.get_metric_history(tracked.info.run_id, "val_accuracy")) == epochs
    # The sweep reused the pipeline's processed data rather than writing its own copy.
    assert (repo / "data/processed/x_train.npy").is_file()
    assert not list((repo / "outputs").rglob("x_train.npy"))

"""A queued DVC experiment grid run by two queue workers: each experiment runs in a temporary
copy of the repository, yet logs into the workspace's MLflow store and registers its model,
and `dvc exp show` / `dvc metrics show` show its metrics in a 120-column terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, set_conf
from mnist_pipeline.config import TrackingConfig, load_params
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import store

pytestmark = pytest.mark.slow
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


def wait_for_queue(repo: Path, env: dict[str, str], limit_s: float = 600) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo, env).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    pytest.fail(f"the DVC queue did not finish within {limit_s:.0f} s")


def test_queued_grid_logs_into_the_workspace_store(tmp_path: Path, mnist_mirror: Path) -> None:
    repo = copy_repo(tmp_path)
    env = pipeline_env(mnist_mirror)
    set_conf(repo, "data/mnist.yaml", subset=1000)
    set_conf(repo, "train/default.yaml", epochs=1)
    run(["mnist-pipeline", "params"], repo, env)
    run([*GIT, "commit", "-qam", "small baseline"], repo, env)
    run(["dvc", "repro", "preprocess"], repo, env)  # the data, in the DVC cache for the queued copies
    # The store exists before the queue starts, as after any earlier run: two brand-new
    # experiments must not both create it.
    experiment = load_params(repo / "params.yaml").tracking.experiment
    store.ensure_experiment(
        TrackingConfig(uri=f"sqlite:///{repo / 'mlflow.db'}", experiment=experiment), Workspace(repo)
    )

    run(["dvc", "exp", "run", "--queue", "-S", "model.units=16,32", "-S", "train.epochs=1"], repo, env)
    try:
        run(["dvc", "queue", "start", "-j", "2"], repo, env)
        status = wait_for_queue(repo, env)
    finally:
        run(["dvc", "queue", "stop"], repo, env, check=False)
    assert status.count("Success") == 2, status

    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    experiments = {
        rev["name"]: rev["data"]["metrics"]["reports/metrics.json"]["data"]["test_accuracy"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    }
    assert len(experiments) == 2

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mnist").experiment_id])
    queued = {r.data.tags.get("dvc_exp_name"): r for r in runs if r.data.tags["launched_by"] == "dvc queue"}
    assert len(runs) == 2 and set(queued) == set(experiments)
    for name, tracked in queued.items():
        assert tracked.info.status == "FINISHED"
        assert tracked.info.run_name == f"mlp-u{tracked.data.params['model.units']}-e1"
        assert tracked.data.metrics["test_accuracy"] == pytest.approx(experiments[name])
        assert tracked.data.tags["data.source"] == "dvc:preprocess"
    assert sorted(r.data.params["model.units"] for r in queued.values()) == ["16", "32"]
    # DVC experiments register their models (sweep jobs do not, by default: test_sweep.py).
    assert len(client.search_model_versions("name = 'mnist-classifier'")) == 2
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))  # nothing logged into a temporary copy

    run(["dvc", "exp", "apply", next(iter(experiments))], repo, env)  # its metrics into the workspace
    narrow = {**env, "COLUMNS": "120"}
    metrics = run(["dvc", "metrics", "show"], repo, narrow).stdout.splitlines()
    # The two headline metrics and the accuracy on each test-set variant (robustness.json), the
    # columns in DVC's order (by name); per digit: per_class_metrics.csv.
    assert metrics[0].split() == ["Path", "lowres", "rotated", "shifted", "test_accuracy", "test_loss", "thick", "thin"]
    assert [line.split()[0] for line in metrics[1:]] == ["reports/metrics.json", "reports/robustness.json"]
    assert max(map(len, metrics)) <= 120
    # DVC keeps the leftmost columns of `dvc exp show` when it must drop some: the two headline
    # metrics, the variants' accuracies, then the hyperparameters (params.yaml's order), before
    # the rest of params.yaml.
    header = [c.strip() for c in run(["dvc", "exp", "show", "--md"], repo, env).stdout.splitlines()[0].split("|")]
    header = [c for c in header if c not in ("State", "Executor")]  # the queue's columns
    columns = ["Experiment", "Created", "test_accuracy", "test_loss", "lowres", "thick", "thin", "rotated", "shifted"]
    assert header[1:13] == [*columns, "model.name", "model.units", "model.activation"], header

"""A queued DVC experiment grid run by two queue workers: each experiment runs in a temporary
copy of the repository, yet logs into the workspace's MLflow store and registers its model,
and `dvc exp show` / `dvc metrics show` show its metrics in a 120-column terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, set_conf, small_repo
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
    # The two headline metrics; per digit: per_class_metrics.csv, per test-set variant:
    # robustness.json (test_pipeline_e2e.py).
    assert metrics[0].split() == ["Path", "test_accuracy", "test_loss"]
    assert [line.split()[0] for line in metrics[1:]] == ["reports/metrics.json"]
    # DVC keeps the leftmost columns of `dvc exp show` when it must drop some: the two headline
    # metrics, then the hyperparameters (params.yaml's order), before the rest of params.yaml.
    header = [c.strip() for c in run(["dvc", "exp", "show", "--md"], repo, env).stdout.splitlines()[0].split("|")]
    header = [c for c in header if c not in ("State", "Executor")]  # the queue's columns
    assert header[1:7] == ["Experiment", "Created", "test_accuracy", "test_loss", "model.name", "model.units"], header


def test_an_experiment_shows_its_change_beside_test_accuracy_in_120_columns(tmp_path: Path, mnist_mirror: Path) -> None:
    """The README's narrow-terminal view: after `dvc exp run -S model.units=64` on a reproduced
    baseline, `dvc exp show --only-changed` in 120 columns shows test_accuracy and model.units
    (the plain table keeps test_accuracy; DVC folds the params behind a dependency's hash)."""
    repo, env = small_repo(tmp_path, mnist_mirror, subset=1000, epochs=1)
    run(["dvc", "repro"], repo, env)
    run([*GIT, "commit", "-qam", "small baseline, reproduced"], repo, env)
    run(["dvc", "exp", "run", "-S", "model.units=64"], repo, env)

    narrow = {**env, "COLUMNS": "120"}
    for flags in ([], ["--only-changed"]):
        table = run(["dvc", "exp", "show", "--no-pager", *flags], repo, narrow).stdout.splitlines()
        assert max(map(len, table)) <= 120
        heading = next(line for line in table if "Experiment" in line).split()
        assert "test_accuracy" in heading, table
    assert "model.units" in heading, table
    rows = [line.split() for line in table if "64" in line.split() or "128" in line.split()]
    assert len(rows) == 3, table  # workspace and the experiment at 64, the baseline at 128

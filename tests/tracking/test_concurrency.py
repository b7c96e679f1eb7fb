"""Several processes logging to one MLflow store at once: a brand-new store under concurrent
first use, and two sweeps started together in one workspace. No run or metric may be lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import pipeline_env, small_repo
from mnist_pipeline.tracking import records

pytestmark = pytest.mark.slow
WRITERS = 4
STEPS = 20

# One writer: wait for the signal to go, then open a run on the shared (not yet existing) store.
WRITER = """
import sys, time, pathlib
from mnist_pipeline.tracking import store
from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.workspace import Workspace
root, name, steps = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(root / f"ready-{name}").touch()
while not (root / "go").exists():
    time.sleep(0.005)
with store.pipeline_run(TrackingConfig(uri=None, experiment="mnist"), Workspace(root), run_name=name) as run:
    run.log_params({"writer": name})
    for step in range(steps):
        run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
"""


def test_a_new_store_survives_concurrent_first_use(tmp_path: Path, mnist_mirror: Path) -> None:
    env = pipeline_env(mnist_mirror)
    names = [f"w{i}" for i in range(WRITERS)]
    command = [sys.executable, "-c", WRITER, str(tmp_path)]
    writers = [subprocess.Popen([*command, name, str(STEPS)], env=env, stderr=subprocess.PIPE) for name in names]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{name}").exists() for name in names):
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.05)
    (tmp_path / "go").touch()  # all of them open the store at the same moment
    errors = [w.communicate(timeout=120)[1].decode() for w in writers]
    assert [w.returncode for w in writers] == [0] * WRITERS, errors

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiments = client.search_experiments()
    assert [e.name for e in experiments if e.name != "Default"] == ["mnist"]
    runs = client.search_runs([e.experiment_id for e in experiments])
    assert sorted(r.data.params["writer"] for r in runs) == names
    for found in runs:
        assert found.info.status == "FINISHED"
        assert len(client.get_metric_history(found.info.run_id, "loss")) == STEPS


def test_two_sweeps_at_once_lose_no_run_or_metric(tmp_path: Path, mnist_mirror: Path) -> None:
    repo, env = small_repo(tmp_path, mnist_mirror, subset=1000, epochs=2)
    # Neither the store nor the processed data exist yet: both sweeps need them at once.
    sweeps = [
        subprocess.Popen(
            [sys.executable, "pipelines/sweep.py", "-m", f"train.seed={seeds}", "model.units=16"],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for seeds in ("1,2", "3,4")
    ]
    errors = [s.communicate(timeout=600)[1].decode()[-3000:] for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], errors

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if records.PARENT_TAG in r.data.tags]
    parents = [r for r in runs if r not in children]
    assert sorted(r.data.params["train.seed"] for r in children) == ["1", "2", "3", "4"]
    for found in children:
        assert found.info.status == "FINISHED"
        assert len(client.get_metric_history(found.info.run_id, "val_accuracy")) == 2
        assert len(client.get_metric_history(found.info.run_id, "test_accuracy")) == 1
    assert sorted(p.data.params["train.seed"] for p in parents) == ["1,2", "3,4"]
    assert all(p.info.status == "FINISHED" and p.data.tags["sweep.failed_jobs"] == "0" for p in parents)
    assert len({p.data.tags["sweep.dir"] for p in parents}) == 2  # each sweep has its own folder

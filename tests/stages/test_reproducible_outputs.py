"""The same config and seed give the same bytes for every DVC output (the ONNX export of the
model among them): a forced re-run of the pipeline leaves dvc.lock (and so `git status`) as
committed, and a run is tagged dirty only when a tracked file differs, not for an untracked one."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import run, set_conf, small_repo

pytestmark = pytest.mark.slow


def git_dirty_of_latest_run(repo: Path) -> str:
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist")
    latest = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    return latest.data.tags["git_dirty"]


def test_a_forced_rerun_leaves_dvc_lock_and_git_status_as_committed(tmp_path: Path, mnist_mirror: Path) -> None:
    repo, env = small_repo(tmp_path, mnist_mirror, subset=500, epochs=1)
    run(["dvc", "repro"], repo, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "lock"], repo, env)
    (repo / "notes.txt").write_text("an untracked file changes no code\n")
    onnx_model = (repo / "models" / "model.onnx").read_bytes()

    run(["dvc", "repro", "--force"], repo, env)
    changed = run(["git", "status", "--porcelain", "--untracked-files=no"], repo, env).stdout
    assert changed == ""  # dvc.lock: the same hashes for data, models (.keras and .onnx), reports and figures
    assert (repo / "models" / "model.onnx").read_bytes() == onnx_model
    assert git_dirty_of_latest_run(repo) == "false"

    (repo / "README.md").write_text("edited\n")
    set_conf(repo, "train/default.yaml", seed=2)
    run(["mnist-pipeline", "params"], repo, env)
    run(["dvc", "repro", "train"], repo, env)
    assert git_dirty_of_latest_run(repo) == "true"

"""The pipeline, a sweep and the registry against the team stack, unchanged but for
MLFLOW_TRACKING_URI and with no bucket credentials on the client; then the DVC remotes:
push to the stack's S3 bucket and to a folder, wipe, pull, and a fresh clone that gets the
model without training."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import pipeline_env, rest, run, small_repo
from drawn_digits import draw_strokes
from teamstack import RunningStack

pytestmark = [pytest.mark.slow, pytest.mark.team]
UP_TO_DATE = "Data and pipelines are up to date."


def client_env(mirror: Path, stack: RunningStack) -> dict[str, str]:
    """A teammate's shell after pasting the stack's export line: no AWS credentials at all."""
    env = {k: v for k, v in pipeline_env(mirror).items() if not k.startswith("AWS_")}
    return env | {"MLFLOW_TRACKING_URI": stack.tracking_uri}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo, check=True)


def paste(repo: Path, env: dict[str, str], stack: RunningStack) -> None:
    """Run the `dvc remote ...` lines that `make stack-up` printed, as a user pastes them."""
    for line in stack.printed:
        if line.startswith("dvc remote "):
            run(line.split(), repo, env)


@pytest.fixture(scope="module")
def repro(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path, team_stack: RunningStack):
    """One `dvc repro` (1,000 images, 2 epochs) against the stack, its result committed."""
    repo, _ = small_repo(tmp_path_factory.mktemp("repo"), mnist_mirror, subset=1000, epochs=2)
    env = client_env(mnist_mirror, team_stack)
    run(["dvc", "repro"], repo, env)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "trained")
    return repo, env


def metrics_of(repo: Path) -> dict:
    return json.loads((repo / "reports/metrics.json").read_text())


def search(url: str, experiment_id: str, where: str) -> list[dict]:
    return rest(url, "runs/search", {"experiment_ids": [experiment_id], "filter": where})["runs"]


def test_up_prints_the_lines_to_paste(team_stack: RunningStack) -> None:
    assert f"export MLFLOW_TRACKING_URI={team_stack.tracking_uri}" in team_stack.printed
    assert "dvc remote add -d -f team s3://dvc" in team_stack.printed
    assert f"dvc remote modify team endpointurl {team_stack.s3_endpoint}" in team_stack.printed
    assert f"dvc remote modify --local team secret_access_key {team_stack.state['s3_secret']}" in team_stack.printed


def test_repro_logs_runs_metrics_model_and_registry_to_the_stack(repro, team_stack: RunningStack) -> None:
    repo, _ = repro
    url = team_stack.tracking_uri
    experiment = rest(url, "experiments/get-by-name?experiment_name=mnist")["experiment"]
    (tracked,) = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    run_id = tracked["info"]["run_id"]
    assert tracked["info"]["status"] == "FINISHED"
    history = rest(url, f"metrics/get-history?run_id={run_id}&metric_key=val_accuracy")["metrics"]
    assert [m["step"] for m in history] == [0, 1]  # one point per epoch
    metrics = {m["key"]: m["value"] for m in tracked["data"]["metrics"]}
    assert metrics["test_accuracy"] == pytest.approx(metrics_of(repo)["test_accuracy"])
    champion = rest(url, "registered-models/alias?name=mnist-classifier&alias=champion")["model_version"]
    assert champion["run_id"] == run_id and champion["version"] == "1"
    # The artifacts went through the server into the bucket, not to any local folder.
    keys = team_stack.bucket_keys("mlflow")
    assert any(key.endswith("model.keras") for key in keys)
    assert any(run_id in key and key.endswith("confusion_matrix.png") for key in keys)
    assert not (repo / "mlflow.db").exists() and not (repo / "mlartifacts").exists()


def test_a_sweep_against_the_stack_is_one_parent_with_nested_children(repro, team_stack: RunningStack) -> None:
    repo, env = repro
    overrides = ["model.units=16,32", "train.batch_size=64,128", "train.epochs=1"]
    launcher = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    run([sys.executable, "pipelines/sweep.py", "-m", *overrides, *launcher], repo, env)
    url = team_stack.tracking_uri
    experiment_id = rest(url, "experiments/get-by-name?experiment_name=mnist")["experiment"]["experiment_id"]
    (parent,) = search(url, experiment_id, "tags.sweep.launcher = 'joblib'")
    children = search(url, experiment_id, f"tags.mlflow.parentRunId = '{parent['info']['run_id']}'")
    swept = ("model.units", "train.batch_size")
    combos = {tuple(p["value"] for p in c["data"]["params"] if p["key"] in swept) for c in children}
    assert len(children) == 4 and len(combos) == 4
    assert {c["info"]["status"] for c in children} == {"FINISHED"} and parent["info"]["status"] == "FINISHED"
    keys = team_stack.bucket_keys("mlflow")
    assert all(any(c["info"]["run_id"] in key for key in keys) for c in children)


def wipe(repo: Path) -> None:
    for output in ("data/raw", "data/processed", "models", ".dvc/cache"):
        shutil.rmtree(repo / output)


def test_push_wipe_pull_against_the_stacks_bucket(repro, team_stack: RunningStack) -> None:
    repo, env = repro
    paste(repo, env, team_stack)
    assert "access_key_id" not in (repo / ".dvc/config").read_text()  # credentials stay in config.local
    run(["dvc", "push"], repo, env)
    assert any(key.startswith("files/md5/") for key in team_stack.bucket_keys("dvc"))
    wipe(repo)
    run(["dvc", "pull"], repo, env)
    assert run(["dvc", "status"], repo, env).stdout.strip() == UP_TO_DATE
    assert (repo / "models/model.keras").is_file()


def test_a_fresh_clone_gets_the_model_from_a_folder_remote_without_training(
    repro, tmp_path: Path, mnist_mirror: Path
) -> None:
    repo, env = repro
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "shared", str(remote)], repo, env)
    git(repo, "commit", "-qam", "a folder remote")
    run(["dvc", "push", "-r", "shared"], repo, env)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    offline = pipeline_env(mnist_mirror)  # no tracking server needed either
    run(["dvc", "pull", "-r", "shared"], clone, offline)
    assert run(["dvc", "status"], clone, offline).stdout.strip() == UP_TO_DATE
    repro_again = run(["dvc", "repro"], clone, offline)
    assert "Running stage" not in repro_again.stdout and not (clone / "mlflow.db").exists()
    assert metrics_of(clone) == metrics_of(repo)
    draw_strokes(7).save(tmp_path / "seven.png")
    predicted = run(["mnist-pipeline", "predict", str(tmp_path / "seven.png")], clone, offline)
    assert predicted.stdout.startswith(f"{tmp_path / 'seven.png'}: ")


def test_wrong_bucket_credentials_fail_with_one_line(repro, team_stack: RunningStack, tmp_path: Path) -> None:
    repo, env = repro
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    paste(clone, env, team_stack)
    run(["dvc", "remote", "modify", "--local", "team", "secret_access_key", "wrong"], clone, env)
    failed = run(["dvc", "pull", "-r", "team"], clone, env, check=False)
    assert failed.returncode != 0
    error = next(line for line in failed.stderr.splitlines() if line.startswith("ERROR:"))
    assert "failed to connect to s3" in error and "Forbidden" in error  # DVC's own line names the cause
    assert not (clone / "models/model.keras").exists()

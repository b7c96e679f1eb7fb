"""A full disk under a stage's outputs, the MLflow store (mlflow.db) or its artifact store
(mlartifacts/), on a small tmpfs the test mounts and fills: the stage script says so in one
line naming the place, exits 1, leaves no partial file in the workspace or the artifact store,
marks its run FAILED where the store can still take it, and the same command succeeds once
there is room again. (The download stage's case is in tests/data/test_download_faults.py.)"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO, copy_repo, fill_disk, pipeline_env, run, set_conf, stage_command
from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.errors import DiskFullError
from mnist_pipeline.plumbing.full_disk import reporting_disk_full
from mnist_pipeline.plumbing.workspace import DVC_ROOT_ENV, Workspace
from mnist_pipeline.tracking import store

TRAIN, EVALUATE = stage_command("train"), stage_command("evaluate")
FREE = "no space left on device; free some space and run again"
TRACKING = TrackingConfig(uri=None, experiment="mnist")


def full(place: Path) -> str:
    return f"error: {place}: {FREE}"


def test_a_full_disk_while_preprocessing_names_the_output_and_the_next_run_succeeds(
    small_disk: Callable[..., Path], mnist_mirror: Path, raw_dir: Path
) -> None:
    """The full training set's splits (53 MB) on 20 MB: one line, and no partial split folder."""
    out = small_disk("20m") / "processed"
    command = [sys.executable, str(REPO / "pipelines/preprocess.py"), "--raw", str(raw_dir), "--out", str(out)]
    done = run(command, REPO, pipeline_env(mnist_mirror), check=False)
    assert (done.returncode, done.stderr) == (1, full(out) + "\n")
    assert list(out.parent.iterdir()) == []
    small_disk("80m")
    run(command, REPO, pipeline_env(mnist_mirror))
    assert sorted(p.name for p in out.iterdir())[:3] == ["x_test.npy", "x_train.npy", "x_val.npy"]


def test_a_tracked_run_on_a_full_artifact_store_fails_whole(
    small_disk: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process, on the real MLflow store: the logging call that found no room leaves none
    of its files (two of 600 kB on 1 MB), what was logged before stays, and the run is FAILED."""
    monkeypatch.delenv(store.TRACKING_URI_ENV, raising=False)
    artifacts, workspace = small_disk("1m", "mlartifacts"), Workspace(tmp_path)
    big = tmp_path / "big"
    big.mkdir()
    for name in ("a.bin", "b.bin"):
        (big / name).write_bytes(b"\1" * 600_000)
    with (
        pytest.raises(DiskFullError) as raised,
        reporting_disk_full(*workspace.working_places),
        store.pipeline_run(TRACKING, workspace) as run,
    ):
        run.log_dict({"kept": True}, "config/small.json")
        run.log_artifacts(big, "big")
    assert str(raised.value) == f"{artifacts}: {FREE}"
    kept = f"{run.run_id}/artifacts/config/small.json"
    assert list(files_under(artifacts)) == [kept]
    assert json.loads((artifacts / kept).read_text()) == {"kept": True}
    assert store.get_run(TRACKING, workspace, run.run_id).status == "FAILED"


def test_a_tracked_run_on_a_full_store_is_one_line_without_mlflow_tracebacks(
    small_disk: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's "database or disk is full", three wrappers deep, names mlflow.db; MLflow's own
    logged traceback of it is dropped."""
    monkeypatch.delenv(store.TRACKING_URI_ENV, raising=False)
    workspace = Workspace(small_disk("2m"))
    store.ensure_experiment(TRACKING, workspace)
    fill_disk(workspace.store_root, leave_kib=60)
    with (
        pytest.raises(DiskFullError) as raised,
        reporting_disk_full(*workspace.working_places),
        store.pipeline_run(TRACKING, workspace) as run,
    ):
        for step in range(1000):
            run.log_metrics({f"metric_{i}": 0.5 for i in range(500)}, step=step)
    assert str(raised.value) == f"{workspace.store_file}: {FREE}"
    assert "SQLAlchemy" not in caplog.text and "Traceback" not in caplog.text


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path, raw_dir: Path) -> Path:
    """A repository copy that trains 1 epoch on 1,000 images, its data preprocessed (the test
    set's variants too)."""
    path = copy_repo(tmp_path_factory.mktemp("repo"))
    set_conf(path, "data/mnist.yaml", subset=1000)
    set_conf(path, "train/default.yaml", epochs=1)
    env = pipeline_env(mnist_mirror)
    run(["mnist-pipeline", "params"], path, env)
    preprocess = ["pipelines/preprocess.py", "--raw", str(raw_dir), "--out", "data/processed"]
    run([sys.executable, *preprocess, "--variants", "data/variants"], path, env)
    return path


def stage(repo: Path, command: list[str], store_root: Path, mirror: Path, check: bool = False):
    """Run a stage script in `repo` with its MLflow store under `store_root` (where DVC_ROOT puts it)."""
    return run(command, repo, {**pipeline_env(mirror), DVC_ROOT_ENV: str(store_root)}, check=check)


def leftovers(repo: Path) -> list[str]:
    """What a failed stage could leave in the workspace: outputs and temporary files."""
    outputs = [*repo.glob("models"), *repo.glob("reports/*.csv"), *repo.glob("reports/*.json")]
    outputs += [*repo.glob("reports/figures/*/"), *repo.rglob("*.partial")]
    return sorted(str(p.relative_to(repo)) for p in outputs)


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_full_artifact_store_fails_the_training_run_and_leaves_no_partial_file(
    repo: Path, tmp_path: Path, small_disk: Callable[..., Path], mnist_mirror: Path
) -> None:
    """1 MB for artifacts (the model alone is 1.2 MB), the database elsewhere: the run is FAILED
    with the reason, the logged model FAILED, and only whole files stay in mlartifacts/."""
    artifacts = small_disk("1m", "mlartifacts")
    done = stage(repo, TRAIN, tmp_path, mnist_mirror)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == full(artifacts)
    assert "Traceback" not in done.stderr and "SQLAlchemy" not in done.stderr
    assert leftovers(repo) == []

    client = MlflowClient(store.tracking_uri(TRACKING, Workspace(repo, tmp_path)))
    [failed] = client.search_runs([store.ensure_experiment(TRACKING, Workspace(repo, tmp_path))])
    assert failed.info.status == "FAILED"
    assert "No space left on device" in failed.data.tags[store.END_REASON_TAG]
    assert [m.status for m in client.search_logged_models([failed.info.experiment_id])] == ["FAILED"]
    kept = files_under(artifacts)
    assert sorted(kept) == [f"{failed.info.run_id}/artifacts/config/{n}" for n in ("params.yaml", "resolved.yaml")]
    assert kept[f"{failed.info.run_id}/artifacts/config/params.yaml"] == (repo / "params.yaml").stat().st_size


@pytest.mark.slow
def test_a_full_store_is_named_and_the_next_runs_recover(
    repo: Path, small_disk: Callable[..., Path], mnist_mirror: Path
) -> None:
    """mlflow.db and mlartifacts/ on one full file system: the train stage and then the evaluate
    stage fail in one line each, nothing half-written; with room again each succeeds, and the
    run the full store could not close is closed by the next one."""
    store_root = small_disk("20m")
    workspace = Workspace(repo, store_root)
    store.ensure_experiment(TRACKING, workspace)  # an existing store, as after earlier runs
    filler = fill_disk(store_root, leave_kib=60)
    done = stage(repo, TRAIN, store_root, mnist_mirror)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == full(workspace.store_file)
    assert "Traceback" not in done.stderr and "SQLAlchemy" not in done.stderr
    assert leftovers(repo) == []
    client = MlflowClient(store.tracking_uri(TRACKING, workspace))
    experiment = store.ensure_experiment(TRACKING, workspace)
    # FAILED where the full store still took the end, else left RUNNING (which of the two
    # depends on where SQLite found no room).
    left_open = client.search_runs([experiment], "attributes.status = 'RUNNING'")

    filler.unlink()
    again = stage(repo, TRAIN, store_root, mnist_mirror, check=True)
    trained = again.stdout.split("MLflow run: ")[1].strip()
    for stale in left_open:
        assert f"warning: MLflow run {stale.info.run_id} was left RUNNING" in again.stderr
    earlier = [r.info.status for r in client.search_runs([experiment]) if r.info.run_id != trained]
    assert set(earlier) <= {"FAILED", "KILLED"}  # none left RUNNING, none FINISHED

    fill_disk(store_root, leave_kib=60)
    done = stage(repo, EVALUATE, store_root, mnist_mirror)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] in (full(workspace.store_file), full(workspace.artifact_dir))
    assert "Traceback" not in done.stderr and "SQLAlchemy" not in done.stderr
    assert not any(
        p.startswith(("reports/metrics", "reports/predictions", "reports/per_class", "reports/robustness"))
        for p in leftovers(repo)
    )
    assert not (repo / "reports/figures/evaluate").exists()

    filler.unlink()
    stage(repo, EVALUATE, store_root, mnist_mirror, check=True)
    assert (repo / "reports/metrics.json").is_file()
    finished = client.get_run(trained)
    assert finished.info.status == "FINISHED" and "test_accuracy" in finished.data.metrics

"""`mnist-pipeline migrate`: a solo store (a real trained and registered run, a sweep parent
with two children) copied to a real `mlflow server`, read back with MLflow's client against
the server; run again it copies nothing, and a run added since is copied; a server that is
not there fails in one line, and a copy cut short by the server's full disk is completed by
the next call."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import test_tracking_server
from mlflow.tracking import MlflowClient

from conftest import REPO, fill_disk, free_port, pipeline_env, run
from mnist_pipeline.config import validate
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.stages.evaluate import evaluate_stage
from mnist_pipeline.stages.preprocess import preprocess_stage
from mnist_pipeline.stages.train import train_stage
from mnist_pipeline.tracking import records, store

pytestmark = pytest.mark.slow
EXPERIMENT, MODEL = "mnist", "mnist-classifier"
server = test_tracking_server.server  # the fixture: a real `mlflow server` on a free port, stopped by PID


def solo_workspace(root: Path, raw_dir: Path) -> tuple[Workspace, str]:
    """A workspace whose own store (`mlflow.db`, `mlartifacts/`) holds a run trained by the
    real stages (1,000 images, 2 epochs) and registered as the champion, and a sweep parent
    with two children written by the calls the sweep callback makes; returns it and the trained run."""
    workspace = bare_workspace(root)
    shutil.copytree(REPO / "conf", root / "conf")  # run names are measured against conf/
    config = validate(params.compose(workspace, ["data.subset=1000", "train.epochs=2"]))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        preprocess_stage(config, raw_dir, root / "processed")
        run_id = train_stage(config, root / "processed", root / "models", root / "history.csv", workspace)
        evaluate_stage(config, root / "processed", root / "models", root / "m.json", root / "p.csv", workspace)
        parent = store.create_run(config.tracking, workspace, "sweep", {records.RUN_KIND_TAG: "sweep"})
        for units in (16, 32):
            child = store.create_run(config.tracking, workspace, f"job-{units}", {}, parent_id=parent)
            store.update_run(
                config.tracking, workspace, child, params={"model.units": units}, metrics={"val_accuracy": 0.5}
            )
            store.end_run(config.tracking, workspace, child, "FINISHED")
        store.end_run(config.tracking, workspace, parent, "FINISHED")
    return workspace, run_id


def bare_workspace(root: Path) -> Workspace:
    """A folder `mnist-pipeline` takes for a workspace (its dvc.yaml and params.yaml), with no store yet."""
    root.mkdir(exist_ok=True)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, root / name)
    return Workspace(root)


def migrate(workspace: Workspace, url: str, mirror: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["mnist-pipeline", "migrate", "--to", url], workspace.root, pipeline_env(mirror), check=check)


def by_origin(client: MlflowClient) -> dict[str, object]:
    """The server's runs, by the local run each was copied from."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    found = client.search_runs([experiment.experiment_id], max_results=1000)
    return {r.data.tags["mnist_pipeline.migrated_from"]: r for r in found}


def test_migrate_copies_runs_models_and_champion_once(
    server, tmp_path: Path, raw_dir: Path, mnist_mirror: Path
) -> None:
    url, _, _ = server
    workspace, trained = solo_workspace(tmp_path, raw_dir)
    local, remote = MlflowClient(f"sqlite:///{workspace.store_file}"), MlflowClient(url)

    started = time.monotonic()
    printed = migrate(workspace, url, mnist_mirror).stdout
    seconds = time.monotonic() - started
    lines = printed.splitlines()
    assert len([line for line in lines if line.startswith("copied run ")]) == 4, printed
    assert f"set {MODEL}@champion to version 1" in lines
    assert lines[-1].startswith(f"migrated to {url}: copied 4 runs (0 redone), 2 logged models, 1 model versions")

    copies = by_origin(remote)
    source_runs = local.search_runs([local.get_experiment_by_name(EXPERIMENT).experiment_id], max_results=100)
    assert set(copies) == {r.info.run_id for r in source_runs}
    for source in source_runs:
        copy = copies[source.info.run_id]
        assert (copy.info.status, copy.info.run_name) == (source.info.status, source.info.run_name)
        assert copy.info.start_time == source.info.start_time and copy.info.end_time == source.info.end_time
        assert copy.data.params == source.data.params
        assert copy.data.metrics == source.data.metrics
        for key in source.data.metrics:
            history = [(m.step, m.value, m.timestamp) for m in local.get_metric_history(source.info.run_id, key)]
            assert [(m.step, m.value, m.timestamp) for m in remote.get_metric_history(copy.info.run_id, key)] == history
        moved = {"mlflow.parentRunId", "mnist_pipeline.migrated_from"}
        assert {k: v for k, v in copy.data.tags.items() if k not in moved} == {
            k: v for k, v in source.data.tags.items() if k not in moved
        }
        assert artifact_files(remote, copy.info.run_id) == artifact_files(local, source.info.run_id)
    assert len(remote.get_metric_history(copies[trained].info.run_id, "val_accuracy")) == 2  # the two epochs

    # The sweep's children are children of the parent's copy.
    parent = next(r for r in source_runs if r.data.tags.get(records.RUN_KIND_TAG) == "sweep")
    children = [r for r in source_runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2
    for child in children:
        assert copies[child.info.run_id].data.tags["mlflow.parentRunId"] == copies[parent.info.run_id].info.run_id

    # The logged models are the copy's outputs, and the champion on the server predicts as the local one.
    models = remote.search_logged_models([copies[trained].info.experiment_id])
    assert sorted(m.name for m in models) == ["model", "model_onnx"]
    assert {m.source_run_id for m in models} == {copies[trained].info.run_id}
    champion = remote.get_model_version_by_alias(MODEL, "champion")
    assert champion.run_id == copies[trained].info.run_id
    images = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    assert np.allclose(
        predict(url, images, tmp_path / "remote"), predict(local.tracking_uri, images, tmp_path / "local")
    )

    again = migrate(workspace, url, mnist_mirror).stdout.splitlines()
    assert again[-1] == (
        f"migrated to {url}: copied 0 runs (0 redone), 0 logged models, 0 model versions, 0 aliases; "
        "skipped 4 runs, 1 model versions, 1 aliases"
    )
    assert len(by_origin(remote)) == 4 and len(remote.search_model_versions(f"name = '{MODEL}'")) == 1

    config = validate(params.compose(workspace, []))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        later = store.create_run(config.tracking, workspace, "later", {})
        store.end_run(config.tracking, workspace, later, "FINISHED")
    third = migrate(workspace, url, mnist_mirror).stdout.splitlines()
    assert [line for line in third if line.startswith("copied ")] == [
        f"copied run later ({later}) as {by_origin(remote)[later].info.run_id}: 0 params, 0 metric values, "
        "0 artifact files, 0 logged models"
    ]

    # A better champion the team set on the server stays: the local one does not demote it.
    team_run = remote.create_run(champion_experiment(remote), tags={"mnist_pipeline.migrated_from": "team"})
    remote.log_metric(team_run.info.run_id, "test_accuracy", 1.0)
    remote.set_terminated(team_run.info.run_id)
    model_id = champion.source.removeprefix("models:/")
    better = remote.create_model_version(MODEL, champion.source, run_id=team_run.info.run_id, model_id=model_id)
    remote.set_registered_model_alias(MODEL, "champion", better.version)
    fourth = migrate(workspace, url, mnist_mirror).stdout.splitlines()
    assert f"kept {MODEL}@champion at the server's version {better.version}: version 1 is not better" in fourth
    assert remote.get_model_version_by_alias(MODEL, "champion").version == better.version
    print(f"migration of the test store: {seconds:.1f} s")


def champion_experiment(client: MlflowClient) -> str:
    return str(client.get_experiment_by_name(EXPERIMENT).experiment_id)


def artifact_files(client: MlflowClient, run_id: str, folder: str = "") -> list[tuple[str, int | None]]:
    found = []
    for item in client.list_artifacts(run_id, folder or None):
        found += artifact_files(client, run_id, item.path) if item.is_dir else [(item.path, item.file_size)]
    return sorted(found)


def predict(tracking_uri: str, images: np.ndarray, download: Path) -> np.ndarray:
    """`models:/<name>@champion` of the store at `tracking_uri`, loaded with MLflow's pyfunc."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    download.mkdir()
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion", dst_path=str(download))
        return np.asarray(model.predict(images))
    finally:
        mlflow.set_tracking_uri(None)


def test_an_unreachable_server_is_one_line_and_nothing_is_copied(tmp_path: Path, mnist_mirror: Path) -> None:
    workspace = bare_workspace(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    no_scheme = migrate(workspace, url.removeprefix("http://"), mnist_mirror, check=False)
    assert no_scheme.returncode == 1 and no_scheme.stdout == ""
    assert no_scheme.stderr.strip() == (
        f"error: --to {url.removeprefix('http://')} is not a tracking URI: give the server's address, http://HOST:PORT"
    )
    missing = migrate(workspace, url, mnist_mirror, check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip() == (
        f"error: no local MLflow store at {workspace.store_file}: nothing to migrate; "
        "train first (`dvc repro`), or give --from the store's URI"
    )
    config = validate(params.compose(Workspace(REPO), []))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        store.end_run(config.tracking, workspace, store.create_run(config.tracking, workspace, "solo", {}), "FINISHED")
    down = migrate(workspace, url, mnist_mirror, check=False)
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.strip() == (
        f"error: tracking server {url} is not reachable: nothing was copied; start it, or give --to its address"
    )
    assert not [p.name for p in tmp_path.rglob("127.0.0.1*")], "no store made in a folder named after the address"


def test_a_copy_cut_short_is_not_finished_and_the_next_call_completes_it(
    server, small_disk, tmp_path: Path, raw_dir: Path, mnist_mirror: Path
) -> None:
    """The server's artifact disk is full when the trained run's model goes up: that copy ends
    FAILED (never FINISHED) and the command says to run it again; with space, the next call
    replaces it with a whole copy."""
    url, _, artifacts = server
    workspace, trained = solo_workspace(tmp_path / "solo", raw_dir)
    remote = MlflowClient(url)
    filler = fill_disk(small_disk("1m", artifacts.name), leave_kib=16)

    cut = migrate(workspace, url, mnist_mirror, check=False)
    assert cut.returncode == 1
    (error,) = cut.stderr.strip().splitlines()
    assert error.startswith(f"error: migration to {url} stopped (")
    assert error.endswith(
        "no half copy is FINISHED: run `mnist-pipeline migrate` again to complete it (what was copied is skipped)"
    )
    half = by_origin(remote)[trained]
    assert half.info.status == "FAILED" and "mnist_pipeline.migration" in half.data.tags

    filler.unlink()
    small_disk("64m", artifacts.name)
    lines = migrate(workspace, url, mnist_mirror).stdout.splitlines()
    assert any(line.startswith("copied run ") and "(again: the last copy was cut short)" in line for line in lines)
    assert lines[-1].startswith(f"migrated to {url}: copied 4 runs (1 redone), 2 logged models, 1 model versions")
    whole = by_origin(remote)[trained]
    assert whole.info.run_id != half.info.run_id and whole.info.status == "FINISHED"
    assert "mnist_pipeline.migration" not in whole.data.tags
    assert remote.get_run(half.info.run_id).info.lifecycle_stage == "deleted"
    assert len(remote.search_logged_models([whole.info.experiment_id])) == 2

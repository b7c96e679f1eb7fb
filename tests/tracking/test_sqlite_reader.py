"""`mnist-pipeline runs` reads a local store without MLflow: what it reads must be what MLflow
reads from the same real store (sweeps, NaN metrics, deleted runs, other experiments, the
champion alias), and a store it does not know goes through MLflow with the same table."""

from __future__ import annotations

import math
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO
from mnist_pipeline.config import PipelineConfig, load_params
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import registry, runs_table, sqlite_reader, store
from mnist_pipeline.tracking.records import CHAMPION, RUN_KIND_TAG, RunRecord
from mnist_pipeline.tracking.server import SQLITE_PREFIX


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace with the repository's params.yaml and dvc.yaml and a store of runs written by MLflow."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    space = Workspace(tmp_path)
    config = load_params(space.params_file)
    sweep = store.create_run(config.tracking, space, "sweep-units", {RUN_KIND_TAG: "sweep"})
    for units, accuracy in (("8", 0.91), ("16", math.nan)):
        job = store.create_run(
            config.tracking, space, f"mlp-u{units}", {"job": units}, parent_id=sweep, params={"model.units": units}
        )
        for epoch, value in enumerate((0.5, accuracy)):
            MlflowClient(store.tracking_uri(config.tracking, space)).log_metric(job, "val_accuracy", value, step=epoch)
        store.end_run(config.tracking, space, job, "FINISHED")
    store.end_run(config.tracking, space, sweep, "FINISHED")
    champion = store.create_run(
        config.tracking, space, "mlp-u128", {}, params={"model.units": "128"}, owned=False
    )  # left RUNNING: a run in progress is listed too
    store.update_run(config.tracking, space, champion, metrics={"test_accuracy": 0.97, "val_accuracy": 0.96})
    deleted = store.create_run(config.tracking, space, "deleted", {})
    client = MlflowClient(store.tracking_uri(config.tracking, space))
    client.delete_run(deleted)
    other = client.create_experiment("another-experiment")
    client.create_run(other, run_name="elsewhere")
    model = config.registry.model_name
    client.create_registered_model(model)
    for run_id in (sweep, champion):
        version = client.create_model_version(model, source=f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(model, CHAMPION, version.version)
    return space


def comparable(runs: list[RunRecord]) -> list[tuple]:
    """Records as tuples whose NaN metrics compare equal."""
    return [
        (r.run_id, r.name, r.status, r.start_time, r.params, r.tags, {k: str(v) for k, v in r.metrics.items()})
        for r in runs
    ]


def through_mlflow(config: PipelineConfig, workspace: Workspace) -> sqlite_reader.StoreView:
    return sqlite_reader.StoreView(
        store.find_runs(config.tracking, workspace), registry.champion_run(config.registry, config.tracking, workspace)
    )


def test_reads_what_mlflow_reads(workspace: Workspace) -> None:
    config = load_params(workspace.params_file)
    view = sqlite_reader.read(workspace.store_file, config.tracking.experiment, config.registry.model_name)
    expected = through_mlflow(config, workspace)
    assert view is not None, "the reader refused a store the installed MLflow wrote"
    assert [r.name for r in view.runs] == ["mlp-u128", "mlp-u16", "mlp-u8", "sweep-units"]
    assert comparable(view.runs) == comparable(expected.runs)
    assert view.champion == expected.champion == view.runs[0].run_id
    assert math.isnan(view.runs[1].metrics["val_accuracy"])


def test_the_installed_mlflow_writes_a_schema_the_reader_knows(tracking_store: str) -> None:
    """Fails when MLflow's schema moves on: check the reader's queries, then add the revision."""
    MlflowClient(tracking_store).search_experiments()  # creates the store, migrated to MLflow's newest schema
    with sqlite3.connect(tracking_store.removeprefix(SQLITE_PREFIX)) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in sqlite_reader.KNOWN_REVISIONS


def test_an_unknown_schema_is_read_through_mlflow_with_the_same_table(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_params(workspace.params_file)
    direct = runs_table.runs_report(workspace, "val_accuracy")
    monkeypatch.setattr(sqlite_reader, "KNOWN_REVISIONS", frozenset())
    assert sqlite_reader.read(workspace.store_file, config.tracking.experiment, config.registry.model_name) is None
    assert runs_table.runs_report(workspace, "val_accuracy") == direct
    assert direct.splitlines()[2].startswith("* mlp-u128")  # best first, the champion starred


def test_the_runs_command_does_not_import_mlflow(workspace: Workspace) -> None:
    """Where MLflow cannot even be imported, the command still lists the local store."""
    code = "import sys; sys.modules['mlflow'] = None; from mnist_pipeline.cli import main; main(['runs'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workspace.root, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == runs_table.runs_report(workspace, "val_accuracy") + "\n"

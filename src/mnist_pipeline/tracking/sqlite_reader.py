"""Read a local SQLite store's runs with the standard library: `mnist-pipeline runs` in a
fraction of a second instead of the second and a half that importing MLflow and opening its
store take.

Only a store whose schema revision is one this reader was checked against (KNOWN_REVISIONS;
a test compares what it reads with what MLflow reads from the same store) is read here, and
only for reading, in read-only mode. Any other store, a workspace other than MLflow's
default, or a tracking server: `read` answers None and the caller asks MLflow (store.py).
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.tracking.records import CHAMPION, RunRecord

# Alembic revisions of MLflow's SQL schema read correctly here: the newest one of the MLflow
# version the lock file pins (3.17). A store migrated by a newer MLflow is read through MLflow.
KNOWN_REVISIONS = frozenset({"dc11669786a5"})
_DEFAULT_WORKSPACE = "default"  # MLflow's, where every experiment lives unless workspaces are enabled
_WORKSPACE_ENV = "MLFLOW_WORKSPACE"
_MAX_RUNS = 5000  # as many as store.find_runs asks MLflow for
_DELETED_VERSION = "Deleted_Internal"  # MLflow's stage of a model version being deleted


@dataclass(frozen=True)
class StoreView:
    """An experiment's active runs, newest first, and the run of the champion model version."""

    runs: list[RunRecord]
    champion: str | None


def read(database: Path, experiment: str, model_name: str | None) -> StoreView | None:
    """The runs of `experiment` and the champion of `model_name` in SQLite file `database`;
    None where MLflow must answer instead (unknown schema, another workspace, a locked or
    damaged file)."""
    if os.environ.get(_WORKSPACE_ENV, _DEFAULT_WORKSPACE) != _DEFAULT_WORKSPACE:
        return None
    try:
        with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as db:
            revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
            if revision is None or revision[0] not in KNOWN_REVISIONS:
                return None
            return StoreView(_runs(db, experiment), _champion(db, model_name) if model_name else None)
    except sqlite3.Error:
        return None


def _runs(db: sqlite3.Connection, experiment: str) -> list[RunRecord]:
    """Active runs of the active experiment, in the order MLflow's search gives them."""
    db.execute(
        "CREATE TEMP TABLE shown AS SELECT r.run_uuid, r.name, r.status, r.start_time FROM runs r "
        "JOIN experiments e ON e.experiment_id = r.experiment_id "
        "WHERE e.name = ? AND e.workspace = ? AND e.lifecycle_stage = 'active' AND r.lifecycle_stage = 'active' "
        "ORDER BY r.start_time IS NULL, r.start_time DESC, r.run_uuid LIMIT ?",
        (experiment, _DEFAULT_WORKSPACE, _MAX_RUNS),
    )
    params, tags = (_pairs(db, table) for table in ("params", "tags"))
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    for run_id, key, value, is_nan in db.execute(
        "SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN (SELECT run_uuid FROM shown)"
    ):
        metrics[run_id][key] = math.nan if is_nan else float(value)
    return [
        RunRecord(run_id, name or "", status, start_time or 0, params[run_id], metrics[run_id], tags[run_id])
        for run_id, name, status, start_time in db.execute("SELECT * FROM shown ORDER BY rowid")
    ]


def _pairs(db: sqlite3.Connection, table: str) -> dict[str, dict[str, str]]:
    """{run id: {key: value}} of the shown runs' rows in `table` (params or tags)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in db.execute(
        f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN (SELECT run_uuid FROM shown)"
    ):
        found[run_id][key] = value
    return found


def _champion(db: sqlite3.Connection, model_name: str) -> str | None:
    """The run that logged the version `model_name@champion` points to, if the alias is set."""
    row = db.execute(
        "SELECT v.run_id FROM registered_model_aliases a JOIN model_versions v "
        "ON v.name = a.name AND v.version = a.version AND v.workspace = a.workspace "
        "WHERE a.name = ? AND a.alias = ? AND a.workspace = ? AND v.current_stage != ?",
        (model_name, CHAMPION, _DEFAULT_WORKSPACE, _DELETED_VERSION),
    ).fetchone()
    return row[0] if row else None

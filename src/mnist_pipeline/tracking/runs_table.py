"""`mnist-pipeline runs`: an experiment's runs as a terminal table, best first.

For people who live in a terminal: the same comparison as the MLflow UI's runs table
(name, sweep, the parameters that differ, validation and test accuracy, status), and the
table a sweep's parent run stores as its summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mnist_pipeline.config import PipelineConfig, load_params
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import sqlite_reader
from mnist_pipeline.tracking.naming import NOT_IDENTITY
from mnist_pipeline.tracking.records import RUN_KIND_TAG, RunRecord
from mnist_pipeline.tracking.server import sqlite_file, store_exists, tracking_uri

KEY_PARAMS = ("model.name", "model.units", "train.epochs", "train.learning_rate")
SCORES = ("val_accuracy", "test_accuracy")
LABELS = {"model.name": "model"}  # column headers other than a key's last part
# Params that follow from others (sizes from data.subset) add nothing to a comparison.
DERIVED_PARAMS = ("data.train_size", "data.val_size")


def training_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Runs that trained a model (not the parent runs that group a sweep)."""
    return [run for run in runs if run.tags.get(RUN_KIND_TAG) != "sweep"]


def sort_runs(runs: Sequence[RunRecord], metric: str, ascending: bool = False) -> list[RunRecord]:
    """By `metric`, best first (highest unless `ascending`); runs without it last, newest first."""
    scored = [r for r in runs if not math.isnan(r.metrics.get(metric, math.nan))]
    unscored = [r for r in runs if r not in scored]
    scored.sort(key=lambda r: r.metrics[metric], reverse=not ascending)
    return scored + sorted(unscored, key=lambda r: -r.start_time)


def format_table(
    runs: Sequence[RunRecord], metric: str, parents: dict[str, str] | None = None, champion: str | None = None
) -> str:
    """Fixed-width table: run, sweep (given `parents`), key and varying params, scores, status; `*`: champion."""
    names = {k for r in runs for k in r.params}
    skip = (*KEY_PARAMS, *DERIVED_PARAMS)
    varying = sorted(
        k
        for k in names
        if k not in skip and not k.startswith(NOT_IDENTITY) and len({r.params.get(k) for r in runs}) > 1
    )
    params = [k for k in KEY_PARAMS if any(k in r.params for r in runs)] + varying
    scores = [metric, *(s for s in SCORES if s != metric)]
    sweeps = ["sweep"] if parents is not None else []
    header = ["run", *sweeps, *(LABELS.get(k, k.rsplit(".", 1)[-1]) for k in params), *scores, "status", "id"]
    rows = [
        [
            ("* " if champion and run.run_id == champion else "") + run.name,
            *([parents.get(run.parent_id or "", "-")] if parents is not None else []),
            *(run.params.get(k, "-") for k in params),
            *(_score(run.metrics.get(s)) for s in scores),
            run.status,
            run.run_id[:8],
        ]
        for run in runs
    ]
    numeric = {header.index(s) for s in scores}
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def runs_report(workspace: Workspace, metric: str, ascending: bool = False, limit: int | None = None) -> str:
    """The workspace experiment's training runs as a table (store and experiment from params.yaml)."""
    config = load_params(workspace.params_file)
    uri = tracking_uri(config.tracking, workspace)
    if not store_exists(config.tracking, workspace):
        return f"no runs yet: {uri} does not exist (run `dvc repro` first)"
    database = sqlite_file(uri)
    view = sqlite_reader.read(database, config.tracking.experiment, config.registry.model_name) if database else None
    runs, champion = (view.runs, view.champion) if view else _ask_mlflow(config, workspace)
    parents = {r.run_id: r.name for r in runs if r.tags.get(RUN_KIND_TAG) == "sweep"}
    shown = sort_runs(training_runs(runs), metric, ascending)[:limit]
    if not shown:
        return f"no runs yet in experiment {config.tracking.experiment!r}"
    return format_table(shown, metric, parents, champion)


def _ask_mlflow(config: PipelineConfig, workspace: Workspace) -> tuple[list[RunRecord], str | None]:
    """The runs and the champion's run through MLflow: a server, or a store sqlite_reader does not know."""
    from mnist_pipeline.tracking import registry, store

    return store.find_runs(config.tracking, workspace), registry.champion_run(
        config.registry, config.tracking, workspace
    )


def _score(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"

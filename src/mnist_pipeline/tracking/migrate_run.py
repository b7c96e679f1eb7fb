"""Copy one run, with its logged models, from one MLflow store to another (`mnist-pipeline migrate`).

MLflow has no call that moves a run between stores, and mlflow-export-import (1.2.1) misses
what MLflow 3 added: its copy-run leaves the logged models behind, and its copy-model-version
copies the run again on every call and registers a source that does not load. So the copy is
rebuilt from the client API: a new run in the destination, the source's params, every metric value with its step and
timestamp, its tags, its artifacts, and each MLflow 3 LoggedModel it output (files, params,
tags), linked to the new run. The copy is created RUNNING and tagged INCOMPLETE_TAG; only the
last step gives it the source's status and removes the tag, so a copy cut short (the server
stopped, a full disk there) is never FINISHED with half its data, and the next migration
recognises it (`is_complete`) and copies the run again.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mlflow.artifacts
import yaml
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param, Run, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from mnist_pipeline.plumbing.errors import one_line
from mnist_pipeline.tracking.records import PARENT_TAG
from mnist_pipeline.tracking.store import END_REASON_TAG, OWNER_TAG, owner

# On every copy (run, logged model, model version): what it was copied from, so a second
# migration skips it. INCOMPLETE_TAG is on a run copy until its last step.
MIGRATED_FROM_TAG = "mnist_pipeline.migrated_from"
INCOMPLETE_TAG = "mnist_pipeline.migration"
INCOMPLETE = "incomplete: run `mnist-pipeline migrate` again to copy it whole"
RUN_NAME_TAG = "mlflow.runName"
# Set by the registry on a logged model when a version is created from it: the destination's own.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
# MLflow's limits on one log_batch call.
BATCH = {"metrics": 1000, "params": 100, "tags": 100}
T = TypeVar("T")


@dataclass(frozen=True)
class CopiedRun:
    run_id: str
    params: int
    metric_values: int
    artifact_files: int
    logged_models: int


def is_complete(run: Run) -> bool:
    """Whether a run copy got to its last step (else it is redone)."""
    return run.info.status != RunStatus.to_string(RunStatus.RUNNING) and INCOMPLETE_TAG not in run.data.tags


def discard(dst: MlflowClient, experiment_id: str, run_id: str) -> None:
    """Delete a run copy that was cut short, and the logged models it had got."""
    for model in every(lambda token: dst.search_logged_models([experiment_id], page_token=token)):
        if model.source_run_id == run_id:
            dst.delete_logged_model(model.model_id)
    dst.delete_run(run_id)


def copy_run(src: MlflowClient, dst: MlflowClient, run: Run, experiment_id: str, parent_id: str | None) -> CopiedRun:
    """Copy `run` into experiment `experiment_id` of `dst` (a child of `parent_id`, a run there)."""
    info, data = run.info, run.data
    start_tags = {MIGRATED_FROM_TAG: info.run_id, INCOMPLETE_TAG: INCOMPLETE, OWNER_TAG: owner()}
    if parent_id:
        start_tags[PARENT_TAG] = parent_id
    copy = dst.create_run(experiment_id, start_time=info.start_time, tags=start_tags, run_name=info.run_name)
    run_id = copy.info.run_id
    try:
        models = [_copy_logged_model(src, dst, output, experiment_id, run_id) for output in run.outputs.model_outputs]
        metrics = [_copied_metric(m) for key in data.metrics for m in src.get_metric_history(info.run_id, key)]
        kept = {k: v for k, v in data.tags.items() if k not in (RUN_NAME_TAG, PARENT_TAG, OWNER_TAG)}
        for chunk in _chunks(metrics, BATCH["metrics"]):
            dst.log_batch(run_id, metrics=chunk)
        for chunk in _chunks([Param(k, v) for k, v in data.params.items()], BATCH["params"]):
            dst.log_batch(run_id, params=chunk)
        for chunk in _chunks([RunTag(k, v) for k, v in kept.items()], BATCH["tags"]):
            dst.log_batch(run_id, tags=chunk)
        files = _copy_run_artifacts(src, dst, info.run_id, run_id)
        _finish(dst, run, run_id)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the destination may not even answer: the first error counts
            dst.set_tag(run_id, END_REASON_TAG, f"migration cut short ({one_line(exc, 200)}); {INCOMPLETE}")
            dst.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    return CopiedRun(run_id, len(data.params), len(metrics), files, len(models))


def _finish(dst: MlflowClient, run: Run, run_id: str) -> None:
    """The last step: the source's owner tag, status and end time; then the copy counts as whole."""
    source_owner = run.data.tags.get(OWNER_TAG)
    if source_owner is None:
        dst.delete_tag(run_id, OWNER_TAG)
    else:
        dst.set_tag(run_id, OWNER_TAG, source_owner)
    dst.set_terminated(run_id, run.info.status, end_time=run.info.end_time)
    dst.delete_tag(run_id, INCOMPLETE_TAG)


def _copied_metric(metric: Metric) -> Metric:
    return Metric(metric.key, metric.value, metric.timestamp, metric.step)


def _copy_run_artifacts(src: MlflowClient, dst: MlflowClient, source_id: str, run_id: str) -> int:
    if not src.list_artifacts(source_id):
        return 0
    with tempfile.TemporaryDirectory(prefix="mnist-migrate-") as folder:
        src.download_artifacts(source_id, "", folder)
        dst.log_artifacts(run_id, folder)
        return _file_count(Path(folder))


def _copy_logged_model(
    src: MlflowClient, dst: MlflowClient, output: LoggedModelOutput, experiment_id: str, run_id: str
) -> str:
    """Copy the LoggedModel a run output (its files, params, tags and status), as an output of run `run_id`."""
    model = src.get_logged_model(output.model_id)
    tags = {k: v for k, v in model.tags.items() if k != MODEL_VERSIONS_TAG}
    copy = dst.create_logged_model(
        experiment_id,
        name=model.name,
        source_run_id=run_id,
        tags={**tags, MIGRATED_FROM_TAG: model.model_id},
        params=dict(model.params),
        model_type=model.model_type,
    )
    with tempfile.TemporaryDirectory(prefix="mnist-migrate-") as folder:
        files = mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=folder, tracking_uri=src.tracking_uri
        )
        _point_mlmodel_at(Path(files) / "MLmodel", run_id, copy.model_id)
        dst.log_model_artifacts(copy.model_id, files)
    ready = model.status == LoggedModelStatus.READY
    dst.finalize_logged_model(copy.model_id, LoggedModelStatus.READY if ready else LoggedModelStatus.FAILED)
    dst.log_outputs(run_id, [LoggedModelOutput(copy.model_id, output.step)])
    return copy.model_id


def _point_mlmodel_at(path: Path, run_id: str, model_id: str) -> None:
    """The MLmodel file names the run and model that logged it: the copies', not the source's."""
    if not path.is_file():
        return
    described: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    described.update({"run_id": run_id, "model_id": model_id})
    path.write_text(yaml.safe_dump(described, sort_keys=False))


def _file_count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def every(page: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search: `page(token)` returns one page."""
    token = None
    while True:
        found = page(token)
        yield from found
        token = found.token
        if not token:
            return

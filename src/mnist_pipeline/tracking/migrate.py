"""`mnist-pipeline migrate`: move a solo store's experiment and registered model to the team server.

Runs are copied parents first (so a sweep's children keep their parent), each one whole or
marked unfinished (migrate_run.py); then the registered model's versions and aliases
(migrate_registry.py). Every copy is tagged with what it was copied from, so the command can
be run again at any time: what is on the server is skipped, a run added locally since is
copied, and a copy cut short last time is copied again.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mnist_pipeline.config import PipelineConfig
from mnist_pipeline.plumbing.errors import PipelineError, one_line
from mnist_pipeline.plumbing.interrupts import uninterrupted
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import migrate_registry, migrate_run
from mnist_pipeline.tracking.migrate_run import MIGRATED_FROM_TAG, every
from mnist_pipeline.tracking.records import PARENT_TAG
from mnist_pipeline.tracking.server import SQLITE_PREFIX, TRACKING_URI_ENV, bound_http_retries, check_reachable
from mnist_pipeline.tracking.store import EXPERIMENT_TAGS, _unreachable

SERVER_SCHEMES = ("http://", "https://")
# No progress bar per artifact download, no "View run" lines per finished run: one line per copy.
QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
AGAIN = "run `mnist-pipeline migrate` again to complete it (what was copied is skipped)"


@dataclass(frozen=True)
class Summary:
    destination: str
    runs: Counter[str]
    registry: migrate_registry.RegistryCounts

    def line(self) -> str:
        r, g = self.runs, self.registry
        return (
            f"migrated to {self.destination}: copied {r['copied']} runs ({r['redone']} redone), "
            f"{r['models']} logged models, {g.versions} model versions, {g.aliases} aliases; "
            f"skipped {r['skipped']} runs, {g.versions_skipped} model versions, {g.aliases_kept} aliases"
        )


def source_uri(config: PipelineConfig, workspace: Workspace, given: str | None) -> str:
    """`--from`, else the configured local store (`tracking.uri` when it is no server, else the
    workspace's own): $MLFLOW_TRACKING_URI is where runs go, the team server, not the source."""
    if given:
        return given
    uri = config.tracking.uri
    return uri if uri and not uri.startswith(SERVER_SCHEMES) else f"{SQLITE_PREFIX}{workspace.store_file}"


def destination_uri(given: str | None) -> str:
    """`--to`, else $MLFLOW_TRACKING_URI when it names a server."""
    uri = given or os.environ.get(TRACKING_URI_ENV, "")
    if not uri.startswith(SERVER_SCHEMES) and not given:
        raise PipelineError(
            f"no destination: give --to http://HOST:PORT (the team's tracking server), or set {TRACKING_URI_ENV}"
        )
    if "://" not in uri:  # MLflow would take it for a folder and create a store there
        raise PipelineError(f"--to {uri} is not a tracking URI: give the server's address, http://HOST:PORT")
    return uri


def migrate(
    config: PipelineConfig, workspace: Workspace, source: str, destination: str, say: Callable[[str], None]
) -> Summary:
    """Copy experiment `tracking.experiment` and model `registry.model_name` from `source` to
    `destination`, saying one line per run, version and alias copied or skipped."""
    if source.rstrip("/") == destination.rstrip("/"):
        raise PipelineError(f"--from and --to are the same store ({source}): give the team server's address to --to")
    _check_source(source)
    bound_http_retries()
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    try:
        check_reachable(destination)
    except PipelineError:
        raise PipelineError(
            f"tracking server {destination} is not reachable: nothing was copied; start it, or give --to its address"
        ) from None
    src, dst = MlflowClient(source), MlflowClient(destination)
    try:
        with uninterrupted():
            experiment = src.get_experiment_by_name(config.tracking.experiment)
        if experiment is None:
            raise PipelineError(
                f"no experiment {config.tracking.experiment!r} in {source}: nothing to migrate; "
                "check tracking.experiment, or give --from the store that has it"
            )
        target = _destination_experiment(dst, config.tracking.experiment, dict(experiment.tags))
        runs, models = _copy_runs(src, dst, experiment.experiment_id, target, say)
        registry = migrate_registry.copy_registry(src, dst, config.registry, models, say)
    except (MlflowException, OSError) as exc:
        why = _unreachable(exc) or one_line(exc, 300)
        raise PipelineError(f"migration to {destination} stopped ({why}); no half copy is FINISHED: {AGAIN}") from None
    return Summary(destination, runs, registry)


def _check_source(source: str) -> None:
    if source.startswith(SQLITE_PREFIX) and not Path(source.removeprefix(SQLITE_PREFIX)).is_file():
        raise PipelineError(
            f"no local MLflow store at {source.removeprefix(SQLITE_PREFIX)}: nothing to migrate; "
            "train first (`dvc repro`), or give --from the store's URI"
        )


def _destination_experiment(dst: MlflowClient, name: str, tags: dict[str, str]) -> str:
    with uninterrupted():
        found = dst.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(dst.create_experiment(name, tags={**tags, **EXPERIMENT_TAGS}))


def _copy_runs(
    src: MlflowClient, dst: MlflowClient, source_id: str, target_id: str, say: Callable[[str], None]
) -> tuple[Counter[str], dict[str, migrate_registry.ModelCopy]]:
    """Copy the runs not on the server yet, parents first; returns the counts and where each
    source LoggedModel's copy is."""
    counts: Counter[str] = Counter()
    copies = {
        run.data.tags[MIGRATED_FROM_TAG]: run for run in _runs(dst, target_id, f"tags.`{MIGRATED_FROM_TAG}` LIKE '%'")
    }
    placed: dict[str, str] = {}  # source run id -> its complete copy
    for run in _parents_first(list(_runs(src, source_id))):
        source_run, parent = run.info.run_id, run.data.tags.get(PARENT_TAG)
        label = f"run {run.info.run_name} ({source_run})"
        earlier = copies.get(source_run)
        if earlier is not None and migrate_run.is_complete(earlier):
            placed[source_run] = earlier.info.run_id
            counts["skipped"] += 1
            say(f"skipped {label}: already on the server as {earlier.info.run_id}")
            continue
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            counts["skipped"] += 1
            say(f"skipped {label}: still RUNNING here; migrate again once it has ended")
            continue
        if parent and parent not in placed:
            counts["skipped"] += 1
            say(f"skipped {label}: its parent run {parent} is not on the server")
            continue
        with uninterrupted():
            if earlier is not None:
                migrate_run.discard(dst, target_id, earlier.info.run_id)
                counts["redone"] += 1
            copied = migrate_run.copy_run(src, dst, run, target_id, placed.get(parent or ""))
        placed[source_run] = copied.run_id
        counts["copied"] += 1
        counts["models"] += copied.logged_models
        again = " (again: the last copy was cut short)" if earlier is not None else ""
        say(
            f"copied {label} as {copied.run_id}{again}: {copied.params} params, {copied.metric_values} metric "
            f"values, {copied.artifact_files} artifact files, {copied.logged_models} logged models"
        )
    return counts, _model_copies(dst, target_id)


def _model_copies(dst: MlflowClient, experiment_id: str) -> dict[str, migrate_registry.ModelCopy]:
    found = every(lambda token: dst.search_logged_models([experiment_id], page_token=token))
    return {
        m.tags[MIGRATED_FROM_TAG]: migrate_registry.ModelCopy(m.model_id, str(m.source_run_id))
        for m in found
        if MIGRATED_FROM_TAG in m.tags
    }


def _runs(client: MlflowClient, experiment_id: str, query: str = "") -> list[Run]:
    return list(
        every(
            lambda token: client.search_runs(
                [experiment_id],
                filter_string=query,
                max_results=1000,
                page_token=token,
                order_by=["attributes.start_time ASC"],
            )
        )
    )


def _parents_first(runs: list[Run]) -> list[Run]:
    """Oldest first, each parent before its children (sweeps nest one level; any depth works)."""
    parents = {r.info.run_id: r.data.tags.get(PARENT_TAG) for r in runs}

    def depth(run_id: str | None, seen: int = 0) -> int:
        parent = parents.get(run_id or "")
        return seen if parent is None or seen > len(parents) else depth(parent, seen + 1)

    return sorted(runs, key=lambda r: (depth(r.info.run_id), r.info.start_time or 0))

"""The pipeline's only door to MLflow: store location, experiment, run life and logging.

One pipeline run is one MLflow run: the train stage opens it, the evaluate stage reopens it
by id. The default store is embedded at the workspace root (`mlflow.db` + `mlartifacts/`,
named in plumbing/workspace.py), resolved to absolute paths so that every process (stage scripts, Hydra jobs, DVC queue
copies) writes to the same place; MLFLOW_TRACKING_URI or `tracking.uri` switch to a server.

Several processes may share one store: its creation is serialised by a lock file beside the
database, MLflow calls are never cut in half by Ctrl-C or SIGTERM (interrupts.py), and each
run records which process holds it open, so that a run left RUNNING by a process that was
hard-killed is recognised and closed as KILLED by the next run.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import mlflow
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.errors import PipelineError, one_line
from mnist_pipeline.plumbing.files import exclusive_lock
from mnist_pipeline.plumbing.full_disk import is_disk_full
from mnist_pipeline.plumbing.interrupts import uninterrupted
from mnist_pipeline.plumbing.profiling import phase, timed
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import identity, ui_links
from mnist_pipeline.tracking.records import PARENT_TAG, RunRecord
from mnist_pipeline.tracking.server import (
    SQLITE_PREFIX,
    TRACKING_URI_ENV,
    bound_http_retries,
    tracking_uri,
    unreachable,
)

MODEL_ARTIFACT = "model"  # the Keras model (registered, the champion)
ONNX_MODEL_ARTIFACT = "model_onnx"  # its ONNX export, logged beside it by the same run
# The kind makes `mlflow ui` treat the experiment as model training rather than GenAI; the
# shared view is the runs table with the columns runs are compared by (ui_links.py).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development", ui_links.VIEW_TAG: ui_links.view_state()}
# Packages a served model needs; pinned to what trained it, so MLflow skips its slow inference.
# (MLflow adds its own pin, `mlflow==`, to each.)
_KERAS_PACKAGES = ("keras", "numpy")
_ONNX_PACKAGES = ("onnx", "onnxruntime", "numpy")
# "host:pid" of the process that has the run open; END_REASON_TAG says why a run did not finish.
OWNER_TAG = "mnist_pipeline.owner"
END_REASON_TAG = "mnist_pipeline.end_reason"
LOCK_SUFFIX = ".lock"
F = TypeVar("F", bound=Callable[..., Any])
# MLflow logs each SQLite error with its traceback (dozens of lines) before it raises it.
_DB_LOGGER = "mlflow.store.db.utils"


def _not_disk_full(record: logging.LogRecord) -> bool:
    """Drop MLflow's traceback of a full disk: the stage says it in one line (plumbing/full_disk.py)."""
    error = record.exc_info[1] if record.exc_info else None
    return error is None or not is_disk_full(error)


logging.getLogger(_DB_LOGGER).addFilter(_not_disk_full)


def _store_call(func: F) -> F:
    """An MLflow call: timed for profiles, and never cut in half by Ctrl-C or SIGTERM (interrupts.py)."""
    return timed("mlflow")(uninterrupted()(func))


@_store_call
def ensure_experiment(config: TrackingConfig, workspace: Workspace) -> str:
    """Create the store and experiment if needed (once, before any run) and return its id."""
    uri = tracking_uri(config, workspace)
    bound_http_retries()
    _use_uri(uri)
    try:
        with _creation_lock(uri):
            client = MlflowClient(uri)
            existing = client.get_experiment_by_name(config.experiment)
            if existing is not None:
                for key, value in EXPERIMENT_TAGS.items():  # a store from before a tag was added gets it
                    if existing.tags.get(key) != value:
                        client.set_experiment_tag(existing.experiment_id, key, value)
                return existing.experiment_id
            location = workspace.artifact_dir.as_uri() if uri.startswith("sqlite:") else None
            try:
                return client.create_experiment(config.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
            except MlflowException:  # created meanwhile by a process on another machine
                found = client.get_experiment_by_name(config.experiment)
                if found is None:
                    raise
                return found.experiment_id
    except (MlflowException, OSError) as exc:
        if _unreachable(exc):
            raise unreachable(uri, _unreachable(exc)) from None
        raise PipelineError(
            f"MLflow store {uri} is not usable ({one_line(exc, 300)}); check {TRACKING_URI_ENV} / tracking.uri"
        ) from None


@contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on `<db>.lock` while a SQLite store may be created: MLflow creates
    its tables unguarded, and two processes doing so at once can leave a store neither can open."""
    if not uri.startswith(SQLITE_PREFIX):
        yield
        return
    db = Path(uri.removeprefix(SQLITE_PREFIX))
    with exclusive_lock(db.with_name(db.name + LOCK_SUFFIX)):
        yield


@_store_call
def close_stale_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED, with a tag saying why, the RUNNING runs whose process on this machine is gone
    (SIGKILL, out of memory, a crash); runs of live processes and of other machines are left alone."""
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        owner_host, _, pid = run.data.tags.get(OWNER_TAG, "").rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, END_REASON_TAG, f"process {pid} on {host} ended without closing the run")
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))
        closed.append(run.info.run_id)
        print(
            f"warning: MLflow run {run.info.run_id} was left RUNNING by process {pid}, which is gone; marked it KILLED",
            file=sys.stderr,
        )
    return closed


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (this one included: a sweep's runs all belong to its process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _use_uri(uri: str) -> None:
    """Point MLflow's fluent API at `uri` without the side effect MLflow adds: it also exports
    $MLFLOW_TRACKING_URI, which would make this choice override the config of every later
    run in the process (sweep jobs) and of every child process."""
    before = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop(TRACKING_URI_ENV, None)
    else:
        os.environ[TRACKING_URI_ENV] = before


@dataclass
class TrackedRun:
    """Logging calls for one active run."""

    run_id: str
    experiment_id: str

    def where_to_look(self) -> list[str]:
        """Where the MLflow UI shows this run and the experiment's runs side by side (none for a
        store the UI has no address for)."""
        ui = ui_links.ui_address(mlflow.get_tracking_uri())
        if ui is None:
            return []
        start = " (start it with `make ui`)" if ui == ui_links.LOCAL_UI else ""
        return [
            f"MLflow UI{start}:",
            f"  this run:      {ui_links.run_url(ui, self.experiment_id, self.run_id)}",
            f"  training runs: {ui_links.runs_view_url(ui, self.experiment_id)}",
        ]

    @_store_call
    def log_params(self, params: dict[str, Any]) -> None:
        mlflow.log_params({k: "null" if v is None else v for k, v in params.items()})

    @_store_call
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(metrics, step=step)

    def log_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.log_metrics(logs, step=epoch)

    @_store_call
    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        with whole_artifacts(mlflow.get_artifact_uri()):
            mlflow.log_artifact(str(path), artifact_path=folder)

    @_store_call
    def log_artifacts(self, directory: Path, folder: str | None = None) -> None:
        with whole_artifacts(mlflow.get_artifact_uri()):
            mlflow.log_artifacts(str(directory), artifact_path=folder)

    @_store_call
    def set_tags(self, tags: dict[str, str]) -> None:
        mlflow.set_tags(tags)

    @_store_call
    def log_dict(self, data: dict[str, Any], file_name: str) -> None:
        with whole_artifacts(mlflow.get_artifact_uri()):
            mlflow.log_dict(data, file_name)

    @_store_call
    def log_keras_model(self, model: Any, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        """The Keras flavour, whose pyfunc predicts without a progress bar (quiet_keras.py)."""
        from mlflow.models import Model

        from mnist_pipeline.tracking import quiet_keras

        signature = _signature(input_shape, output_shape)
        _whole_model(
            lambda: Model.log(
                artifact_path=None,
                name=MODEL_ARTIFACT,
                flavor=quiet_keras,
                flavor_name=quiet_keras.FLAVOR_NAME,
                model=model,
                signature=signature,
                pip_requirements=keras_model_requirements(),
            )
        )

    @_store_call
    def log_onnx_model(self, path: Path, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        """The ONNX export of the same model, beside it, with the same signature: what
        `mlflow models serve` runs without TensorFlow (a model of its own, `ONNX_MODEL_ARTIFACT`)."""
        import mlflow.onnx
        import onnx

        signature = _signature(input_shape, output_shape)
        _whole_model(
            lambda: mlflow.onnx.log_model(
                onnx.load_model(path),
                name=ONNX_MODEL_ARTIFACT,
                signature=signature,
                pip_requirements=_requirements(_ONNX_PACKAGES),
                save_as_external_data=False,
            )
        )


def _whole_model(log_model: Callable[[], Any]) -> None:
    """`log_model()`; if it fails, the files of the logged model it had created are removed."""
    try:
        before = mlflow.last_logged_model()
    except MlflowException:  # this process's last model went to another store (tests switch stores)
        before = None
    try:
        log_model()
    except BaseException:
        with contextlib.suppress(MlflowException):  # the store may not even answer: the first error counts
            failed = mlflow.last_logged_model()  # this thread's: the one that just failed, if it was created
            if failed is not None and (before is None or failed.model_id != before.model_id):
                _remove_local_artifacts(failed.artifact_location)
        raise


@contextmanager
def pipeline_run(
    config: TrackingConfig,
    workspace: Workspace,
    *,
    run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[TrackedRun]:
    """Start (or, with `run_id`, reopen) a run; it ends FINISHED, FAILED on error, KILLED on Ctrl-C/SIGTERM."""
    experiment_id = ensure_experiment(config, workspace)
    close_stale_runs(MlflowClient(tracking_uri(config, workspace)), experiment_id)
    run_tags = {**(git_tags(workspace) if run_id is None else {}), **(tags or {}), OWNER_TAG: owner()}
    try:
        with phase("mlflow"), uninterrupted():
            active = mlflow.start_run(
                run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=run_name, tags=run_tags
            )
    except MlflowException as exc:
        raise PipelineError(f"cannot open MLflow run {run_id or ''}: {one_line(exc, 300)}") from None
    status, reason = RunStatus.to_string(RunStatus.FAILED), ""
    try:
        yield TrackedRun(active.info.run_id, active.info.experiment_id)
        status = RunStatus.to_string(RunStatus.FINISHED)
    except KeyboardInterrupt as exc:
        status, reason = RunStatus.to_string(RunStatus.KILLED), f"interrupted by {exc or 'SIGINT'}"
        raise
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {one_line(exc, 300)}"
        raise
    finally:
        with phase("mlflow"), uninterrupted():
            try:
                if reason:
                    mlflow.set_tag(END_REASON_TAG, reason)
                mlflow.end_run(status=status)
            except MlflowException:
                if not reason:
                    raise
                # A store that cannot take the end (full, say) keeps the run RUNNING until the next
                # run closes it (close_stale_runs); the error that ended this one is the one to tell.


def _local_artifact_dir(uri: str | None) -> Path | None:
    """The folder a `file:` (or plain path) artifact URI names; None for a remote store."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if not parsed.scheme else None


def _stamps(folder: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@contextmanager
def whole_artifacts(artifact_uri: str | None) -> Iterator[None]:
    """A logging call that fails (a full disk, Ctrl-C) leaves none of the files it wrote in a
    local artifact store: a file cut short, or the first of several, would pass for a logged one."""
    root = _local_artifact_dir(artifact_uri)
    before = _stamps(root) if root is not None and root.is_dir() else {}
    try:
        yield
    except BaseException:
        if root is not None and root.is_dir():
            for path, stamp in _stamps(root).items():
                if before.get(path) != stamp:
                    path.unlink(missing_ok=True)
        raise


def _remove_local_artifacts(artifact_uri: str | None) -> None:
    """Remove a failed logged model's folder from a local artifact store."""
    folder = _local_artifact_dir(artifact_uri)
    if folder is not None:
        shutil.rmtree(folder.parent if folder.name == "artifacts" else folder, ignore_errors=True)


def load_keras_model(model_uri: str, store_uri: str) -> Any:
    """The Keras model behind an MLflow model URI in the store at `store_uri`:
    `models:/NAME@alias`, `models:/NAME/version`, `models:/<model_id>`, `runs:/<run_id>/model`."""
    import mlflow.keras

    _use_uri(store_uri)
    try:  # downloaded into a folder of ours and removed once loaded (MLflow's own is left in the temp folder)
        with tempfile.TemporaryDirectory(prefix="mnist-model-") as download:
            return mlflow.keras.load_model(model_uri, dst_path=download)
    except (MlflowException, OSError) as exc:
        raise PipelineError(
            f"cannot load MLflow model {model_uri} from {store_uri} ({one_line(exc, 300)}); "
            f"check the name, alias or id (`mlflow ui`), or set {TRACKING_URI_ENV}"
        ) from None


@contextmanager
def onnx_model_file(config: TrackingConfig, workspace: Workspace, run_id: str) -> Iterator[Path]:
    """The ONNX export run `run_id` logged (`ONNX_MODEL_ARTIFACT`), downloaded for the block
    into a temporary folder (removed after it)."""
    import mlflow.artifacts

    uri = tracking_uri(config, workspace)
    _use_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per model: noise
    with tempfile.TemporaryDirectory(prefix="mnist-model-") as download:
        try:
            folder = mlflow.artifacts.download_artifacts(
                artifact_uri=f"runs:/{run_id}/{ONNX_MODEL_ARTIFACT}", dst_path=download
            )
        except (MlflowException, OSError) as exc:
            raise PipelineError(
                f"run {run_id} has no ONNX model in {uri} ({one_line(exc, 200)}); "
                "give training runs of this repository (`mnist-pipeline runs`)"
            ) from None
        yield Path(folder) / "model.onnx"  # where mlflow.onnx puts the model in its folder


def run_status(config: TrackingConfig, workspace: Workspace, run_id: str) -> str:
    return MlflowClient(tracking_uri(config, workspace)).get_run(run_id).info.status


def git_tags(workspace: Workspace) -> dict[str, str]:
    """The commit the run's code came from, and whether the work tree had changes (of the
    workspace that holds the store)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=workspace.store_root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    return {
        "mlflow.source.git.commit": commit,
        "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
    }


def _signature(input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> Any:
    """float32 images (-1, *input_shape) in, float32 probabilities (-1, *output_shape) out."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *input_shape))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *output_shape))]),
    )


def keras_model_requirements() -> list[str]:
    """What a logged Keras model needs wherever it is served: Keras, NumPy and TensorFlow as trained.

    TensorFlow at the version that trained, under the name this project installs on each
    platform (identity.tensorflow_requirements): tensorflow-cpu on x86-64 Linux, `tensorflow`
    elsewhere (tensorflow-cpu has no wheel for macOS or ARM). Naming the distribution that is
    installed also lets MLflow check the version without importing TensorFlow when it loads the
    model, before the model's own quiet loader runs.
    """
    version = identity.tensorflow_version()
    return [*_requirements(_KERAS_PACKAGES), *(identity.tensorflow_requirements(version) if version else [])]


def _requirements(packages: tuple[str, ...]) -> list[str]:
    found = []
    for name in packages:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


# Runs that are not this process's active run (a sweep's parent and children, written by the
# Hydra callback), queries for tables, and the model registry.


def _unreachable(exc: BaseException) -> str:
    """Why an HTTP store did not answer ("connection refused", "timed out"), or "" if it did."""
    text = str(exc)
    for symptom, reason in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("Max retries", "no answer"),
    ):
        if symptom in text:
            return reason
    return ""


@contextmanager
def _store(config: TrackingConfig, workspace: Workspace, doing: str) -> Iterator[tuple[MlflowClient, str]]:
    """A client and the experiment id; MLflow errors become one-line `PipelineError`s, and
    Ctrl-C or SIGTERM wait until the block is done (interrupts.py)."""
    experiment_id = ensure_experiment(config, workspace)
    try:
        with uninterrupted():
            yield MlflowClient(tracking_uri(config, workspace)), experiment_id
    except MlflowException as exc:
        raise PipelineError(f"MLflow could not {doing}: {one_line(exc, 300)}") from None


def create_run(
    config: TrackingConfig,
    workspace: Workspace,
    name: str,
    tags: dict[str, str],
    *,
    parent_id: str | None = None,
    params: dict[str, Any] | None = None,
    owned: bool = True,
) -> str:
    """Create a RUNNING run (a child of `parent_id` if given) without making it active here.

    `owned=False`: no process owns it (a shared study's parent), so none is closed as stale."""
    with _store(config, workspace, f"create run {name}") as (client, experiment_id):
        source = {"mlflow.source.name": sys.argv[0], "mlflow.source.type": "LOCAL", "mlflow.user": getpass.getuser()}
        all_tags = {
            **source,
            **git_tags(workspace),
            **tags,
            **({PARENT_TAG: parent_id} if parent_id else {}),
            **({OWNER_TAG: owner()} if owned else {}),
        }
        run_id = client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id
    if params:
        update_run(config, workspace, run_id, params=params)
    return run_id


def update_run(
    config: TrackingConfig,
    workspace: Workspace,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    artifacts: dict[str, Path] | None = None,
) -> None:
    """Log params, metrics, tags and artifacts (`{artifact folder ("": top): file or folder}`) to a run by id."""
    with _store(config, workspace, f"update run {run_id}") as (client, _):
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in (metrics or {}).items()],
            params=[Param(k, "null" if v is None else str(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )
        if not artifacts:
            return
        with whole_artifacts(client.get_run(run_id).info.artifact_uri):
            for folder, path in artifacts.items():
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), folder or None)
                elif path.is_file():
                    client.log_artifact(run_id, str(path), folder or None)


def end_run(config: TrackingConfig, workspace: Workspace, run_id: str, status: str) -> None:
    """Set a run's final status (FINISHED, FAILED or KILLED)."""
    with _store(config, workspace, f"end run {run_id}") as (client, _):
        client.set_terminated(run_id, status)


def find_runs(config: TrackingConfig, workspace: Workspace, *, parent_id: str | None = None) -> list[RunRecord]:
    """The experiment's runs (or the children of `parent_id`), newest first."""
    query = f"tags.`{PARENT_TAG}` = '{parent_id}'" if parent_id else ""
    with _store(config, workspace, "search runs") as (client, experiment_id):
        found = client.search_runs(
            [experiment_id], filter_string=query, max_results=5000, order_by=["attributes.start_time DESC"]
        )
        return [_record(run) for run in found]


def latest_run_tagged(config: TrackingConfig, workspace: Workspace, tag: str, value: str) -> str | None:
    """The id of the newest run of the experiment tagged `tag` = `value`, whatever its status, if any."""
    with _store(config, workspace, "search the runs") as (client, experiment_id):
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{tag}` = '{value}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    return found[0].info.run_id if found else None


def get_run(config: TrackingConfig, workspace: Workspace, run_id: str) -> RunRecord:
    """One run; its metrics are each metric's last value (for per-epoch metrics: the last epoch's)."""
    with _store(config, workspace, f"read run {run_id}") as (client, _):
        return _record(client.get_run(run_id))


def _record(run: Any) -> RunRecord:
    info, data = run.info, run.data
    return RunRecord(
        info.run_id,
        info.run_name or "",
        info.status,
        info.start_time or 0,
        dict(data.params),
        dict(data.metrics),
        dict(data.tags),
    )


def register_model_version(
    config: TrackingConfig, workspace: Workspace, run_id: str, model_name: str, tags: dict[str, str]
) -> str:
    """Register the model that run `run_id` logged as a new version of `model_name`."""
    with _store(config, workspace, f"register {model_name}") as (client, experiment_id):
        # The Keras model: the run also logged its ONNX export (ONNX_MODEL_ARTIFACT), served beside it.
        query = f"source_run_id = '{run_id}' AND name = '{MODEL_ARTIFACT}'"
        models = client.search_logged_models([experiment_id], filter_string=query)
        if not models:
            raise PipelineError(f"run {run_id} logged no model to register: run the train stage first")
        version = mlflow.register_model(f"models:/{models[0].model_id}", model_name, tags=tags)
        return str(version.version)


def alias_run(config: TrackingConfig, workspace: Workspace, model_name: str, alias: str) -> tuple[str, str] | None:
    """(version, run id) that `model_name@alias` points to, or None if the alias is unset."""
    with _store(config, workspace, f"read {model_name}@{alias}") as (client, _):
        try:
            version = client.get_model_version_by_alias(model_name, alias)
        except MlflowException:
            return None
        return str(version.version), str(version.run_id)


def set_alias(config: TrackingConfig, workspace: Workspace, model_name: str, alias: str, version: str) -> None:
    with _store(config, workspace, f"set {model_name}@{alias}") as (client, _):
        client.set_registered_model_alias(model_name, alias, version)


@dataclass(frozen=True)
class ModelVersion:
    version: str
    run_id: str
    tags: dict[str, str]


def model_versions(config: TrackingConfig, workspace: Workspace, model_name: str) -> list[ModelVersion]:
    """Every version of `model_name`, newest first (none if it was never registered)."""
    with _store(config, workspace, f"list the versions of {model_name}") as (client, _):
        found = client.search_model_versions(f"name = '{model_name}'")
    versions = [ModelVersion(str(v.version), str(v.run_id), dict(v.tags or {})) for v in found]
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def delete_model_version(config: TrackingConfig, workspace: Workspace, model_name: str, version: str) -> None:
    with _store(config, workspace, f"delete {model_name} version {version}") as (client, _):
        client.delete_model_version(model_name, version)

"""The pipeline's only door to MLflow: store location, experiment, run life and logging.

One pipeline run is one MLflow run: the train stage opens it, the evaluate stage reopens it
by id. The default store is embedded at the workspace root (`mlflow.db` + `mlartifacts/`),
resolved to absolute paths so that every process (stage scripts, Hydra jobs, DVC queue
copies) writes to the same place; MLFLOW_TRACKING_URI or `tracking.uri` switch to a server.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.profiling import phase, timed

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
MODEL_ARTIFACT = "model"
# Makes `mlflow ui` open the experiment on its training-runs view rather than the GenAI one.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
# Packages a served model needs; pinned to what trained it, so MLflow skips its slow inference.
_MODEL_PACKAGES = ("keras", "tensorflow-cpu", "tensorflow", "numpy")


def tracking_uri(config: TrackingConfig, root: Path) -> str:
    """$MLFLOW_TRACKING_URI, else `tracking.uri`, else the embedded store at `root`."""
    return os.environ.get(TRACKING_URI_ENV) or config.uri or f"sqlite:///{(root / STORE_FILE).resolve()}"


@timed("mlflow")
def ensure_experiment(config: TrackingConfig, root: Path) -> str:
    """Create the store and experiment if needed (once, before any run) and return its id."""
    uri = tracking_uri(config, root)
    _use_uri(uri)
    client = MlflowClient(uri)
    try:
        existing = client.get_experiment_by_name(config.experiment)
        if existing is not None:
            return existing.experiment_id
        location = (root / ARTIFACT_DIR).resolve().as_uri() if uri.startswith("sqlite:") else None
        try:
            return client.create_experiment(config.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
        except MlflowException:  # created meanwhile by a concurrent process
            found = client.get_experiment_by_name(config.experiment)
            if found is None:
                raise
            return found.experiment_id
    except MlflowException as exc:
        raise PipelineError(
            f"MLflow store {uri} is not usable ({_first_line(exc)}); check {TRACKING_URI_ENV} / tracking.uri"
        ) from None


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

    @timed("mlflow")
    def log_params(self, params: dict[str, Any]) -> None:
        mlflow.log_params({k: "null" if v is None else v for k, v in params.items()})

    @timed("mlflow")
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(metrics, step=step)

    def log_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.log_metrics(logs, step=epoch)

    @timed("mlflow")
    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        mlflow.log_artifact(str(path), artifact_path=folder)

    @timed("mlflow")
    def log_dict(self, data: dict[str, Any], file_name: str) -> None:
        mlflow.log_dict(data, file_name)

    @timed("mlflow")
    def log_keras_model(self, model: Any, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        import mlflow.keras
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *input_shape))]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *output_shape))]),
        )
        mlflow.keras.log_model(model, name=MODEL_ARTIFACT, signature=signature, pip_requirements=_requirements())


@contextmanager
def pipeline_run(
    config: TrackingConfig,
    root: Path,
    *,
    run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[TrackedRun]:
    """Start (or, with `run_id`, reopen) a run; it ends FINISHED, FAILED on error, KILLED on Ctrl-C."""
    experiment_id = ensure_experiment(config, root)
    try:
        with phase("mlflow"):
            active = mlflow.start_run(
                run_id=run_id,
                experiment_id=None if run_id else experiment_id,
                run_name=run_name,
                tags={**git_tags(root), **(tags or {})} if run_id is None else tags,
            )
    except MlflowException as exc:
        raise PipelineError(f"cannot open MLflow run {run_id or ''}: {_first_line(exc)}") from None
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        yield TrackedRun(active.info.run_id)
        status = RunStatus.to_string(RunStatus.FINISHED)
    except KeyboardInterrupt:
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    finally:
        with phase("mlflow"):
            mlflow.end_run(status=status)


def run_status(config: TrackingConfig, root: Path, run_id: str) -> str:
    return MlflowClient(tracking_uri(config, root)).get_run(run_id).info.status


def git_tags(root: Path) -> dict[str, str]:
    """The commit the run's code came from, and whether the work tree had changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    return {"mlflow.source.git.commit": commit, "git_dirty": str(bool(git("status", "--porcelain"))).lower()}


def _requirements() -> list[str]:
    found = []
    for name in _MODEL_PACKAGES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]

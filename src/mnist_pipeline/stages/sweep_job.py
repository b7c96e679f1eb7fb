"""One Hydra job: its data, its MLflow run, and the value it returns to the sweeper.

Shared work happens once, before any job starts (the sweep callback calls
`prepare_data`), so that jobs launched in parallel never run `dvc repro` at the same time.
The callback also creates each job's MLflow run and hands its id over in the job folder
(`job.json`); the job trains and evaluates into that run. Keras state is cleared and
reseeded at the start of every fit, so jobs sharing a process do not leak into each other.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mnist_pipeline.config import PipelineConfig, load_params
from mnist_pipeline.plumbing import side_process
from mnist_pipeline.plumbing.children import tied_to_this_process
from mnist_pipeline.plumbing.errors import ConfigError, PipelineError
from mnist_pipeline.plumbing.files import atomic_file, exclusive_lock
from mnist_pipeline.plumbing.workspace import (
    EVALUATE_FIGURES,
    METRICS_FILE,
    PER_CLASS_FILE,
    PREDICTIONS_FILE,
    Workspace,
)
from mnist_pipeline.stages.evaluate import evaluate_stage
from mnist_pipeline.stages.preprocess import preprocess_stage
from mnist_pipeline.stages.train import train_stage

JOB_FILE = "job.json"


@dataclass(frozen=True)
class JobTicket:
    """What the sweep callback prepared for one job."""

    run_id: str | None  # the MLflow run the job logs into (None: the job opens its own)
    shared_data: str | None  # processed data that jobs with params.yaml's data config share


def dvc_repro(workspace: Workspace, stage: str, meanwhile: Callable[[], object] | None = None) -> None:
    """`dvc repro stage`, one sweep at a time: DVC refuses a second repro while the first
    holds the outputs, so sweeps started together in one workspace queue here instead of failing.
    `meanwhile` runs in this process while DVC works in its own (on the other core)."""
    with exclusive_lock(workspace.sweep_data_lock):
        dvc = subprocess.Popen(
            ["dvc", "--wait-for-lock", "repro", stage],
            cwd=workspace.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=tied_to_this_process(),  # and DVC's stage to DVC (plumbing/entry.py)
        )
        try:
            if meanwhile is not None:
                meanwhile()
            stdout, stderr = dvc.communicate()
        finally:
            if dvc.poll() is None:  # `meanwhile` failed, or Ctrl-C: DVC does not outlive its reason
                dvc.terminate()
                dvc.wait()
    if dvc.returncode != 0:
        lines = (stderr + stdout).strip().splitlines()
        error = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "no output")
        raise PipelineError(f"`dvc repro {stage}` failed: {error}; run it yourself to see why")


def prepare_data(
    config: PipelineConfig, workspace: Workspace, meanwhile: Callable[[], object] | None = None
) -> Path | None:
    """Bring the workspace's data up to date once; returns the processed folder jobs may share.

    The pipeline's processed data serves jobs whose data config is params.yaml's; other
    jobs preprocess the (downloaded) raw files into their own folder. `meanwhile`: as in `dvc_repro`.
    """
    if config.data == load_params(workspace.params_file).data:
        dvc_repro(workspace, "preprocess", meanwhile)
        return workspace.stage_output("preprocess")
    dvc_repro(workspace, "download", meanwhile)
    return None


def job_data(config: PipelineConfig, workspace: Workspace, job_dir: Path, shared: Path | None) -> Path:
    """The shared processed data when the job's data config matches params.yaml, else the job's own."""
    if shared is not None and config.data == load_params(workspace.params_file).data:
        return shared
    data_dir = job_dir / "data"
    preprocess_stage(config, workspace.stage_output("download"), data_dir)
    return data_dir


def write_ticket(job_dir: Path, ticket: JobTicket) -> None:
    with atomic_file(job_dir / JOB_FILE) as tmp:
        tmp.write_text(json.dumps(asdict(ticket)) + "\n")


def read_ticket(job_dir: Path) -> JobTicket | None:
    path = job_dir / JOB_FILE
    return JobTicket(**json.loads(path.read_text())) if path.is_file() else None


def run_job(config: PipelineConfig, workspace: Workspace, job_dir: Path, metric: str) -> float:
    """Train and evaluate one job into its folder; returns `metric` (last logged value) for the sweeper."""
    from mnist_pipeline.tracking import store

    side_process.keep_between_blocks()  # train's picture child draws evaluate's, and the next job's
    ticket = read_ticket(job_dir)
    if ticket is None:  # no sweep callback: nothing was prepared for this job
        shared = prepare_data(config, workspace)
        ticket = JobTicket(None, str(shared) if shared else None)
    shared = Path(ticket.shared_data) if ticket.shared_data else None
    data_dir = job_data(config, workspace, job_dir, shared)
    run_id, _ = train_and_evaluate(config, data_dir, job_dir, workspace, run_id=ticket.run_id)
    value = store.get_run(config.tracking, workspace, run_id).metrics.get(metric)
    if value is None:
        raise ConfigError(f"the sweep metric {metric!r} was not logged by run {run_id}; choose a metric the run logs")
    return float(value)


def train_and_evaluate(
    config: PipelineConfig, data_dir: Path, out_dir: Path, workspace: Workspace, run_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Train then evaluate into `out_dir` (a sweep job's folder): one MLflow run, its id and test metrics."""
    model_dir, reports = out_dir / "models", out_dir / "reports"
    run_id = train_stage(
        config,
        data_dir,
        model_dir,
        reports / "train_history.csv",
        workspace,
        run_id=run_id,
        figures_dir=reports / "figures" / "train",
    )
    metrics = evaluate_stage(
        config,
        data_dir,
        model_dir,
        reports / METRICS_FILE,
        reports / PREDICTIONS_FILE,
        workspace,
        figures_dir=reports / EVALUATE_FIGURES,
        per_class_file=reports / PER_CLASS_FILE,
        run_id=run_id,  # not looked up: two jobs of the same config save the same bytes
        register=config.registry.register_sweep_jobs,
    )
    return run_id, metrics

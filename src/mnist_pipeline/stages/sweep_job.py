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
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from mnist_pipeline.config import PipelineConfig, load_params
from mnist_pipeline.plumbing.errors import ConfigError, PipelineError
from mnist_pipeline.plumbing.files import atomic_file, exclusive_lock
from mnist_pipeline.stages.params import PARAMS_FILE
from mnist_pipeline.stages.pipeline import preprocess_stage, train_and_evaluate

JOB_FILE = "job.json"
# Held while a sweep brings the workspace's data up to date (beside DVC's own locks).
DATA_LOCK = Path(".dvc/tmp/sweep-data.lock")


@dataclass(frozen=True)
class JobTicket:
    """What the sweep callback prepared for one job."""

    run_id: str | None  # the MLflow run the job logs into (None: the job opens its own)
    shared_data: str | None  # processed data that jobs with params.yaml's data config share


def stage_output(root: Path, stage: str) -> Path:
    """The first output dvc.yaml declares for `stage` (dvc.yaml is the one place paths live)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    return root / stages[stage]["outs"][0]


def dvc_repro(root: Path, stage: str) -> None:
    """`dvc repro stage`, one sweep at a time: DVC refuses a second repro while the first
    holds the outputs, so sweeps started together in one workspace queue here instead of failing."""
    with exclusive_lock(root / DATA_LOCK):
        done = subprocess.run(
            ["dvc", "--wait-for-lock", "repro", stage], cwd=root, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        lines = (done.stderr + done.stdout).strip().splitlines()
        error = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "no output")
        raise PipelineError(f"`dvc repro {stage}` failed: {error}; run it yourself to see why")


def prepare_data(config: PipelineConfig, root: Path) -> Path | None:
    """Bring the workspace's data up to date once; returns the processed folder jobs may share.

    The pipeline's processed data serves jobs whose data config is params.yaml's; other
    jobs preprocess the (downloaded) raw files into their own folder.
    """
    if config.data == load_params(root / PARAMS_FILE).data:
        dvc_repro(root, "preprocess")
        return stage_output(root, "preprocess")
    dvc_repro(root, "download")
    return None


def job_data(config: PipelineConfig, root: Path, job_dir: Path, shared: Path | None) -> Path:
    """The shared processed data when the job's data config matches params.yaml, else the job's own."""
    if shared is not None and config.data == load_params(root / PARAMS_FILE).data:
        return shared
    data_dir = job_dir / "data"
    preprocess_stage(config, stage_output(root, "download"), data_dir)
    return data_dir


def write_ticket(job_dir: Path, ticket: JobTicket) -> None:
    with atomic_file(job_dir / JOB_FILE) as tmp:
        tmp.write_text(json.dumps(asdict(ticket)) + "\n")


def read_ticket(job_dir: Path) -> JobTicket | None:
    path = job_dir / JOB_FILE
    return JobTicket(**json.loads(path.read_text())) if path.is_file() else None


def run_job(config: PipelineConfig, root: Path, job_dir: Path, metric: str) -> float:
    """Train and evaluate one job into its folder; returns `metric` (last logged value) for the sweeper."""
    from mnist_pipeline.tracking import store

    ticket = read_ticket(job_dir)
    if ticket is None:  # no sweep callback: nothing was prepared for this job
        shared = prepare_data(config, root)
        ticket = JobTicket(None, str(shared) if shared else None)
    shared = Path(ticket.shared_data) if ticket.shared_data else None
    run_id, _ = train_and_evaluate(config, job_data(config, root, job_dir, shared), job_dir, root, run_id=ticket.run_id)
    value = store.get_run(config.tracking, root, run_id).metrics.get(metric)
    if value is None:
        raise ConfigError(f"the sweep metric {metric!r} was not logged by run {run_id}; choose a metric the run logs")
    return float(value)

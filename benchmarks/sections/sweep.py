"""A six-job Hydra sweep, sequential (Hydra's basic launcher) and on joblib's two workers:
wall times against the jobs' own training time, and where the rest goes.

Each job's training time is its MLflow run's `train_seconds` (the fit); each job's run is
opened just before the job and closed just after it (stages/sweep_callback.py), so the
runs' start and end times split the sweep's wall into start-up, jobs and the gaps between.
The sweep process writes one profile record at its end, with its phases summed over every
job it ran itself: all of them with the basic launcher, none with joblib's (whose workers
write none).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from typing import Any

from measure import Bench, Measure, measured, sweep_runs, verdict
from mnist_pipeline.stages.train import TRAIN_SECONDS

GRID = "model.units=64,128,256 train.epochs=5,10"
QUICK_GRID = "model.units=32,64"  # two jobs, at the clone's (--quick) epochs
LAUNCHERS = (
    ("sequential (basic launcher)", ""),
    ("joblib, 2 workers", "hydra/launcher=joblib hydra.launcher.n_jobs=2"),
)
SEQUENTIAL_TARGET = 1.25  # sequential wall / the jobs' training
PARALLEL_TARGET = 0.75  # joblib wall / sequential wall


@dataclass
class SweepRun:
    launcher: str
    command: str
    measure: Measure
    runs: dict[str, Any]  # measure.sweep_runs: the parent and its jobs

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.runs["jobs"]

    def training_s(self) -> float:
        return sum(job["metrics"].get(TRAIN_SECONDS, 0.0) for job in self.jobs)

    def phases(self) -> dict[str, float]:
        records = [r for r in self.measure.profile if r["stage"] == "sweep"]
        return max(records, key=lambda r: r["wall_s"])["phases_s"] if records else {}


def run_sweep(bench: Bench, overrides: str, launcher: str = "", label: str = "") -> SweepRun:
    """`python pipelines/sweep.py -m <overrides> <launcher>` in the clone, and its MLflow runs."""
    command = f"python pipelines/sweep.py -m {overrides} {launcher}".strip()
    done = measured(command, bench.clone, bench.env)
    print(f"{command}: {done.wall_s:.2f}s", file=sys.stderr)
    return SweepRun(label, command, done, sweep_runs(bench.clone, bench.env))


def measure(bench: Bench) -> list[SweepRun]:
    grid = QUICK_GRID if bench.quick else GRID
    return [run_sweep(bench, grid, launcher, label) for label, launcher in LAUNCHERS]


def _job_rows(sweep: SweepRun) -> list[str]:
    """Per job of a sequential sweep: its run's wall, its training and the rest; then the gaps."""
    jobs, start = sweep.jobs, sweep.measure.started_at
    rows = []
    for number, job in enumerate(jobs):
        swept = ", ".join(f"{k}={v}" for k, v in sorted(job["params"].items()) if k in ("model.units", "train.epochs"))
        run_s = job["end_s"] - job["start_s"]
        train_s = job["metrics"].get(TRAIN_SECONDS, 0.0)
        rows.append(f"| job {number} ({swept}) | {run_s:.2f} | {train_s:.2f} | {run_s - train_s:.2f} |")
    if not jobs:
        return rows
    gaps = sum(later["start_s"] - earlier["end_s"] for earlier, later in itertools.pairwise(jobs))
    end = start + sweep.measure.wall_s
    rows += [
        f"| before the first job (imports, Hydra, the callback: store, `dvc repro preprocess`, parent run) "
        f"| {jobs[0]['start_s'] - start:.2f} | | |",
        f"| between jobs (Hydra, the callback) | {gaps:.2f} | | |",
        f"| after the last job (the parent's summary, exit) | {end - jobs[-1]['end_s']:.2f} | | |",
    ]
    return rows


def render(sweeps: list[SweepRun]) -> list[str]:
    sequential, parallel = sweeps
    training = sequential.training_s()
    overhead = sequential.measure.wall_s / max(training, 1e-9)
    speedup = parallel.measure.wall_s / sequential.measure.wall_s
    phases = sequential.phases()
    count = max(len(sequential.jobs), 1)
    lines = [
        "## Sweep overhead",
        "",
        f"`python pipelines/sweep.py -m {sequential.command.split(' -m ', 1)[1]}` on the pipeline's processed "
        "data, each job trained and evaluated into its own nested MLflow run. Training is each job's "
        "`train_seconds` (its fit), from its MLflow run.",
        "",
        "| launcher | jobs | wall s | the jobs' training s (sum) | wall / training |",
        "| --- | --- | --- | --- | --- |",
    ]
    for sweep in sweeps:
        share = sweep.measure.wall_s / max(sweep.training_s(), 1e-9)
        lines.append(
            f"| {sweep.launcher} | {len(sweep.jobs)} | {sweep.measure.wall_s:.2f} | {sweep.training_s():.2f} "
            f"| {share:.2f} |"
        )
    lines += [
        "",
        f"- Sequential wall / the jobs' training: **{overhead:.2f}** (target <= {SEQUENTIAL_TARGET}: "
        f"{verdict(overhead <= SEQUENTIAL_TARGET)}).",
        f"- joblib wall / sequential wall: **{speedup:.2f}** (target <= {PARALLEL_TARGET}: "
        f"{verdict(speedup <= PARALLEL_TARGET)}).",
        "",
        "Where the sequential sweep's time goes, from the jobs' MLflow runs (each opened just before its "
        "job and closed just after):",
        "",
        "| part | wall s | training s | rest s |",
        "| --- | --- | --- | --- |",
        *_job_rows(sequential),
        "",
        "Phases of the sequential sweep's process (its profile record), summed over the process (its jobs, "
        "and the callback's MLflow calls around them) and per job; phases nest (MLflow waits lie inside others):",
        "",
        "| phase | total s | per job s |",
        "| --- | --- | --- |",
        *(f"| {name} | {value:.2f} | {value / count:.2f} |" for name, value in sorted(phases.items())),
    ]
    if not phases:
        lines.append("| (no profile record) | | |")
    return lines

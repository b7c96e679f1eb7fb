"""The Optuna study sweeper's work (hydra_plugins/mnist_optuna_sweeper is its Hydra face).

Ask/tell on a stored study (stages/study.py): the process asks for trials while the study's
budget allows, launches each batch through whatever Hydra launcher is configured (basic,
joblib, submitit, ...), keeps their heartbeats going while they run, and tells the study
each result. Once the budget is spent it waits for the trials other processes still run,
so that one of theirs that dies (its heartbeat stops) is run again here. Each trial is a job
of the MLflow callback (one child run under the study's one parent run); the job's
`hydra.job.env_set.MNIST_OPTUNA_TRIAL` tells the callback which trial it is.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_pipeline.plumbing.errors import PipelineError
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import search_space, study
from mnist_pipeline.stages.sweep_callback import FailedJob, SweepState, read_state

TRIAL_ENV = study.TRIAL_ENV
RESULTS_FILE = "optimization_results.yaml"
TRIAL_TAG = "optuna.trial"


class StudySweep:
    """What `StudySweeper` (the Hydra plugin) does once Hydra has set it up."""

    def __init__(self, sweeper: DictConfig, sampler: Any, config: DictConfig, launcher: Any) -> None:
        self.sweeper, self.sampler, self.config, self.launcher = sweeper, sampler, config, launcher
        self.settings = study.settings(sweeper, Workspace.find().root)
        self.state: SweepState | None = read_state(config)

    def sweep(self, arguments: list[str]) -> None:
        params = OmegaConf.to_container(self.sweeper.params, resolve=True) if self.sweeper.params else {}
        assert isinstance(params, dict)
        space = search_space.parse({str(k): str(v) for k, v in params.items()}, arguments)
        shared = study.SharedStudy(self.settings, on_stale=self._close_stale_run)
        shared.study.sampler = self.sampler
        if not shared.created:  # another process (or a killed one) drew the seed's sequence already
            shared.study.sampler.reseed_rng()
        print(f"Optuna study {self.settings.study_name!r} in {self.settings.shown_storage()}", flush=True)
        job, waiting = 0, False
        while True:
            trials = [t for t in (shared.ask(space.distributions) for _ in range(self.sweeper.n_jobs)) if t]
            if not trials:
                if shared.done():
                    break
                if not waiting:
                    print("Optuna study: budget spent; waiting for the trials other processes run", flush=True)
                    waiting = True
                time.sleep(self.settings.heartbeat_interval)  # one of them may die and need a retry here
                continue
            overrides = [[*space.overrides(t.params), f"++hydra.job.env_set.{TRIAL_ENV}={t.number}"] for t in trials]
            with _beating(shared, trials):
                returns = self.launcher.launch(overrides, initial_job_idx=job)
            job += len(returns)
            self._tell(shared, trials, returns)
        self._write_results(shared)

    def _tell(self, shared: study.SharedStudy, trials: Sequence[Any], returns: Sequence[Any]) -> None:
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        try:
            with study.storage_errors(self.settings):
                for trial, done in zip(trials, returns, strict=True):
                    value = done._return_value
                    if done.status != JobStatus.COMPLETED or isinstance(value, FailedJob):
                        shared.study.tell(trial, state=TrialState.FAIL)  # a bad config: counted, not retried
                    else:
                        shared.study.tell(trial, float(value))
        except PipelineError:
            # The results are lost with the storage: the runs say so, the trials are run again later.
            for trial in trials:
                self._close_runs(trial.number, "FAILED", "the Optuna storage failed before the result was stored")
            raise

    def _close_stale_run(self, number: int) -> None:
        self._close_runs(number, "KILLED", f"trial {number}'s process stopped beating; the trial is run again")

    def _close_runs(self, number: int, status: str, reason: str) -> None:
        """End the child runs of trial `number` that are still RUNNING (or FINISHED, for FAILED)."""
        from mnist_pipeline.tracking import store

        if self.state is None or self.state.parent_run_id is None:
            return
        tracked, workspace = self.state.tracking(), self.state.workspace()
        endable = ("RUNNING", "FINISHED") if status == "FAILED" else ("RUNNING",)
        for run in store.find_runs(tracked, workspace, parent_id=self.state.parent_run_id):
            if run.tags.get(TRIAL_TAG) == str(number) and run.status in endable:
                store.update_run(tracked, workspace, run.run_id, tags={store.END_REASON_TAG: reason})
                store.end_run(tracked, workspace, run.run_id, status)
                print(f"warning: MLflow run {run.run_id} of trial {number} marked {status}: {reason}", file=sys.stderr)

    def _write_results(self, shared: study.SharedStudy) -> None:
        with study.storage_errors(self.settings):
            complete = [t for t in shared.study.get_trials(deepcopy=False) if t.value is not None]
            best = shared.study.best_trial if complete else None
        results = {"name": "optuna", "study_name": self.settings.study_name, "trials": len(complete)}
        if best is not None:
            results |= {"best_trial": best.number, "best_params": best.params, "best_value": best.value}
        folder = Path(self.config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), folder / RESULTS_FILE)
        shown = f"best trial {best.number}: {best.value:.4f} {best.params}" if best else "no complete trial"
        print(f"Optuna study {self.settings.study_name!r}: {len(complete)} complete trials; {shown}", flush=True)


@contextmanager
def _beating(shared: study.SharedStudy, trials: Sequence[Any]) -> Iterator[None]:
    """Record the trials' heartbeats while they run, so that no other process takes them for dead."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                for trial in trials:
                    shared.record_heartbeat(trial)
            except Exception:  # a storage that is down: the main thread reports it when it tells the results
                pass
            if stop.wait(shared.settings.heartbeat_interval):
                return

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

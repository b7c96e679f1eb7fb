"""Hydra callback: a sweep is one parent MLflow run, and each of its jobs a nested child run.

Before any job starts (in the process that launches them) it checks the address of a Ray
cluster the sweep names (ray_jobs.py), validates the base config, creates the store and
experiment once (so parallel jobs never race to create them),
prepares the data once (so they never run `dvc repro` at the same time) and opens the
parent run with the sweep's overrides. Each job's child run is created before the job's
code runs and closed after it: FAILED if the job raised, which fails no other run. At
the end the parent records its best child by `metric`, with that child's test accuracy,
and the table of all children. Only `tracking` talks to MLflow; this module calls it.

Configured in conf/config.yaml under `hydra.callbacks.mlflow`.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mnist_pipeline.config import METRIC_MODES, TrackingConfig, flatten, validate
from mnist_pipeline.plumbing.children import die_with_parent
from mnist_pipeline.plumbing.entry import run_or_exit
from mnist_pipeline.plumbing.errors import ConfigError, one_line
from mnist_pipeline.plumbing.files import atomic_file, shown
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import artifacts, job_log, job_output, params, ray_jobs, study, sweep_job
from mnist_pipeline.tracking import identity, naming, records

T = TypeVar("T")
CALLBACK_KEY = "mlflow"  # the callback's key under hydra.callbacks
STATE_FILE = "mlflow_sweep.json"
SUMMARY_FILE = "sweep_runs.txt"
ALSO_LOGGED = "test_accuracy"  # logged on the parent beside the best child's `metric`


class FailedJob(float):
    """A failed job's return value once its failure is recorded: the sweep metric's worst value."""


@dataclass(frozen=True)
class SweepState:
    """What every job of one sweep needs to know, written once into the sweep folder."""

    root: str
    folder: str  # the sweep's folder (a single run's folder without -m)
    uri: str | None
    experiment: str
    parent_run_id: str | None
    shared_data: str | None
    launcher_pid: int  # the sweep's own process: a job running elsewhere is a pool's worker
    study: str | None = None  # the Optuna study whose parent run this is, shared with other processes

    def tracking(self) -> TrackingConfig:
        return TrackingConfig(uri=self.uri, experiment=self.experiment)

    def workspace(self) -> Workspace:
        return Workspace(Path(self.root))


def sweep_metric(hydra_config: DictConfig) -> str:
    """The metric a sweep optimises: the callback's `metric`, which each job returns to the sweeper."""
    metric = OmegaConf.select(hydra_config, f"callbacks.{CALLBACK_KEY}.metric")
    if not metric:
        raise ConfigError(f"hydra.callbacks.{CALLBACK_KEY}.metric is not set: it names the metric a sweep optimises")
    return str(metric)


class MlflowSweepCallback(Callback):
    def __init__(self, metric: str, mode: str) -> None:
        if mode not in METRIC_MODES:
            raise ConfigError(
                f"hydra.callbacks.{CALLBACK_KEY}.mode={mode!r} is not known; choose one of: {', '.join(METRIC_MODES)}"
            )
        self.metric, self.mode = metric, mode
        self._open: SweepState | None = None  # the parent run this process must close

    # Multirun: the launching process opens and closes the parent run.
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._open = _or_exit(lambda: self._start(config, parent=True))
        atexit.register(self._finish, complete=False)  # Hydra re-raises a failed job before on_multirun_end

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.unregister(self._finish)
        self._finish(complete=True)

    # A single Hydra run (no -m): data prepared the same way, no parent run.
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(lambda: self._start(config, parent=False))

    # Every job, in the process that runs it (also a joblib worker).
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        job_dir = Path(config.hydra.runtime.output_dir)
        try:
            state = read_state(config)
            if state is not None and os.getpid() != state.launcher_pid:
                # A worker of the launcher's pool (joblib's loky, submitit_local) outlives a
                # SIGKILLed sweep, training on, unless tied to it (plumbing/children.py).
                die_with_parent(os.getppid())
                # Its output interleaves with the other workers': each line names its job.
                overrides = list(OmegaConf.select(config, "hydra.overrides.task", default=[]))
                job_output.label_output(job_output.job_label(_job_number(config), overrides))
            run_id = self._create_child(config, state, job_dir) if state else None
        except Exception as exc:  # a broken job config must fail its own run, not the sweep
            _say(f"job {_job_number(config)}: no MLflow run created ({one_line(exc, 300)}); the job opens its own")
            return
        sweep_job.write_ticket(job_dir, sweep_job.JobTicket(run_id, state.shared_data if state else None))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        try:
            self._end_job(config, job_return)
        finally:
            job_output.unlabel_output()

    def _end_job(self, config: DictConfig, job_return: JobReturn) -> None:
        if job_return.status == JobStatus.COMPLETED:
            self._close_child(config, "FINISHED")
            return
        exc = job_return._return_value
        error = one_line(exc, 300)
        log_file = job_log.write_traceback(exc, Path(config.hydra.runtime.output_dir), str(config.hydra.job.name))
        print(
            f"error: sweep job {_job_number(config)} ({' '.join(job_return.overrides or [])}) failed: {error}; "
            f"traceback in {shown(log_file)}",
            file=sys.stderr,
            flush=True,
        )
        if self._close_child(config, "FAILED", error):
            # Recorded: Hydra need not raise it again with its own report (a traceback); the
            # sweep's end (or a single run's) exits 1 instead, and a sweeper sees the worst value.
            job_return.status = JobStatus.COMPLETED
            job_return.return_value = FailedJob(float("-inf") if self.mode == "max" else float("inf"))

    def on_run_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if isinstance(job_return._return_value, FailedJob):
            raise SystemExit(1)

    def _close_child(self, config: DictConfig, status: str, error: str | None = None) -> bool:
        """End the job's child run with `status`; False when the job has no run to end."""
        from mnist_pipeline.tracking import store

        state, ticket = read_state(config), sweep_job.read_ticket(Path(config.hydra.runtime.output_dir))
        if state is None or ticket is None or ticket.run_id is None:
            return False
        workspace, tracked = state.workspace(), state.tracking()
        if error is not None:
            # A job that failed before logging its config (e.g. a bad value) still shows what it ran with.
            logged = store.get_run(tracked, workspace, ticket.run_id).params
            store.update_run(
                tracked,
                workspace,
                ticket.run_id,
                params=None if logged else flatten(_task_config(config)),
                tags={"error": error},
            )
        store.end_run(tracked, workspace, ticket.run_id, status)
        return True

    def _start(self, config: DictConfig, parent: bool) -> SweepState:
        if parent and ray_jobs.uses_ray(config):
            ray_jobs.check_cluster(config)  # before any data or run: Ray itself retries for minutes
        workspace = Workspace.find()
        base = validate(_task_config(config))
        # Also the place a bad workspace fails, before any job or run. MLflow's import (about a
        # second) runs while DVC checks the data in its own process.
        shared = sweep_job.prepare_data(base, workspace, meanwhile=_import_store)
        from mnist_pipeline.tracking import store

        parent_id, study_name = None, None
        if parent:
            overrides = [str(o) for o in config.hydra.overrides.task]
            space = {str(k): str(v) for k, v in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items()}
            kind = _plugin_name(config, "sweeper")
            name = naming.sweep_name(
                "sweep" if kind == "basic" else kind, [*overrides, *(f"{k}={v}" for k, v in space.items())]
            )
            tags = {
                records.RUN_KIND_TAG: "sweep",
                identity.LAUNCHED_BY: "sweep",
                "sweep.dir": str(_state_dir(config).resolve()),
                "sweep.sweeper": kind,
                "sweep.launcher": _plugin_name(config, "launcher"),
                "sweep.metric": f"{self.mode} {self.metric}",
                "overrides": " ".join(overrides),
            }
            swept = {  # `+experiment=cnn` logged as `experiment`: MLflow refuses `+` in a name
                **{k.lstrip("+~"): v for k, v in (o.split("=", 1) for o in overrides if "=" in o)},
                **{f"search.{k}": v for k, v in space.items()},
            }
            sweeper = OmegaConf.select(config, "hydra.sweeper")
            if study.is_study_sweeper(sweeper):
                # One parent per study, whichever process creates it: it outlives each process.
                searched = study.settings(sweeper, workspace.root)
                tags |= {"optuna.study": searched.study_name, "optuna.storage": searched.shown_storage()}
                parent_id = study.SharedStudy(searched).parent_run(
                    lambda: store.create_run(base.tracking, workspace, name, tags, params=swept, owned=False)
                )
                study_name = searched.study_name
            else:
                parent_id, study_name = store.create_run(base.tracking, workspace, name, tags, params=swept), None
            print(f"MLflow sweep run {name} ({parent_id}) in experiment {base.tracking.experiment!r}", flush=True)
        else:
            store.ensure_experiment(base.tracking, workspace)
        folder = _state_dir(config).resolve()
        state = SweepState(
            str(workspace.root),
            str(folder),
            base.tracking.uri,
            base.tracking.experiment,
            parent_id,
            str(shared) if shared else None,
            os.getpid(),
            study_name,
        )
        with atomic_file(folder / STATE_FILE) as tmp:
            tmp.write_text(json.dumps(asdict(state)) + "\n")
        return state

    def _create_child(self, config: DictConfig, state: SweepState, job_dir: Path) -> str:
        from mnist_pipeline.tracking import store

        workspace = state.workspace()
        task = _task_config(config)
        tracked = state.tracking()  # the parent's store and experiment: children nest only there
        tags = {
            identity.LAUNCHED_BY: identity.launched_by(workspace),
            "sweep.dir": state.folder,
            "sweep.job": _job_number(config),
            "overrides": " ".join(str(o) for o in config.hydra.overrides.task),
        }
        trial = OmegaConf.select(config, f"hydra.job.env_set.{study.TRIAL_ENV}")
        if state.study is not None and trial is not None:  # the study sweeper's trial number
            tags |= {"optuna.study": state.study, "optuna.trial": str(trial)}
        name = naming.run_name(task, params.reference(workspace, task["model"]["name"]))
        run_id = store.create_run(tracked, workspace, name, tags, parent_id=state.parent_run_id)
        hydra_dir = job_dir / str(config.hydra.output_subdir or ".hydra")
        store.update_run(tracked, workspace, run_id, artifacts={f"{artifacts.CONFIG}/hydra": hydra_dir})
        return run_id

    def _finish(self, complete: bool) -> None:
        """Close the parent: best child by the metric, the children's table, and a status."""
        from mnist_pipeline.tracking import runs_table, store

        state, self._open = self._open, None
        if state is None or state.parent_run_id is None:
            return
        workspace, tracked, parent = state.workspace(), state.tracking(), state.parent_run_id
        children = store.find_runs(tracked, workspace, parent_id=parent)
        # A study's run whose result its storage lost is FAILED too, but its trial runs again: not a failed job.
        failed = [c for c in children if c.status == "FAILED" and (state.study is None or "error" in c.tags)]
        unfinished = [c for c in children if c.status not in ("FINISHED", "FAILED")]
        ranked = runs_table.sort_runs(
            [c for c in children if c.status == "FINISHED"], self.metric, ascending=self.mode == "min"
        )
        best = ranked[0] if ranked and self.metric in ranked[0].metrics else None
        metrics = (
            {f"best_{k}": best.metrics[k] for k in (self.metric, ALSO_LOGGED) if k in best.metrics} if best else {}
        )
        tags = {"sweep.jobs": str(len(children)), "sweep.failed_jobs": str(len(failed))}
        if best:
            tags |= {"best_run_id": best.run_id, "best_run_name": best.name}
        summary = Path(state.folder) / SUMMARY_FILE
        ordered = runs_table.sort_runs(children, self.metric, ascending=self.mode == "min")
        summary.write_text(runs_table.format_table(ordered, self.metric) + "\n")
        store.update_run(tracked, workspace, parent, metrics=metrics, tags=tags, artifacts={"": summary})
        status = "KILLED" if unfinished and not complete else "FINISHED"
        if state.study is not None and not complete:
            status = "RUNNING"  # the study's parent: other processes, or this one started again, finish it
        else:
            store.end_run(tracked, workspace, parent, status)
        outcome = f"best {best.name}: {self.metric}={best.metrics[self.metric]:.4f}" if best else "no finished job"
        print(f"MLflow sweep run {parent} {status}: {len(children)} jobs, {len(failed)} failed; {outcome}", flush=True)
        if failed and complete:
            raise SystemExit(1)  # each failed job said why on stderr (on_job_end)


def _or_exit(start: Callable[[], T]) -> T:
    """Hydra turns a callback's exception into a warning and goes on; a sweep that cannot be
    tracked or has no data must stop before its jobs start instead."""
    try:
        return run_or_exit(start)
    except Exception as exc:
        print(f"error: the sweep cannot start: {type(exc).__name__}: {one_line(exc, 300)}", file=sys.stderr)
        raise SystemExit(1) from None


def _import_store() -> None:
    from mnist_pipeline.tracking import store  # noqa: F401 (imported for its cost, now)


def _task_config(config: DictConfig) -> dict[str, Any]:
    """The job's own config (everything but `hydra`), resolved, as a plain dict."""
    task = {key: config[key] for key in config if key != "hydra"}
    container = OmegaConf.to_container(OmegaConf.create(task), resolve=True)
    assert isinstance(container, dict)
    return container


def _state_dir(config: DictConfig) -> Path:
    return Path(config.hydra.sweep.dir if config.hydra.mode == RunMode.MULTIRUN else config.hydra.run.dir)


def read_state(config: DictConfig) -> SweepState | None:
    """What the callback wrote into the sweep folder before any job (None outside a sweep)."""
    path = _state_dir(config) / STATE_FILE
    return SweepState(**json.loads(path.read_text())) if path.is_file() else None


def _job_number(config: DictConfig) -> str:
    """The job's number in its sweep ("0" for a single run, which has none)."""
    return str(OmegaConf.select(config, "hydra.job.num", default=0))


def _plugin_name(config: DictConfig, group: str) -> str:
    """The `hydra/<group>` choice (`joblib`, `submitit_local`, `optuna`), else from the class:
    `optuna` for hydra_plugins...OptunaSweeper, `basic` for BasicLauncher, ..."""
    choice = OmegaConf.select(config, "hydra.runtime.choices", default={}).get(f"hydra/{group}")
    if choice:
        return str(choice)
    target = str(OmegaConf.select(config, f"hydra.{group}._target_") or "")
    return target.rsplit(".", 1)[-1].removesuffix(group.capitalize()).lower() or "basic"


def _say(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr, flush=True)

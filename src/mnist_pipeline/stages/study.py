"""A stored Optuna study shared by several search processes: its storage, its lock, its budget.

Several `pipelines/sweep.py hparams_search=optuna` processes (on one machine with SQLite, on
several with PostgreSQL) work on one study. Three things make that safe:

- One lock per storage (`storage_lock`: a file lock beside a SQLite file, a PostgreSQL
  advisory lock) around creating the tables and the study, and around every "is the budget
  spent? if not, ask for a trial": two processes can never both take the last trial.
- The budget (`n_trials`) counts every trial of the study but a killed one that was
  retried (its retry, with the same params, counts instead; `counted_trials`).
- Heartbeats (Optuna's RDBStorage): a trial whose process stopped beating for
  `grace_period` seconds is marked FAIL by the next process that looks, and enqueued again.

The study also holds the id of its one MLflow parent run (a user attribute), created by the
process that created the study, so that every process nests its trials under the same run.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_pipeline.plumbing.errors import ConfigError, PipelineError, one_line
from mnist_pipeline.plumbing.files import exclusive_lock

if TYPE_CHECKING:
    import optuna

PARENT_ATTR = "mlflow_parent_run_id"
TRIAL_ENV = "MNIST_OPTUNA_TRIAL"  # hydra.job.env_set key: the trial number a job runs
SQLITE = "sqlite:///"
_LOCK_KEY = 0x6D6E6973  # the advisory lock's number ("mnis"), one per PostgreSQL database


@dataclass(frozen=True)
class StudySettings:
    """The `hydra.sweeper` keys that name and shape the study."""

    storage: str
    study_name: str
    direction: str
    n_trials: int
    load_if_exists: bool
    heartbeat_interval: int
    grace_period: int
    max_retry: int

    def shown_storage(self) -> str:
        """The storage URL without its password, for messages and tags."""
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.storage)


def settings(sweeper: Any, root: Path) -> StudySettings:
    """Validated study settings from `hydra.sweeper`; a relative SQLite path is under `root`."""
    storage = str(sweeper.storage or "")
    if storage.startswith(SQLITE) and not storage.startswith(SQLITE + "/"):
        storage = SQLITE + str(root / storage.removeprefix(SQLITE))
    if not storage.startswith((SQLITE, "postgresql")):
        raise ConfigError(
            f"hydra.sweeper.storage={storage or None!r} is not supported; give sqlite:///<file> or "
            "postgresql+psycopg2://user:password@host:port/database"
        )
    if sweeper.direction not in ("minimize", "maximize"):
        raise ConfigError(f"hydra.sweeper.direction={sweeper.direction!r}: choose minimize or maximize")
    for key in ("n_trials", "heartbeat_interval", "grace_period"):
        if int(sweeper[key]) < 1:
            raise ConfigError(f"hydra.sweeper.{key}={sweeper[key]} must be >= 1")
    if int(sweeper.grace_period) <= int(sweeper.heartbeat_interval):
        raise ConfigError("hydra.sweeper.grace_period must be longer than hydra.sweeper.heartbeat_interval")
    return StudySettings(
        storage,
        str(sweeper.study_name),
        str(sweeper.direction),
        int(sweeper.n_trials),
        bool(sweeper.load_if_exists),
        int(sweeper.heartbeat_interval),
        int(sweeper.grace_period),
        int(sweeper.max_retry),
    )


def is_study_sweeper(sweeper: Any) -> bool:
    """Whether `hydra.sweeper` is this project's study sweeper (it has a storage and a budget)."""
    return sweeper is not None and "storage" in sweeper and "n_trials" in sweeper and "heartbeat_interval" in sweeper


@contextmanager
def storage_errors(study: StudySettings) -> Iterator[None]:
    """A storage that stops answering (PostgreSQL down, a locked SQLite file) becomes one line with the fix."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, StorageInternalError) as exc:
        cause = one_line(getattr(exc, "orig", None) or exc.__cause__ or exc, 200)
        raise PipelineError(
            f"the Optuna storage {study.shown_storage()} failed ({cause}); fix: start its database server "
            "(or check hydra.sweeper.storage), then run the same command again: the study resumes where it stopped"
        ) from None


class SharedStudy:
    """One process's handle on the study: the Optuna study and the storage's lock."""

    def __init__(self, study: StudySettings, on_stale: Callable[[int], None] = lambda number: None) -> None:
        self.settings = study
        self.on_stale = on_stale  # closes the MLflow run of a trial found stale (replaced by the sweeper)
        self._engine: Any = None
        with storage_errors(study), self.lock():
            self.study, self.created = _create_or_load(study, lambda number: self.on_stale(number))

    def record_heartbeat(self, trial: optuna.trial.Trial) -> None:
        """Tell the storage that `trial` still runs (it fails it after `grace_period` s without)."""
        self.study._storage.record_heartbeat(trial._trial_id)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across every process of every machine that uses this storage."""
        url = self.settings.storage
        if url.startswith(SQLITE):
            with exclusive_lock(Path(url.removeprefix(SQLITE) + ".lock")):
                yield
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        if self._engine is None:
            self._engine = create_engine(url, poolclass=NullPool)
        with self._engine.connect() as connection:  # the lock dies with the connection: a killed holder frees it
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})

    def parent_run(self, create: Callable[[], str]) -> str:
        """The study's MLflow parent run id: created (by `create`) once, by whoever finds none."""
        with storage_errors(self.settings), self.lock():
            attrs = self.study.user_attrs
            if PARENT_ATTR in attrs:
                return str(attrs[PARENT_ATTR])
            run_id = create()
            self.study.set_user_attr(PARENT_ATTR, run_id)
            return run_id

    def ask(self, distributions: dict[str, Any]) -> optuna.trial.Trial | None:
        """A new trial (or an enqueued retry) if the budget allows one; None once it is spent."""
        import optuna

        with storage_errors(self.settings), self.lock():
            optuna.storages.fail_stale_trials(self.study)
            if counted_trials(self.study) >= self.settings.n_trials:
                return None
            return self.study.ask(fixed_distributions=distributions)

    def unfinished(self) -> int:
        """Trials that still run or wait (in any process): the study is done when none is left."""
        import optuna
        from optuna.trial import TrialState

        with storage_errors(self.settings), self.lock():
            optuna.storages.fail_stale_trials(self.study)
            states = (TrialState.RUNNING, TrialState.WAITING)
            return len(self.study.get_trials(deepcopy=False, states=states))

    def done(self) -> bool:
        return self.unfinished() == 0 and counted_trials(self.study) >= self.settings.n_trials


def counted_trials(study: optuna.Study) -> int:
    """Trials that count against the budget: all but the failed ones that were retried."""
    trials = study.get_trials(deepcopy=False)
    retried = {_retry_class().retried_trial_number(t) for t in trials}
    return sum(1 for t in trials if t.number not in retried)


def _create_or_load(study: StudySettings, on_stale: Callable[[int], None]) -> tuple[optuna.Study, bool]:
    """The study, created if absent (True) or loaded (False, refused unless `load_if_exists`)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats are "experimental" (since Optuna 2.8) and "supposed to be used with Study.optimize"
    # (ask/tell here beats them itself: study_sweep.py): a warning a call, and nothing to act on.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    storage = optuna.storages.RDBStorage(
        study.storage,
        heartbeat_interval=study.heartbeat_interval,
        grace_period=study.grace_period,
        **_stale_trial_callback(study.max_retry, on_stale),
    )
    try:
        created = optuna.create_study(storage=storage, study_name=study.study_name, direction=study.direction)
        return created, True
    except optuna.exceptions.DuplicatedStudyError:
        if not study.load_if_exists:
            raise ConfigError(
                f"study {study.study_name!r} already exists in {study.shown_storage()}; choose another "
                "hydra.sweeper.study_name, or set hydra.sweeper.load_if_exists=true to continue it"
            ) from None
    loaded = optuna.load_study(storage=storage, study_name=study.study_name)
    if loaded.direction.name.lower() != study.direction:
        raise ConfigError(
            f"study {study.study_name!r} was created to {loaded.direction.name.lower()}, not to {study.direction}; "
            "choose another hydra.sweeper.study_name"
        )
    return loaded, False


def _retry_class() -> Any:
    """Optuna 4.9 renamed RetryFailedTrialCallback (the old name warns, and goes in 6.0)."""
    import optuna

    renamed = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    return renamed or optuna.storages.RetryFailedTrialCallback


def _stale_trial_callback(max_retry: int, on_stale: Callable[[int], None]) -> dict[str, Any]:
    """RDBStorage's keyword for what to do with a trial whose heartbeat stopped: say so, enqueue
    it again with the same params (at most `max_retry` times), and let `on_stale` close its run."""
    retry_class = _retry_class()
    retry = retry_class(max_retry=max_retry)

    def stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        print(
            f"warning: Optuna trial {trial.number} of study {study.study_name!r} stopped beating (its process is "
            "gone); marked it FAIL and queued it again with the same params",
            file=sys.stderr,
            flush=True,
        )
        retry(study, trial)
        on_stale(trial.number)

    renamed = retry_class.__name__ == "RetryHeartbeatStaleTrialCallback"
    return {"heartbeat_stale_trial_callback" if renamed else "failed_trial_callback": stale}

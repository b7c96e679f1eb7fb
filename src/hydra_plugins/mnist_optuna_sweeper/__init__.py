"""Hydra sweeper `optuna`: a search on a stored Optuna study that several processes share.

Registered as `hydra/sweeper=optuna` (conf/hparams_search/optuna.yaml selects it). Hydra
imports every module under `hydra_plugins` when it starts, so this one stays light: Optuna
and the work (mnist_pipeline.stages.study_sweep) are imported only when a sweep starts.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class StudySweeperConf:
    """`hydra.sweeper`: the study (where, which, how many trials in all) and its search space."""

    _target_: str = "hydra_plugins.mnist_optuna_sweeper.StudySweeper"
    # SQLite file (relative: under the repository root) or postgresql+psycopg2://user:pw@host:port/db
    storage: str = "sqlite:///optuna.db"
    study_name: str = "mnist"
    load_if_exists: bool = True  # false: refuse to continue a study of that name
    direction: str = "maximize"
    n_trials: int = 12  # the study's total budget, shared by every process that works on it
    n_jobs: int = 1  # trials per batch handed to the launcher (run in parallel by joblib, submitit)
    # A trial's process records a heartbeat every heartbeat_interval s; one silent for
    # grace_period s is marked FAIL and queued again with the same params (at most max_retry times).
    heartbeat_interval: int = 10
    grace_period: int = 60
    max_retry: int = 3
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler"})
    params: Any = None  # {key: "choice(...)" | "interval(...)" | "range(...)" | "tag(log, ...)" | value}


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=StudySweeperConf, provider="mnist_pipeline")


class StudySweeper(Sweeper):
    """Hydra's side: keep the config, start the launcher, hand the sweep over."""

    def __init__(self, sampler: Any, **sweeper: Any) -> None:
        self.sampler = sampler  # an optuna sampler: Hydra instantiated its `_target_` already
        self.sweeper = DictConfig(sweeper)
        self.work: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from mnist_pipeline.stages.study_sweep import StudySweep

        launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.work = StudySweep(self.sweeper, self.sampler, config, launcher)

    def sweep(self, arguments: list[str]) -> None:
        self.work.sweep(arguments)

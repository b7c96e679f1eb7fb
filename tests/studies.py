"""Searches on a stored Optuna study (`hparams_search=optuna`), as a user starts them, and what
they leave: the study's trials and the MLflow parent and child runs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

PARENT = "mlflow.parentRunId"
# A tiny search: 1 epoch, two widths, the learning rate sampled; heartbeats every second.
SPACE = ["train.epochs=1", "model.units=choice(16,32)", "train.learning_rate=interval(0.001,0.01)"]
FAST_HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


def search_command(storage: str, study: str, budget: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "pipelines/sweep.py",
        "hparams_search=optuna",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.study_name={study}",
        f"hydra.sweeper.n_trials={budget}",
        *FAST_HEARTBEAT,
        *SPACE,
        *extra,
    ]


def start_search(repo: Path, env: dict[str, str], storage: str, study: str, budget: int) -> subprocess.Popen[str]:
    """A search process in its own session (so that a test can kill it with its children)."""
    return subprocess.Popen(
        search_command(storage, study, budget),
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def new_store(folder: Path) -> str:
    """An MLflow SQLite store created before the searches start (its polling then never races them
    to create the tables), and its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    return uri


def trials(storage: str, study: str) -> list:
    import optuna

    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


@dataclass(frozen=True)
class StudyRuns:
    """The study's MLflow runs: its parents (one, if all is well) and their children."""

    client: MlflowClient
    parents: list
    children: list

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.children:
            counts[run.info.status] = counts.get(run.info.status, 0) + 1
        return counts


def study_runs(uri: str, study: str) -> StudyRuns:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`optuna.study` = '{study}'")
    parents = [r for r in runs if PARENT not in r.data.tags]
    ids = {p.info.run_id for p in parents}
    return StudyRuns(client, parents, [r for r in runs if r.data.tags.get(PARENT) in ids])

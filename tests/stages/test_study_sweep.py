"""`hparams_search=optuna` on a SQLite study: the budget, one MLflow parent with a child run per
trial, the parent naming the best, and a second search continuing the same study."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import run, small_repo
from studies import search_command, study_runs, trials

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str]]:
    return small_repo(tmp_path_factory.mktemp("repo"), mnist_mirror, subset=1000, epochs=1)


def test_a_budget_of_three_is_three_trials_under_one_parent_that_names_the_best(repo, tmp_path: Path) -> None:
    path, env = repo
    storage, uri = f"sqlite:///{tmp_path / 'study.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**env, "MLFLOW_TRACKING_URI": uri}
    results = tmp_path / "first"
    run(search_command(storage, "small", 3, f"hydra.sweep.dir={results}"), path, env)

    study = trials(storage, "small")
    assert [t.state.name for t in study] == ["COMPLETE"] * 3
    runs = study_runs(uri, "small")
    (parent,) = runs.parents
    assert parent.info.status == "FINISHED" and parent.data.tags["sweep.sweeper"] == "optuna"
    assert sorted(c.data.tags["optuna.trial"] for c in runs.children) == ["0", "1", "2"]
    assert runs.by_status() == {"FINISHED": 3}
    for child in runs.children:  # each run trained what its trial sampled, and returned its metric
        trial = study[int(child.data.tags["optuna.trial"])]
        assert int(child.data.params["model.units"]) == trial.params["model.units"]
        assert child.data.metrics["val_accuracy"] == pytest.approx(trial.value)
    best = max(runs.children, key=lambda r: r.data.metrics["val_accuracy"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_val_accuracy"] == best.data.metrics["val_accuracy"]
    written = yaml.safe_load((results / "optimization_results.yaml").read_text())
    assert written["best_value"] == pytest.approx(best.data.metrics["val_accuracy"])

    # The same study with a budget of 4: one more trial, under the same parent.
    run(search_command(storage, "small", 4), path, env)
    assert [t.state.name for t in trials(storage, "small")] == ["COMPLETE"] * 4
    again = study_runs(uri, "small")
    assert [p.info.run_id for p in again.parents] == [parent.info.run_id]
    assert again.by_status() == {"FINISHED": 4}
    assert again.client.get_run(parent.info.run_id).data.tags["sweep.jobs"] == "4"


def test_a_study_of_that_name_is_refused_without_load_if_exists(repo, tmp_path: Path) -> None:
    path, env = repo
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    import optuna

    optuna.create_study(study_name="taken", storage=storage).enqueue_trial({"model.units": 16})
    refused = run(search_command(storage, "taken", 2, "hydra.sweeper.load_if_exists=false"), path, env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: study 'taken' already exists in {storage}; choose another "
        "hydra.sweeper.study_name, or set hydra.sweeper.load_if_exists=true to continue it"
    )
    assert len(trials(storage, "taken")) == 1

"""The champion alias on a real MLflow registry (SQLite store in tmp_path) with real Keras models."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO, copy_repo, pipeline_env, run
from mnist_pipeline.config import RegistryConfig, TrackingConfig, validate
from mnist_pipeline.data.preprocess import IMAGE_SHAPE, NUM_CLASSES
from mnist_pipeline.learn.model import build_model
from mnist_pipeline.plumbing.errors import ConfigError
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.tracking import registry, store


@pytest.fixture
def tracked(tracking_store: str, monkeypatch: pytest.MonkeyPatch) -> TrackingConfig:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return TrackingConfig(uri=tracking_store, experiment="registry-test")


def policy(model_name: str | None, metric: str = "test_accuracy", mode: str = "max") -> RegistryConfig:
    return RegistryConfig(model_name=model_name, champion_metric=metric, champion_mode=mode, register_sweep_jobs=False)


def run_with_model(config: TrackingConfig, root: Path, metrics: dict[str, float]) -> str:
    """A finished run that logged an (untrained) model and the given metrics."""
    model = build_model(validate(params.compose(Workspace(REPO), ["model.units=4"])).model)
    with store.pipeline_run(config, Workspace(root), run_name="candidate") as run:
        run.log_keras_model(model, IMAGE_SHAPE, (NUM_CLASSES,))
        run.log_metrics(metrics)
        return run.run_id


def test_champion_moves_only_to_a_better_version(tracked: TrackingConfig, tmp_path: Path) -> None:
    runs = [
        run_with_model(tracked, tmp_path, {"test_accuracy": acc, "test_loss": loss})
        for acc, loss in ((0.5, 0.3), (0.9, 0.4), (0.7, 0.2))
    ]
    higher = policy("digits")
    outcomes = [registry.register(higher, tracked, Workspace(tmp_path), run_id) for run_id in runs]
    assert [(o.version, o.champion, o.promoted) for o in outcomes] == [
        ("1", "1", True),
        ("2", "2", True),
        ("3", "2", False),
    ]
    client = MlflowClient(tracked.uri)
    assert str(client.get_model_version_by_alias("digits", "champion").version) == "2"
    assert client.get_model_version("digits", "3").tags == {"test_accuracy": "0.7"}

    lower = policy("digits-by-loss", "test_loss", "min")
    outcomes = [registry.register(lower, tracked, Workspace(tmp_path), run_id) for run_id in runs]
    assert [o.champion for o in outcomes] == ["1", "1", "3"]


def test_a_metric_the_run_did_not_log_is_a_config_error(tracked: TrackingConfig, tmp_path: Path) -> None:
    f2 = policy("digits", "f2_score")
    with store.pipeline_run(tracked, Workspace(tmp_path)) as run:
        run.log_metrics({"test_accuracy": 0.5})
    with pytest.raises(ConfigError, match=r"registry\.champion_metric='f2_score' was not logged"):
        registry.register(f2, tracked, Workspace(tmp_path), run.run_id)
    assert not MlflowClient(tracked.uri).search_registered_models()


def test_no_model_name_registers_nothing(tracked: TrackingConfig, tmp_path: Path) -> None:
    assert registry.register(policy(None), tracked, Workspace(tmp_path), "any-run") is None


def test_prune_keeps_the_champion_and_the_newest_versions(tracked: TrackingConfig, tmp_path: Path) -> None:
    digits = policy("digits")
    workspace = Workspace(tmp_path)
    for accuracy in (0.5, 0.9, 0.7, 0.6):  # versions 1-4; 2 is the champion
        registry.register(digits, tracked, workspace, run_with_model(tracked, tmp_path, {"test_accuracy": accuracy}))
    client = MlflowClient(tracked.uri)

    def versions() -> list[str]:
        return sorted(str(v.version) for v in client.search_model_versions("name = 'digits'"))

    would = registry.prune(digits, tracked, workspace, keep=1, dry_run=True)
    assert [v.version for v in would] == ["3", "1"] and versions() == ["1", "2", "3", "4"]
    deleted = registry.prune(digits, tracked, workspace, keep=1)
    assert [(v.version, v.tags["test_accuracy"]) for v in deleted] == [("3", "0.7"), ("1", "0.5")]
    assert versions() == ["2", "4"]
    assert str(client.get_model_version_by_alias("digits", "champion").version) == "2"
    assert [v.version for v in registry.prune(digits, tracked, workspace, keep=0)] == ["4"]
    assert versions() == ["2"]  # the champion stays whatever N is
    assert client.search_runs([client.get_experiment_by_name("registry-test").experiment_id])  # runs stay


def test_prune_with_a_negative_keep_is_one_line_and_deletes_nothing(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    done = run(["mnist-pipeline", "registry", "prune", "--keep", "-1"], repo, pipeline_env(tmp_path), check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: --keep -1 must be >= 0 (the number of newest versions to keep beside the champion)"
    ]

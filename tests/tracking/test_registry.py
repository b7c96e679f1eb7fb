"""The champion alias on a real MLflow registry (SQLite store in tmp_path) with real Keras models."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO
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
    higher = RegistryConfig(model_name="digits", champion_metric="test_accuracy", champion_mode="max")
    outcomes = [registry.register(higher, tracked, Workspace(tmp_path), run_id) for run_id in runs]
    assert [(o.version, o.champion, o.promoted) for o in outcomes] == [
        ("1", "1", True),
        ("2", "2", True),
        ("3", "2", False),
    ]
    client = MlflowClient(tracked.uri)
    assert str(client.get_model_version_by_alias("digits", "champion").version) == "2"
    assert client.get_model_version("digits", "3").tags == {"test_accuracy": "0.7"}

    lower = RegistryConfig(model_name="digits-by-loss", champion_metric="test_loss", champion_mode="min")
    outcomes = [registry.register(lower, tracked, Workspace(tmp_path), run_id) for run_id in runs]
    assert [o.champion for o in outcomes] == ["1", "1", "3"]


def test_a_metric_the_run_did_not_log_is_a_config_error(tracked: TrackingConfig, tmp_path: Path) -> None:
    policy = RegistryConfig(model_name="digits", champion_metric="f2_score", champion_mode="max")
    with store.pipeline_run(tracked, Workspace(tmp_path)) as run:
        run.log_metrics({"test_accuracy": 0.5})
    with pytest.raises(ConfigError, match=r"registry\.champion_metric='f2_score' was not logged"):
        registry.register(policy, tracked, Workspace(tmp_path), run.run_id)
    assert not MlflowClient(tracked.uri).search_registered_models()


def test_no_model_name_registers_nothing(tracked: TrackingConfig, tmp_path: Path) -> None:
    policy = RegistryConfig(model_name=None, champion_metric="test_accuracy", champion_mode="max")
    assert registry.register(policy, tracked, Workspace(tmp_path), "any-run") is None

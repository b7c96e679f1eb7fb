"""Model builder and the MLflow run life, on a real temporary SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO, data_config
from mnist_pipeline.config import MODEL_NAMES, TrackingConfig, validate
from mnist_pipeline.learn.model import BUILDERS, COSINE_FLOOR, build_model, learning_rate
from mnist_pipeline.stages import params
from mnist_pipeline.tracking import store


def test_every_configurable_model_name_has_a_builder() -> None:
    assert set(BUILDERS) == set(MODEL_NAMES)


def test_mlp_is_the_reference_network() -> None:
    model = build_model(validate(params.compose(REPO)).model)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense"]
    assert model.count_params() == 28 * 28 * 128 + 128 + 128 * 10 + 10
    probabilities = model.predict(np.zeros((2, 28, 28, 1), dtype="float32"), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_units_override_changes_the_hidden_layer() -> None:
    model = build_model(validate(params.compose(REPO, ["model.units=32"])).model)
    assert model.layers[1].units == 32


def test_cnn_augments_only_while_training() -> None:
    config = validate(params.compose(REPO, ["+experiment=cnn"]))
    model = build_model(config.model)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[0] == "RandomTranslation" and kinds.count("Conv2D") == len(config.model.filters)
    assert "Random" not in " ".join(
        type(layer).__name__ for layer in build_model(validate(params.compose(REPO, ["model=cnn"])).model).layers
    )
    digit = np.zeros((1, 28, 28, 1), dtype="float32")
    digit[0, 8:20, 12:16] = 1.0
    shifted = [model.layers[0](digit, training=True).numpy() for _ in range(5)]
    assert any(not np.array_equal(s, digit) for s in shifted)
    np.testing.assert_array_equal(model.layers[0](digit, training=False).numpy(), digit)
    np.testing.assert_array_equal(model.predict(digit, verbose=0), model.predict(digit, verbose=0))


def test_cosine_schedule_decays_over_the_whole_training() -> None:
    train = validate(params.compose(REPO, ["train.lr_schedule=cosine", "train.epochs=2", "train.batch_size=100"])).train
    schedule = learning_rate(train, train_size=1000)  # 10 steps per epoch, 20 in all
    assert float(schedule(0)) == pytest.approx(train.learning_rate)
    assert float(schedule(10)) == pytest.approx(train.learning_rate * (1 + COSINE_FLOOR) / 2)
    assert float(schedule(20)) == pytest.approx(train.learning_rate * COSINE_FLOOR)
    assert learning_rate(validate(params.compose(REPO)).train, 1000) == 0.001


@pytest.fixture
def tracking_config(tracking_store: str, monkeypatch: pytest.MonkeyPatch) -> TrackingConfig:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return TrackingConfig(uri=tracking_store, experiment="test")


def test_run_that_raises_is_marked_failed(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), store.pipeline_run(tracking_config, tmp_path) as run:
        run.log_metrics({"loss": 1.0})
        raise RuntimeError("boom")
    assert store.run_status(tracking_config, tmp_path, run.run_id) == "FAILED"


def test_interrupted_run_is_marked_killed(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), store.pipeline_run(tracking_config, tmp_path) as run:
        raise KeyboardInterrupt
    assert store.run_status(tracking_config, tmp_path, run.run_id) == "KILLED"


def test_reopened_run_keeps_earlier_metrics(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    with store.pipeline_run(tracking_config, tmp_path, run_name="first") as run:
        run.log_epoch(0, {"val_accuracy": 0.5})
    with store.pipeline_run(tracking_config, tmp_path, run_id=run.run_id) as again:
        again.log_metrics({"test_accuracy": 0.9})
    stored = MlflowClient(tracking_config.uri).get_run(run.run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "first"
    assert stored.data.metrics == {"val_accuracy": 0.5, "test_accuracy": 0.9}


def test_environment_uri_wins_over_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = TrackingConfig(uri=None, experiment="x")
    assert store.tracking_uri(config, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert store.tracking_uri(config, tmp_path) == "http://127.0.0.1:5999"


def test_numpy_evaluation_matches_keras_evaluate(raw_dir: Path, tmp_path: Path) -> None:
    """The evaluate stage scores saved probabilities without TensorFlow; it must agree with Keras."""
    from mnist_pipeline.data.preprocess import load_split, preprocess
    from mnist_pipeline.learn.evaluation import evaluate
    from mnist_pipeline.learn.training import fit, predict

    preprocess(raw_dir, tmp_path / "processed", data_config(subset=1000))
    config = validate(params.compose(REPO, ["train.epochs=1", "model.units=16"]))
    train, val, test = (load_split(tmp_path / "processed", s) for s in ("train", "val", "test"))
    model, _ = fit(config.model, config.train, train, val, verbose=0)
    keras_loss, keras_accuracy = model.evaluate(test.x, test.y, verbose=0)
    ours = evaluate(predict(model, test.x), test.y)
    assert ours.test_accuracy == pytest.approx(keras_accuracy, abs=1e-7)
    assert ours.test_loss == pytest.approx(keras_loss, rel=1e-4)
    assert sum(ours.confusion_matrix().ravel()) == len(test)

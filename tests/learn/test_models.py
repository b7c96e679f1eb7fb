"""The model builders, the learning-rate schedule, and NumPy's test metrics against Keras'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, data_config
from mnist_pipeline.config import MODEL_NAMES, validate
from mnist_pipeline.learn.model import BUILDERS, COSINE_FLOOR, build_model, learning_rate
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params


def test_every_configurable_model_name_has_a_builder() -> None:
    assert set(BUILDERS) == set(MODEL_NAMES)


def test_mlp_is_the_reference_network() -> None:
    model = build_model(validate(params.compose(Workspace(REPO))).model)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense"]
    assert model.count_params() == 28 * 28 * 128 + 128 + 128 * 10 + 10
    probabilities = model.predict(np.zeros((2, 28, 28, 1), dtype="float32"), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_units_override_changes_the_hidden_layer() -> None:
    model = build_model(validate(params.compose(Workspace(REPO), ["model.units=32"])).model)
    assert model.layers[1].units == 32


def layer_kinds(overrides: list[str]) -> list[str]:
    return [
        type(layer).__name__ for layer in build_model(validate(params.compose(Workspace(REPO), overrides)).model).layers
    ]


def test_cnn_augments_only_while_training() -> None:
    config = validate(params.compose(Workspace(REPO), ["+experiment=cnn", "model.augment.interpolation=bilinear"]))
    model = build_model(config.model)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[0] == "RandomTranslation" and kinds.count("Conv2D") == len(config.model.filters)
    assert "Random" not in " ".join(layer_kinds(["model=cnn"]))
    # A nearest-pixel shift moves whole pixels: the training images get it (epoch_images.py), not the model.
    assert "Random" not in " ".join(layer_kinds(["+experiment=cnn"]))
    digit = np.zeros((1, 28, 28, 1), dtype="float32")
    digit[0, 8:20, 12:16] = 1.0
    shifted = [model.layers[0](digit, training=True).numpy() for _ in range(5)]
    assert any(not np.array_equal(s, digit) for s in shifted)
    np.testing.assert_array_equal(model.layers[0](digit, training=False).numpy(), digit)
    np.testing.assert_array_equal(model.predict(digit, verbose=0), model.predict(digit, verbose=0))


def test_cosine_schedule_decays_over_the_whole_training() -> None:
    train = validate(
        params.compose(Workspace(REPO), ["train.lr_schedule=cosine", "train.epochs=2", "train.batch_size=100"])
    ).train
    schedule = learning_rate(train, train_size=1000)  # 10 steps per epoch, 20 in all
    assert float(schedule(0)) == pytest.approx(train.learning_rate)
    assert float(schedule(10)) == pytest.approx(train.learning_rate * (1 + COSINE_FLOOR) / 2)
    assert float(schedule(20)) == pytest.approx(train.learning_rate * COSINE_FLOOR)
    assert learning_rate(validate(params.compose(Workspace(REPO))).train, 1000) == 0.001


def test_numpy_evaluation_matches_keras_evaluate(raw_dir: Path, tmp_path: Path) -> None:
    """The evaluate stage scores saved probabilities without TensorFlow; it must agree with Keras."""
    from mnist_pipeline.data.preprocess import load_split, preprocess
    from mnist_pipeline.learn.evaluation import evaluate
    from mnist_pipeline.learn.training import fit, predict

    preprocess(raw_dir, tmp_path / "processed", data_config(subset=1000))
    config = validate(params.compose(Workspace(REPO), ["train.epochs=1", "model.units=16"]))
    train, val, test = (load_split(tmp_path / "processed", s) for s in ("train", "val", "test"))
    model, _ = fit(config.model, config.train, train, val, verbose=0)
    keras_loss, keras_accuracy = model.evaluate(test.x, test.y, verbose=0)
    ours = evaluate(predict(model, test.x), test.y)
    assert ours.test_accuracy == pytest.approx(keras_accuracy, abs=1e-7)
    assert ours.test_loss == pytest.approx(keras_loss, rel=1e-4)
    assert sum(ours.confusion_matrix().ravel()) == len(test)


def test_label_smoothing_makes_the_model_less_sure_of_itself(raw_dir: Path, tmp_path: Path) -> None:
    """`train.label_smoothing=0.2` trains towards 0.82 for the true digit (0.02 for each other):
    the model's top probability stays near that, where plain one-hot targets push it to 1."""
    from mnist_pipeline.data.preprocess import load_split, preprocess
    from mnist_pipeline.learn.training import fit, predict

    preprocess(raw_dir, tmp_path / "processed", data_config(subset=2000))
    train, val, test = (load_split(tmp_path / "processed", s) for s in ("train", "val", "test"))
    confidence = {}
    for smoothing in (0.0, 0.2):
        config = validate(params.compose(Workspace(REPO), ["train.epochs=10", f"train.label_smoothing={smoothing}"]))
        model, _ = fit(config.model, config.train, train, val, verbose=0)
        confidence[smoothing] = float(predict(model, test.x).max(axis=1).mean())
    assert confidence[0.2] < 0.82 < confidence[0.0], confidence

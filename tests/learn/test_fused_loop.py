"""The fused training loop (the default, `train.loop=fused`) is a speed-up only: on real MNIST
it gives the same weights and the same per-epoch history as Keras' own `model.fit`
(`train.loop=keras`), bit for bit, for the reference MLP and for the CNN with augmentation
(in the model, and each epoch's variants and shifts of the training images),
batch norm, dropout and a cosine schedule, with a last batch shorter than the others; and
`training.predict` gives exactly `model.predict`'s probabilities."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import REPO, data_config
from mnist_pipeline.config import validate
from mnist_pipeline.data.preprocess import load_split, load_stored_split, preprocess
from mnist_pipeline.learn.training import fit, predict
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.stages.train import epoch_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def processed(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    preprocess(raw_dir, out, data_config(subset=1500))  # 1,200 training images: 18 batches of 64 and one of 48
    return out


def trained(processed: Path, loop: str, overrides: list[str]) -> tuple[keras.Model, dict[str, list[float]]]:
    config = validate(params.compose(Workspace(REPO), ["data.subset=1500", f"train.loop={loop}", *overrides]))
    train, val = load_split(processed, "train"), load_split(processed, "val")
    drawn = epoch_images(config, load_stored_split(processed, "train").images)  # as the train stage draws them
    return fit(config.model, config.train, train, val, verbose=0, epoch_data=drawn)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(["train.epochs=3"], id="mlp"),
        pytest.param(
            [
                "+experiment=cnn",
                "model.filters=[8,16]",
                "model.kernel_sizes=[3,3]",
                "model.dense_units=32",
                "train.epochs=2",
            ],
            id="cnn-experiment",  # no batch norm in the conv blocks; variants and whole-pixel shifts each epoch
        ),
        pytest.param(
            ["model=cnn", "model.filters=[8,16]", "model.dense_units=32", "model.augment.shift=0.1", "train.epochs=1"],
            id="cnn-batch-norm",  # batch norm after each convolution, bilinear shifts
        ),
    ],
)
def test_fused_loop_trains_exactly_like_model_fit(processed: Path, overrides: list[str]) -> None:
    keras_model, keras_history = trained(processed, "keras", overrides)
    fused_model, fused_history = trained(processed, "fused", overrides)

    assert fused_history == keras_history
    assert set(fused_history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    fused_weights, keras_weights = fused_model.get_weights(), keras_model.get_weights()
    assert len(fused_weights) == len(keras_weights)
    for fused, reference in zip(fused_weights, keras_weights, strict=True):
        np.testing.assert_array_equal(fused, reference)

    # The test-set probabilities the train stage saves are Keras' own predictions, exactly.
    test = load_split(processed, "test").x[:2500]
    np.testing.assert_array_equal(predict(fused_model, test), fused_model.predict(test, batch_size=1024, verbose=0))


def test_another_seed_changes_the_fused_run(processed: Path) -> None:
    """The equality above is not vacuous: the seed reaches the fused loop's shuffling and weights."""
    _, seed_1 = trained(processed, "fused", ["train.epochs=1"])
    _, seed_2 = trained(processed, "fused", ["train.epochs=1", "train.seed=2"])
    assert seed_1["loss"] != seed_2["loss"]

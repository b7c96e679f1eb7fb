"""Fit a model on the preprocessed splits, exactly as the reference script does by default."""

from __future__ import annotations

from collections.abc import Callable

import keras

from mnist_pipeline.config import ModelConfig, TrainConfig
from mnist_pipeline.model import build_model, make_optimizer
from mnist_pipeline.preprocess import Split

EpochListener = Callable[[int, dict[str, float]], None]


def fit(
    model_config: ModelConfig,
    train_config: TrainConfig,
    train: Split,
    val: Split,
    on_epoch_end: EpochListener | None = None,
    verbose: int | str = 2,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Seed, build, compile and fit; returns the model and its per-epoch history."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(train_config.seed)
    model = build_model(model_config)
    model.compile(
        optimizer=make_optimizer(train_config.optimizer, train_config.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = []
    if on_epoch_end is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_epoch_end(epoch, {k: float(v) for k, v in (logs or {}).items()})
            )
        )
    history = model.fit(
        train.x,
        train.y,
        epochs=train_config.epochs,
        batch_size=train_config.batch_size,
        validation_data=(val.x, val.y),
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    return model, {k: [float(v) for v in values] for k, values in history.history.items()}

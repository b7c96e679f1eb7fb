"""Model builders, one per `model.name`; each returns an uncompiled Keras model."""

from __future__ import annotations

from collections.abc import Callable

import keras

from mnist_pipeline.config import ModelConfig
from mnist_pipeline.preprocess import IMAGE_SHAPE, NUM_CLASSES


def build_mlp(config: ModelConfig) -> keras.Model:
    """The reference network: Flatten -> Dense(units) -> Dense(10, softmax)."""
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(config.units, activation=config.activation),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mlp",
    )


BUILDERS: dict[str, Callable[[ModelConfig], keras.Model]] = {"mlp": build_mlp}


def build_model(config: ModelConfig) -> keras.Model:
    return BUILDERS[config.name](config)


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    optimizers: dict[str, type[keras.optimizers.Optimizer]] = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[name](learning_rate=learning_rate)

"""Model builders, one per `model.name`; each returns an uncompiled Keras model."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras

from mnist_pipeline.config import AugmentConfig, CnnConfig, MlpConfig, ModelConfig, TrainConfig
from mnist_pipeline.data.preprocess import IMAGE_SHAPE, NUM_CLASSES

# Batch norm's moving statistics follow the last ~10 batches (Keras' default 0.99: ~100), so a
# model trained for only a few hundred steps (a quick subset run) still predicts well.
BN_MOMENTUM = 0.9
COSINE_FLOOR = 0.01  # the cosine schedule ends at this fraction of train.learning_rate


def build_mlp(config: MlpConfig) -> keras.Model:
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


def augmentation_layers(config: AugmentConfig) -> list[keras.layers.Layer]:
    """Random shifts, rotations and zooms as layers: Keras applies them only while training, so
    the saved and served model takes plain images. Empty when every amount is 0, and without
    the shift when it moves whole pixels (nearest), which the training images get each epoch instead."""
    # MNIST's background is 0. Nearest-pixel resampling costs about a third of bilinear's (measured).
    fill = {"fill_mode": "constant", "fill_value": 0.0, "interpolation": config.interpolation}
    layers: list[keras.layers.Layer] = []
    if config.shift and not config.shifts_whole_pixels:
        layers.append(keras.layers.RandomTranslation(config.shift, config.shift, **fill))
    if config.rotation:
        layers.append(keras.layers.RandomRotation(config.rotation / 360.0, **fill))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, **fill))
    return layers


def build_cnn(config: CnnConfig) -> keras.Model:
    """Conv blocks (conv, batch norm or a bias, relu, 2x2 max-pool), then dropout -> dense ->
    dropout -> softmax. Batch norm on the conv blocks' large activations costs about half of a
    small CNN's training time on a CPU (measured); the dense layer's stays (it costs little)."""
    layers: list[Any] = [keras.Input(IMAGE_SHAPE), *augmentation_layers(config.augment)]
    for filters, kernel_size in zip(config.filters, config.kernel_sizes, strict=True):
        if config.conv_batch_norm:
            layers += [
                keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False),
                keras.layers.BatchNormalization(momentum=BN_MOMENTUM),
            ]
        else:
            layers.append(keras.layers.Conv2D(filters, kernel_size, padding="same"))
        layers += [keras.layers.Activation("relu"), keras.layers.MaxPooling2D()]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dropout(config.dropout),
        keras.layers.Dense(config.dense_units, use_bias=False),
        keras.layers.BatchNormalization(momentum=BN_MOMENTUM),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(config.dropout),
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ]
    return keras.Sequential(layers, name="cnn")


BUILDERS: dict[str, Callable[[Any], keras.Model]] = {"mlp": build_mlp, "cnn": build_cnn}


def build_model(config: ModelConfig) -> keras.Model:
    return BUILDERS[config.name](config)


def learning_rate(config: TrainConfig, train_size: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """`train.learning_rate` as is, or decayed per step over all the training's steps."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    steps = config.epochs * math.ceil(train_size / config.batch_size)
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=COSINE_FLOOR)


def make_optimizer(config: TrainConfig, train_size: int) -> keras.optimizers.Optimizer:
    optimizers: dict[str, type[keras.optimizers.Optimizer]] = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[config.optimizer](learning_rate=learning_rate(config, train_size))

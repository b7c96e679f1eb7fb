"""One TensorFlow call per epoch: `model.fit`'s arithmetic, at about half its cost per step.

`model.fit` feeds every step through a tf.data pipeline: a gather on a worker thread handed
over batch by batch, then Keras' per-step loop bookkeeping. For a small model on a small
machine those hand-offs cost as much as the arithmetic, and they stall whenever another
thread or process wants a core. This loop instead gathers the epoch's shuffled training set
once and runs Keras' own `train_step` on consecutive slices of it inside one compiled
while-loop; validation runs `test_step` the same way.

It reproduces `fit` bit for bit (tests/test_fused_loop.py): the epoch's order comes from the
same shuffle, seeded the same way, the batches are the same rows in the same order, and each
step is Keras' own step. Nothing else of `fit` is used: no callbacks, one log line an epoch
(and on a terminal a bar within it, progress.py).
TensorFlow backend only (training.py falls back to `model.fit` elsewhere).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from mnist_pipeline.data.preprocess import PIXEL_SCALE
from mnist_pipeline.learn import progress
from mnist_pipeline.learn.epoch_images import EpochImages
from mnist_pipeline.learn.listener import EpochListener


def keras_permutations(num_samples: int) -> tf.data.Dataset:
    """The dataset `model.fit` draws each epoch's order from (Keras' ArrayDataAdapter): one
    fresh iterator per epoch yields that epoch's shuffled indices. Built with the same ops in
    the same order, so the same global seed gives the same orders."""

    def permutation(_: Any) -> tf.Tensor:
        indices = tf.range(num_samples, dtype=tf.int64)
        return tf.random.shuffle(indices)

    # Not converted by AutoGraph (nothing to convert): a conversion writes a module into the
    # system temp folder, which a killed process leaves there. The same ops either way.
    return tf.data.Dataset.range(1).map(tf.autograph.experimental.do_not_convert(permutation)).prefetch(1)


def _epoch_function(model: keras.Model, step: Callable[[Any], Any], batch_size: int) -> Callable[..., Any]:
    """A compiled loop running `step` over consecutive batches of (x, y), the last one short:
    those from row `begin` up to row `end` (a whole epoch by default). The bounds are tensors, so
    an epoch run in parts (for the progress bar) is traced once and runs the same steps."""

    @tf.function(autograph=False)  # traced as written: no conversion of Keras' step code to check
    def run(x: tf.Tensor, y: tf.Tensor, begin: tf.Tensor, end: tf.Tensor) -> dict[str, tf.Tensor]:
        def one_batch(start: tf.Tensor) -> tf.Tensor:
            step((x[start : start + batch_size], y[start : start + batch_size]))
            return start + batch_size

        stop = tf.minimum(end, tf.shape(x)[0])
        tf.while_loop(lambda start: start < stop, one_batch, [begin])
        return model.get_metrics_result()

    return run


def _train_one_epoch(
    train_epoch: Callable[..., Any], x: tf.Tensor, y: tf.Tensor, batch_size: int, bar: tqdm | None
) -> dict[str, Any]:
    """One epoch over (x, y): in one call, or with a bar in parts of a few steps each, updated after each."""
    rows = int(x.shape[0])
    if bar is None:
        return train_epoch(x, y, tf.constant(0), tf.constant(rows))
    part = progress.steps_per_update(int(bar.total)) * batch_size
    for begin in range(0, rows, part):
        logs = train_epoch(x, y, tf.constant(begin), tf.constant(begin + part))
        bar.update(math.ceil((min(begin + part, rows) - begin) / batch_size))
    return logs


def fit_fused(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    on_epoch_end: EpochListener | None = None,
    verbose: bool = True,
    show_progress: bool = False,
    epoch_data: EpochImages | None = None,
) -> dict[str, list[float]]:
    """Train a compiled model as `model.fit(x, y, epochs, batch_size, validation_data=val,
    shuffle=True)` would; returns the same per-epoch history. `show_progress`: a bar within each
    epoch (progress.py), which changes nothing trained. `epoch_data`: each epoch trains on its
    images (stored pixels, scaled once gathered) in place of the train split's (same labels;
    epoch_images.py)."""
    x = tf.convert_to_tensor(train[0]) if epoch_data is None else None
    y = tf.convert_to_tensor(train[1])
    val_x, val_y = (tf.convert_to_tensor(a) for a in val)
    model.optimizer.build(model.trainable_variables)
    train_epoch = _epoch_function(model, model.train_step, batch_size)
    val_epoch = _epoch_function(model, model.test_step, batch_size)
    orders = keras_permutations(len(train[0]))
    steps = math.ceil(len(train[0]) / batch_size)
    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        started = time.perf_counter()
        order = next(iter(orders))
        if epoch_data is None:
            images = tf.gather(x, order)
        else:
            images = scaled(tf.gather(tf.constant(epoch_data.epoch_pixels(epoch)), order))
        model.reset_metrics()
        with progress.epoch_bar(epoch, epochs, steps) if show_progress else nullcontext() as bar:
            logs = _floats(_train_one_epoch(train_epoch, images, tf.gather(y, order), batch_size, bar))
        model.reset_metrics()
        whole = (tf.constant(0), tf.constant(len(val[0])))
        logs.update({f"val_{name}": value for name, value in _floats(val_epoch(val_x, val_y, *whole)).items()})
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if verbose:
            shown = " - ".join(f"{name}: {value:.4f}" for name, value in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - started:.1f}s - {shown}", flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
    return history


def scaled(pixels: tf.Tensor) -> tf.Tensor:
    """Stored pixels (uint8) as model input, the same float32 numbers `scale_images` gives.
    Eager on purpose: inside a tf.function, graph optimisation turns the division into a
    multiplication by 1/255, which rounds some pixels differently."""
    return tf.cast(pixels, tf.float32) / PIXEL_SCALE


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items()}

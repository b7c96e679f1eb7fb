"""Fit a model on the preprocessed splits, exactly as the reference script does by default.

The speed knobs change how fast, never what is computed (same weights, same accuracy):
`train.loop` picks Keras' `model.fit` or the fused loop (fused_loop.py, one TensorFlow call
per epoch), `steps_per_execution` runs many optimizer steps per call inside `model.fit`,
and TensorFlow's thread pools are sized for a small model on a small machine (when it trains
on the CPU). A bar within each epoch, on a terminal, shows how far an epoch has come.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from mnist_pipeline.config import ModelConfig, TrainConfig
from mnist_pipeline.data.preprocess import Split
from mnist_pipeline.learn import device, progress
from mnist_pipeline.learn.epoch_images import EpochImages
from mnist_pipeline.learn.listener import EpochListener
from mnist_pipeline.learn.model import build_model, make_optimizer


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (0 keeps its default); only possible before TF starts running ops.

    Only where no GPU is visible: the sizes are chosen for a small model on a 2-core CPU, and on a
    GPU the CPU's threads feed the GPU's kernels (launches, copies), which one thread would only slow.
    """
    if keras.backend.backend() != "tensorflow" or device.gpu_names():
        return
    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TF already ran ops in this process (later sweep jobs, tests): keep its pools
        pass


def steps_per_execution(train_config: TrainConfig, train_size: int) -> int:
    """`train.steps_per_execution`, where 0 means one whole epoch per call."""
    per_epoch = math.ceil(train_size / train_config.batch_size)
    return min(train_config.steps_per_execution or per_epoch, per_epoch)


def make_deterministic(seed: int) -> None:
    """Same config and seed, bit-identical weights and metrics: a fresh Keras state, and one seed
    for Python, NumPy and TensorFlow (initial weights and the per-epoch shuffling of `fit`).

    TensorFlow's op determinism (`enable_op_determinism`) is deliberately not switched on: the
    CPU kernels this model uses are deterministic already (tests/test_determinism.py checks it),
    while that switch changes their arithmetic and would move the default config off the
    reference script's numbers (test accuracy 0.9738 -> 0.9740).

    Keras' state is cleared without the full garbage collection `clear_session` makes by default:
    with TensorFlow loaded that takes 0.25 s (0.5 s in a sweep's process, per job), and what a
    previous model left is freed by Python's own collector as usual; no number depends on it.
    """
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)


def fit(
    model_config: ModelConfig,
    train_config: TrainConfig,
    train: Split,
    val: Split,
    on_epoch_end: EpochListener | None = None,
    verbose: int | str = 2,
    show_progress: bool | None = None,
    epoch_data: EpochImages | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Seed, build, compile and fit; returns the model and its per-epoch history.

    `show_progress`: a bar within each epoch; by default only on a terminal (progress.py), never
    with `verbose=0`. It changes what is shown, not what is trained. `epoch_data`: each epoch
    trains on its images (variants and whole-pixel shifts, epoch_images.py) instead of `train.x`.
    """
    show_progress = bool(verbose) and (progress.on_terminal() if show_progress is None else show_progress)
    configure_threads(train_config.intra_op_threads, train_config.inter_op_threads)
    make_deterministic(train_config.seed)
    model = build_model(model_config)
    model.compile(
        optimizer=make_optimizer(train_config, len(train)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=train_config.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution(train_config, len(train)),
    )
    if train_config.loop == "fused" and keras.backend.backend() == "tensorflow":
        from mnist_pipeline.learn.fused_loop import fit_fused

        history = fit_fused(
            model,
            (train.x, train.y),
            (val.x, val.y),
            train_config.epochs,
            train_config.batch_size,
            on_epoch_end,
            verbose=bool(verbose),
            show_progress=show_progress,
            epoch_data=epoch_data,
        )
        return model, history
    callbacks = []
    if on_epoch_end is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_epoch_end(epoch, {k: float(v) for k, v in (logs or {}).items()})
            )
        )
    # With epoch_data, one `fit` call per epoch, each on that epoch's images.
    spans = (
        [(0, train_config.epochs)]
        if epoch_data is None
        else [(epoch, epoch + 1) for epoch in range(train_config.epochs)]
    )
    history: dict[str, list[float]] = {}
    for first, end in spans:
        done = model.fit(
            train.x if epoch_data is None else epoch_data.epoch_images(first),
            train.y,
            initial_epoch=first,
            epochs=end,
            batch_size=train_config.batch_size,
            validation_data=(val.x, val.y),
            shuffle=True,
            callbacks=callbacks,
            verbose=1 if show_progress else verbose,  # 1: Keras' own bar
        )
        for name, values in done.history.items():
            history.setdefault(name, []).extend(float(v) for v in values)
    return model, history


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities, float32 (N, 10): the numbers `model.predict` gives (the same
    compiled graph on the same batches), without its data pipeline, about 0.2 s faster."""
    if keras.backend.backend() != "tensorflow":
        return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)
    import tensorflow as tf

    infer = tf.function(lambda batch: model(batch, training=False), autograph=False)  # fused_loop.py says why
    parts = [np.asarray(infer(images[start : start + batch_size])) for start in range(0, len(images), batch_size)]
    return np.concatenate(parts).astype(np.float32, copy=False)


# Keras writes the save time into a .keras archive (metadata.json's `date_saved`, and each
# member's zip timestamp), and numbers an object the config refers to more than once by its
# memory address (config.json's `shared_object_id`): the same weights would give other bytes
# on every save, and DVC a new hash for `models/`. Nothing reads the dates back; the ids only
# need to match each other, so they are renumbered in order of appearance.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SAVE_DATE_KEY = "date_saved"
_SHARED_ID_KEY = "shared_object_id"


def _renumber_shared_ids(node: object, numbers: dict[object, int]) -> object:
    if isinstance(node, dict):
        return {
            key: numbers.setdefault(value, len(numbers))
            if key == _SHARED_ID_KEY
            else _renumber_shared_ids(value, numbers)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renumber_shared_ids(item, numbers) for item in node]
    return node


def save(model: keras.Model, path: Path) -> None:
    """`model.save(path)`, with the same bytes for the same model whenever it is saved."""
    import json
    import os
    import zipfile

    raw = path.with_name(path.name + ".unnormalised.keras")
    try:
        model.save(raw)
        with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w") as target:
            for member in source.infolist():
                data = source.read(member)
                if member.filename == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop(_SAVE_DATE_KEY, None)
                    data = json.dumps(metadata).encode()
                elif member.filename == "config.json":
                    data = json.dumps(_renumber_shared_ids(json.loads(data), {})).encode()
                info = zipfile.ZipInfo(member.filename, date_time=_ZIP_EPOCH)
                info.compress_type, info.external_attr = member.compress_type, member.external_attr
                target.writestr(info, data)
    finally:
        if os.path.exists(raw):
            os.remove(raw)

"""The train stage: fit the configured model, score the test set, and log it all to MLflow.

Only this stage imports TensorFlow (when called), and MLflow loads on a thread beside the
fit (tracking/background.py), so that neither import waits for the other.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from mnist_pipeline.config import TRAINING_VARIANTS, PipelineConfig, flatten, to_container
from mnist_pipeline.data.preprocess import IMAGE_SHAPE, NUM_CLASSES, load_stored_split
from mnist_pipeline.plumbing.errors import PipelineError
from mnist_pipeline.plumbing.files import atomic_dir, atomic_file, folder_digest, staged
from mnist_pipeline.plumbing.full_disk import reporting_disk_full
from mnist_pipeline.plumbing.interrupts import raise_if_interrupted
from mnist_pipeline.plumbing.profiling import phase
from mnist_pipeline.plumbing.workspace import MODEL_FILE, ONNX_FILE, PROBABILITIES_FILE, Workspace
from mnist_pipeline.stages import artifacts
from mnist_pipeline.tracking import identity, server

if TYPE_CHECKING:
    from mnist_pipeline.learn.epoch_images import EpochImages
    from mnist_pipeline.learn.listener import EpochListener
    from mnist_pipeline.tracking.store import TrackedRun

TRAIN_SECONDS = "train_seconds"  # the run's metric: the fit, build and compile included
ELAPSED_SECONDS = "elapsed_seconds"  # per epoch: TRAIN_SECONDS so far, at the epoch's end


def train_stage(
    config: PipelineConfig,
    data_dir: Path,
    model_dir: Path,
    history_file: Path,
    workspace: Workspace,
    tags: dict[str, str] | None = None,
    *,
    run_id: str | None = None,
    figures_dir: Path | None = None,
    params_file: Path | None = None,
) -> str:
    """Fit the configured model, log it to a new MLflow run (or to `run_id`), and return the run's id.

    While the model is in memory it also scores the test set, so the evaluate stage needs
    neither TensorFlow nor a model reload; nothing from the test set feeds back into training.
    Its outputs (the model folder, what DVC and the evaluate stage look for, the history and the
    figures) are moved into place last, so a failure or an interruption anywhere before (a full
    disk included) leaves none of them, and no model that looks valid.
    """
    from mnist_pipeline.learn import plots
    from mnist_pipeline.learn.onednn import use_onednn
    from mnist_pipeline.plumbing.side_process import SideProcess
    from mnist_pipeline.tracking.background import BackgroundRun

    use_onednn(config.train.onednn)  # before TensorFlow loads; a setting that cannot apply fails before any run
    # Bad data and a tracking server that is down fail here, before the slow imports and any training.
    stored = {split: load_stored_split(data_dir, split) for split in ("train", "val", "test")}
    train, val, test = (split.scaled() for split in stored.values())
    server.check_reachable(server.tracking_uri(config.tracking, workspace))
    with phase("variants"):  # forks its workers: before any thread runs
        drawn = epoch_images(config, stored["train"].images)

    def open_run() -> AbstractContextManager[TrackedRun]:
        """Runs on the MLflow thread, beside training (tracking/background.py)."""
        with phase("import_mlflow"):
            from mnist_pipeline.tracking import store
        from mnist_pipeline.stages import params
        from mnist_pipeline.tracking import naming

        reference = params.reference(workspace, config.model.name)
        name = None if run_id else naming.run_name(to_container(config), reference)
        run_tags = identity.run_tags(workspace, data_dir, tags)
        return store.pipeline_run(config.tracking, workspace, run_id=run_id, run_name=name, tags=run_tags)

    # The drawing process starts first: it can be forked while no thread runs yet.
    figures = () if figures_dir is None else (figures_dir,)
    with (
        reporting_disk_full(model_dir, history_file, *figures, *workspace.working_places),
        SideProcess(plots.import_matplotlib, needed=figures_dir is not None) as drawing,
        BackgroundRun(open_run) as background,
    ):
        with phase("import_tensorflow"):
            from mnist_pipeline.learn.device import training_device
            from mnist_pipeline.learn.onnx_export import export_onnx
            from mnist_pipeline.learn.training import fit, predict, save
        run = cast("TrackedRun", background)
        run.set_tags({identity.DEVICE: training_device()})
        run.log_params(flatten(to_container(config)))
        run.log_params({"data.train_size": len(train), "data.val_size": len(val)})
        log_config(run, config, params_file)
        started = time.perf_counter()
        with phase("fit"):
            model, history = fit(
                config.model,
                config.train,
                train,
                val,
                finite_loss(with_elapsed(run.log_epoch, started), background.poll),
                epoch_data=drawn,
            )
        run.log_metrics({TRAIN_SECONDS: time.perf_counter() - started})
        # Every output is built in the scratch folder and moved into place only once all is logged.
        with ExitStack() as outputs:
            tmp = outputs.enter_context(atomic_dir(model_dir, workspace.scratch_dir))
            history_tmp = outputs.enter_context(staged(history_file, workspace.scratch_dir))
            if figures_dir is not None:
                figures_tmp = outputs.enter_context(staged(figures_dir, workspace.scratch_dir))
                drawn_curves = drawing.start(
                    "drawing the training curves", plots.write_training_figures, history, figures_tmp
                )
            probabilities = predict(model, test.x)
            save(model, tmp / MODEL_FILE)
            with phase("onnx_export"):
                export_onnx(model, tmp / ONNX_FILE)
            np.save(tmp / PROBABILITIES_FILE, probabilities)
            digest = folder_digest(tmp)
            run.log_keras_model(model, IMAGE_SHAPE, (NUM_CLASSES,))
            run.log_onnx_model(tmp / ONNX_FILE, IMAGE_SHAPE, (NUM_CLASSES,))
            write_history(history, history_tmp)
            run.log_artifact(history_tmp, artifacts.REPORTS)
            if figures_dir is not None:
                drawn_curves.wait()
                run.log_artifacts(figures_tmp, artifacts.FIGURES)
            # Last: a run with this tag has logged everything (evaluate.run_of_model relies on it).
            run.set_tags({artifacts.MODEL_DIGEST_TAG: digest})
            background.wait()
        return background.run_id


def epoch_images(config: PipelineConfig, images: np.ndarray) -> EpochImages | None:
    """Each epoch's training images (learn/epoch_images.py), from the training `images` (uint8,
    as stored), for `model.augment.variants` and a whole-pixel `model.augment.shift`; or None."""
    augment = getattr(config.model, "augment", None)
    if augment is None or not (augment.variants or augment.shifts_whole_pixels):
        return None
    from mnist_pipeline.learn.epoch_images import EpochImages
    from mnist_pipeline.predict import variants

    built = tuple(variants.for_training(images)) if augment.variants else ()
    weights = tuple(augment.variant_weights[name] for name in TRAINING_VARIANTS)
    shift = augment.shift * IMAGE_SHAPE[0] if augment.shifts_whole_pixels else 0.0
    return EpochImages(images, built, augment.variants, config.train.seed, weights, shift)


def with_elapsed(log_epoch: EpochListener, started: float) -> EpochListener:
    """`log_epoch`, with the training seconds elapsed at the epoch's end (since `started`, as
    `train_seconds` counts them) logged beside its metrics: the run's charts, and `make bench`,
    draw accuracy against training time an epoch at a time. Kept out of the history file, which
    DVC hashes: the same seed writes the same bytes whatever the machine's speed."""

    def listener(epoch: int, logs: dict[str, float]) -> None:
        log_epoch(epoch, {**logs, ELAPSED_SECONDS: time.perf_counter() - started})

    return listener


def finite_loss(log_epoch: EpochListener, check_tracking: Callable[[], None]) -> EpochListener:
    """`log_epoch`, then stop training with an error once the loss is no longer a number, or
    once MLflow failed (`check_tracking` raises): no use training a model that cannot be logged;
    and stop it once Ctrl-C or SIGTERM came, even if its first raise was dropped (interrupts.py)."""

    def listener(epoch: int, logs: dict[str, float]) -> None:
        raise_if_interrupted()
        log_epoch(epoch, logs)
        check_tracking()
        loss = logs.get("loss", 0.0)
        if not math.isfinite(loss):
            raise PipelineError(f"training diverged: loss is {loss} after epoch {epoch + 1}; lower train.learning_rate")

    return listener


def log_config(run: TrackedRun, config: PipelineConfig, params_file: Path | None) -> None:
    """The resolved config, and the params.yaml it came from (DVC stages), as run artifacts."""
    run.log_dict(to_container(config), f"{artifacts.CONFIG}/resolved.yaml")
    if params_file is not None:
        run.log_artifact(params_file, artifacts.CONFIG)


def write_history(history: dict[str, list[float]], path: Path) -> None:
    """Per-epoch metrics, one row per epoch (epochs counted from 1), for `dvc plots`."""
    keys = sorted(history)
    with atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for epoch, values in enumerate(zip(*(history[k] for k in keys), strict=True), start=1):
            writer.writerow([epoch, *(f"{v:.6g}" for v in values)])

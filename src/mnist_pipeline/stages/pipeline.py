"""The four stages as plain functions: the DVC stage scripts and the Hydra sweep call these.

Only the train stage imports TensorFlow (when called): download and preprocess have no use
for it, and evaluate works from the test-set probabilities that train saves.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mnist_pipeline.config import PipelineConfig, flatten, to_container
from mnist_pipeline.data.download import Transfer, download_mnist, mirror_list
from mnist_pipeline.data.preprocess import IMAGE_SHAPE, NUM_CLASSES, load_split, preprocess
from mnist_pipeline.learn.evaluation import evaluate
from mnist_pipeline.plumbing.errors import DataError, PipelineError
from mnist_pipeline.plumbing.files import atomic_dir, atomic_file
from mnist_pipeline.plumbing.profiling import phase

if TYPE_CHECKING:
    from mnist_pipeline.learn.training import EpochListener
    from mnist_pipeline.tracking.store import TrackedRun

MODEL_FILE = "model.keras"
RUN_FILE = "mlflow_run.json"
PROBABILITIES_FILE = "test_probabilities.npy"
FIGURES_ARTIFACTS = "figures"  # MLflow artifact folder of every picture
CONFIG_ARTIFACTS = "config"  # MLflow artifact folder of the run's configuration


def download_stage(config: PipelineConfig, raw_dir: Path) -> list[Path]:
    mirrors = mirror_list(config.data.mirrors, config.data.mirror)
    transfer = Transfer(config.data.download_timeout, config.data.download_retries, config.data.download_backoff)
    return download_mnist(raw_dir, mirrors, transfer)


def preprocess_stage(config: PipelineConfig, raw_dir: Path, out_dir: Path) -> dict[str, int]:
    return preprocess(raw_dir, out_dir, config.data)


def train_stage(
    config: PipelineConfig,
    data_dir: Path,
    model_dir: Path,
    history_file: Path,
    root: Path,
    tags: dict[str, str] | None = None,
    *,
    run_id: str | None = None,
    figures_dir: Path | None = None,
    params_file: Path | None = None,
) -> str:
    """Fit the configured model, log it to a new MLflow run (or to `run_id`), and return the run's id.

    While the model is in memory it also scores the test set, so the evaluate stage needs
    neither TensorFlow nor a model reload; nothing from the test set feeds back into training.
    The model folder (what DVC and the evaluate stage look for) is written last, so a failure
    or an interruption anywhere before leaves no model that looks valid.
    """
    from mnist_pipeline.learn import plots
    from mnist_pipeline.plumbing.side_process import SideProcess
    from mnist_pipeline.tracking.background import BackgroundRun

    # Bad data fails here, before the slow imports.
    train, val, test = (load_split(data_dir, split) for split in ("train", "val", "test"))

    def open_run() -> AbstractContextManager[TrackedRun]:
        """Runs on the MLflow thread, beside training (tracking_thread.py)."""
        with phase("import_mlflow"):
            from mnist_pipeline.tracking import store
        from mnist_pipeline.tracking import identity, naming

        name = None if run_id else naming.run_name(to_container(config), naming.reference(root, config.model.name))
        run_tags = identity.run_tags(data_dir, tags)
        return store.pipeline_run(config.tracking, root, run_id=run_id, run_name=name, tags=run_tags)

    # The drawing process starts first: it can be forked while no thread runs yet.
    with (
        SideProcess(plots.import_matplotlib, needed=figures_dir is not None) as drawing,
        BackgroundRun(open_run) as background,
    ):
        with phase("import_tensorflow"):
            from mnist_pipeline.learn.training import fit, predict
        run = cast("TrackedRun", background)
        run.log_params(flatten(to_container(config)))
        run.log_params({"data.train_size": len(train), "data.val_size": len(val)})
        log_config(run, config, params_file)
        started = time.perf_counter()
        with phase("fit"):
            model, history = fit(
                config.model, config.train, train, val, on_epoch_end=finite_loss(run.log_epoch, background.poll)
            )
        run.log_metrics({"train_seconds": time.perf_counter() - started})
        if figures_dir is not None:
            drawing.start("drawing the training curves", plots.write_training_figures, history, figures_dir)
        with atomic_dir(model_dir) as tmp:
            probabilities = predict(model, test.x)
            model.save(tmp / MODEL_FILE)
            np.save(tmp / PROBABILITIES_FILE, probabilities)
            run.log_keras_model(model, IMAGE_SHAPE, (NUM_CLASSES,))
            write_history(history, history_file)
            run.log_artifact(history_file, "reports")
            drawing.wait()
            if figures_dir is not None:
                run.log_artifacts(figures_dir, FIGURES_ARTIFACTS)
            background.wait()
            (tmp / RUN_FILE).write_text(json.dumps({"run_id": background.run_id}) + "\n")
        return background.run_id


def finite_loss(log_epoch: EpochListener, check_tracking: Callable[[], None]) -> EpochListener:
    """`log_epoch`, then stop training with an error once the loss is no longer a number, or
    once MLflow failed (`check_tracking` raises): no use training a model that cannot be logged."""

    def listener(epoch: int, logs: dict[str, float]) -> None:
        log_epoch(epoch, logs)
        check_tracking()
        loss = logs.get("loss", 0.0)
        if not math.isfinite(loss):
            raise PipelineError(f"training diverged: loss is {loss} after epoch {epoch + 1}; lower train.learning_rate")

    return listener


def evaluate_stage(
    config: PipelineConfig,
    data_dir: Path,
    model_dir: Path,
    metrics_file: Path,
    predictions_file: Path,
    root: Path,
    *,
    figures_dir: Path | None = None,
    per_class_file: Path | None = None,
) -> dict[str, Any]:
    """Score the trained model's test-set probabilities; logs into the run that trained it and registers the model.

    Bad inputs fail before the run is reopened (it stays as training left it, without test
    metrics). The pictures are drawn in a child process while MLflow starts (side_process.py). Like
    training, the metrics and predictions files come last: a failure leaves none behind.
    """
    run_id = read_run_id(model_dir)
    test = load_split(data_dir, "test")
    probabilities = load_probabilities(model_dir)
    try:
        result = evaluate(probabilities, test.y)
    except ValueError as exc:
        raise DataError(
            f"{model_dir / PROBABILITIES_FILE} does not fit the test set ({exc}); rerun `dvc repro train`"
        ) from None
    from mnist_pipeline.learn import plots
    from mnist_pipeline.plumbing.side_process import SideProcess

    with SideProcess(plots.import_matplotlib, needed=figures_dir is not None) as drawing:
        if figures_dir is not None:
            drawing.start("drawing the pictures", plots.write_evaluation_figures, result, test.x, figures_dir)
        with phase("import_mlflow"):
            from mnist_pipeline.tracking import store
        from mnist_pipeline.learn.evaluation import per_class_report
        from mnist_pipeline.tracking import registry

        with store.pipeline_run(config.tracking, root, run_id=run_id) as run:
            metrics = result.metrics()
            run.log_metrics({"test_accuracy": result.test_accuracy, "test_loss": result.test_loss})
            run.log_metrics({f"test_accuracy_digit_{d}": acc for d, acc in result.per_class_accuracy.items()})
            run.log_dict(metrics, f"reports/{metrics_file.name}")
            run.log_dict(
                {"labels": list(range(NUM_CLASSES)), "matrix": result.confusion_matrix().tolist()},
                "reports/confusion_matrix.json",
            )
            report = per_class_report(result.confusion_matrix())
            run.log_metrics({"test_macro_f1": sum(row["f1"] for row in report) / len(report)})
            if per_class_file is not None:
                write_rows(report, per_class_file)
                run.log_artifact(per_class_file, "reports")
            with phase("registry"):
                registered = registry.register(config.registry, config.tracking, root, run.run_id)
            if registered is not None:
                run.set_tags({"registry.model": registered.model_name, "registry.version": registered.version})
            drawing.wait()
            if figures_dir is not None:
                run.log_artifacts(figures_dir, FIGURES_ARTIFACTS)
            write_predictions(result.actual, result.predicted, predictions_file)
            write_json(metrics, metrics_file)
            return metrics


def train_and_evaluate(
    config: PipelineConfig,
    data_dir: Path,
    out_dir: Path,
    root: Path,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Train then evaluate into `out_dir` (a sweep job's folder): one MLflow run, its id and test metrics."""
    model_dir, reports = out_dir / "models", out_dir / "reports"
    run_id = train_stage(
        config,
        data_dir,
        model_dir,
        reports / "train_history.csv",
        root,
        tags,
        run_id=run_id,
        figures_dir=reports / "figures" / "train",
    )
    metrics = evaluate_stage(
        config,
        data_dir,
        model_dir,
        reports / "metrics.json",
        reports / "predictions.csv",
        root,
        figures_dir=reports / "figures" / "evaluate",
        per_class_file=reports / "per_class_metrics.csv",
    )
    return run_id, metrics


def log_config(run: TrackedRun, config: PipelineConfig, params_file: Path | None) -> None:
    """The resolved config, and the params.yaml it came from (DVC stages), as run artifacts."""
    run.log_dict(to_container(config), f"{CONFIG_ARTIFACTS}/resolved.yaml")
    if params_file is not None:
        run.log_artifact(params_file, CONFIG_ARTIFACTS)


def load_probabilities(model_dir: Path) -> np.ndarray:
    try:
        return np.load(model_dir / PROBABILITIES_FILE)
    except (OSError, ValueError):
        raise DataError(f"{model_dir / PROBABILITIES_FILE} is missing or unreadable: rerun `dvc repro train`") from None


def read_run_id(model_dir: Path) -> str:
    try:
        return str(json.loads((model_dir / RUN_FILE).read_text())["run_id"])
    except (OSError, ValueError, KeyError):
        raise DataError(
            f"{model_dir / RUN_FILE} is missing or unreadable: run the train stage first (`dvc repro train`)"
        ) from None


def write_json(data: dict[str, Any], path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_history(history: dict[str, list[float]], path: Path) -> None:
    """Per-epoch metrics, one row per epoch (epochs counted from 1), for `dvc plots`."""
    keys = sorted(history)
    with atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for epoch, values in enumerate(zip(*(history[k] for k in keys), strict=True), start=1):
            writer.writerow([epoch, *(f"{v:.6g}" for v in values)])


def write_predictions(actual: Any, predicted: Any, path: Path) -> None:
    """One row per test image, the input of DVC's `confusion` plot template."""
    with atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows(zip(actual.tolist(), predicted.tolist(), strict=True))


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """A table as CSV, one dict per row (floats to 4 decimals)."""
    with atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)

"""The evaluate stage: test-set metrics from the probabilities the train stage saved, logged
into the run that trained the model, which is then registered; and the model's accuracy on
variants of the test set written unlike MNIST (the preprocess stage's, predict/variants.py),
scored with its ONNX export.

Imports neither TensorFlow nor (until the metrics are computed) MLflow: the metrics are
NumPy's, and the variants are scored (ONNX Runtime) and the pictures drawn in a side process
while MLflow loads.
"""

from __future__ import annotations

import csv
import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_pipeline.config import PipelineConfig
from mnist_pipeline.data.preprocess import NUM_CLASSES, load_stored_split, one_hot, scale_images
from mnist_pipeline.learn.evaluation import evaluate
from mnist_pipeline.plumbing.errors import DataError
from mnist_pipeline.plumbing.files import atomic_file, folder_digest, staged
from mnist_pipeline.plumbing.full_disk import reporting_disk_full
from mnist_pipeline.plumbing.profiling import phase
from mnist_pipeline.plumbing.workspace import ONNX_FILE, PROBABILITIES_FILE, Workspace
from mnist_pipeline.stages import artifacts

if TYPE_CHECKING:
    from mnist_pipeline.learn.evaluation import Evaluation

# The run's metric for each variant's accuracy: robust_accuracy_lowres, ...
ROBUST_METRIC_PREFIX = "robust_accuracy_"


def evaluate_stage(
    config: PipelineConfig,
    data_dir: Path,
    model_dir: Path,
    metrics_file: Path,
    predictions_file: Path,
    workspace: Workspace,
    *,
    figures_dir: Path | None = None,
    per_class_file: Path | None = None,
    variants_dir: Path | None = None,
    robustness_file: Path | None = None,
    run_id: str | None = None,
    register: bool = True,
    report: bool = False,
) -> dict[str, Any]:
    """Score the trained model's test-set probabilities; logs into the run that trained it
    (`run_id`, else the run tagged with the model folder's digest) and, if `register`,
    registers the model (a sweep job passes `registry.register_sweep_jobs`); with `report`,
    prints the test metrics and where the MLflow UI shows the run (the stage's last lines, the
    last `dvc repro` prints before its own). With `variants_dir` (the preprocess stage's variants)
    and `robustness_file`, the model folder's ONNX export is scored on each variant of the test
    set: the accuracies go into that file, the run's `robust_accuracy_<variant>` metrics and
    (with `figures_dir`) a bar chart.

    Bad inputs fail before the run is reopened (it stays as training left it, without test
    metrics). The variants are scored and the pictures drawn in a child process while MLflow
    starts (plumbing/side_process.py). Like training, every output is moved into place last,
    once the run is closed: a failure (a full disk included) leaves none behind.
    """
    stored = load_stored_split(data_dir, "test")
    probabilities = load_probabilities(model_dir)
    try:
        result = evaluate(probabilities, one_hot(stored.labels))
    except ValueError as exc:
        raise DataError(
            f"{model_dir / PROBABILITIES_FILE} does not fit the test set ({exc}); rerun `dvc repro train`"
        ) from None
    onnx_file = model_dir / ONNX_FILE
    if robustness_file is not None:
        if variants_dir is None:
            raise ValueError("robustness_file needs variants_dir, the variants it is measured on")
        if not onnx_file.is_file():
            raise DataError(
                f"{onnx_file} is missing (a model folder from before the ONNX export); rerun `dvc repro train`"
            )
        from mnist_pipeline.predict import variants

        variants.load(variants_dir, len(stored.images))  # checked here, before the run is reopened
    from mnist_pipeline.learn import plots
    from mnist_pipeline.plumbing.side_process import SideProcess

    outputs = [
        path
        for path in (metrics_file, predictions_file, per_class_file, robustness_file, figures_dir)
        if path is not None
    ]
    with (
        reporting_disk_full(*outputs, *workspace.working_places),
        ExitStack() as staging,  # each output moves into place once the run is closed
        SideProcess(plots.import_matplotlib, needed=figures_dir is not None or robustness_file is not None) as side,
    ):
        scratch = {path: staging.enter_context(staged(path, workspace.scratch_dir)) for path in outputs}
        side_task = (
            side.start(
                "scoring the test-set variants and drawing the pictures",
                score_and_draw,
                result,
                stored.images,  # uint8: a quarter of the bytes to pickle
                onnx_file if robustness_file is not None else None,
                variants_dir,
                scratch[figures_dir] if figures_dir is not None else None,
            )
            if figures_dir is not None or robustness_file is not None
            else None
        )
        with phase("import_mlflow"):
            from mnist_pipeline.tracking import store
        from mnist_pipeline.learn.evaluation import macro_f1, per_class_report
        from mnist_pipeline.tracking import registry

        run_id = run_id or run_of_model(config, workspace, model_dir)
        with store.pipeline_run(config.tracking, workspace, run_id=run_id) as run:
            metrics = result.metrics()
            run.log_metrics({"test_accuracy": result.test_accuracy, "test_loss": result.test_loss})
            run.log_metrics({f"test_accuracy_digit_{d}": acc for d, acc in result.per_class_accuracy.items()})
            run.log_dict(metrics, f"{artifacts.REPORTS}/{metrics_file.name}")
            run.log_dict(
                {"labels": list(range(NUM_CLASSES)), "matrix": result.confusion_matrix().tolist()},
                f"{artifacts.REPORTS}/confusion_matrix.json",
            )
            per_class = per_class_report(result.confusion_matrix())
            run.log_metrics({"test_macro_f1": macro_f1(per_class)})
            if per_class_file is not None:
                write_rows(per_class, scratch[per_class_file])
                run.log_artifact(scratch[per_class_file], artifacts.REPORTS)
            registered = None
            if register:
                with phase("registry"):
                    registered = registry.register(config.registry, config.tracking, workspace, run.run_id)
            if registered is not None:
                run.set_tags({"registry.model": registered.model_name, "registry.version": registered.version})
            robustness = side_task.wait() if side_task is not None else None
            if robustness is not None and robustness_file is not None:
                run.log_metrics({f"{ROBUST_METRIC_PREFIX}{name}": acc for name, acc in robustness.items()})
                write_json(robustness, scratch[robustness_file])
                run.log_artifact(scratch[robustness_file], artifacts.REPORTS)
            if figures_dir is not None:
                run.log_artifacts(scratch[figures_dir], artifacts.FIGURES)
            write_predictions(result.actual, result.predicted, scratch[predictions_file])
            write_json(metrics, scratch[metrics_file])
            links = run.where_to_look() if report else []
    if report:
        print(f"test_accuracy={metrics['test_accuracy']:.4f} test_loss={metrics['test_loss']:.4f}", *links, sep="\n")
    return metrics


def load_probabilities(model_dir: Path) -> np.ndarray:
    try:
        return np.load(model_dir / PROBABILITIES_FILE)
    except (OSError, ValueError):
        raise DataError(f"{model_dir / PROBABILITIES_FILE} is missing or unreadable: rerun `dvc repro train`") from None


def score_and_draw(
    result: Evaluation,
    images: np.ndarray,
    onnx_file: Path | None,
    variants_dir: Path | None,
    figures_dir: Path | None,
) -> dict[str, float] | None:
    """The side process's task: with `onnx_file`, that model's accuracy on each variant of the
    test images in `variants_dir` (returned); with `figures_dir`, the pictures of the test
    `images` (uint8, as stored) there, with a bar chart of those accuracies."""
    from mnist_pipeline.learn import plots

    robustness = None
    if onnx_file is not None and variants_dir is not None:
        from mnist_pipeline.predict import variants
        from mnist_pipeline.predict.runtimes import OnnxClassifier

        try:
            model = OnnxClassifier(onnx_file, threads=1)  # the other core is the stage's
        except DataError:
            raise DataError(f"{onnx_file} is not a model ONNX Runtime can load; rerun `dvc repro train`") from None
        robustness = variants.accuracies(model, variants.load(variants_dir, len(images)), result.actual)
    if figures_dir is not None:
        plots.write_evaluation_figures(result, scale_images(images), figures_dir, robustness)
    return robustness


def run_of_model(config: PipelineConfig, workspace: Workspace, model_dir: Path) -> str:
    """The training run whose saved folder is `model_dir`, byte for byte (the newest, if the same
    config and seed were trained more than once). The train stage tags a run with the folder's
    digest only once all else is logged, so a run whose evaluation failed (a full disk, say) is
    found again, whatever status that failure left it in."""
    from mnist_pipeline.tracking import store

    digest = folder_digest(model_dir)
    run_id = store.latest_run_tagged(config.tracking, workspace, artifacts.MODEL_DIGEST_TAG, digest)
    if run_id is None:
        where = store.tracking_uri(config.tracking, workspace)
        raise DataError(f"{model_dir} was not saved by a finished training run in {where}: rerun `dvc repro train`")
    return run_id


def write_json(data: dict[str, Any], path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


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

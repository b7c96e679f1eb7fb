"""DVC stage `evaluate`: test-set metrics and predictions, logged into the training's MLflow run."""

import argparse
from pathlib import Path
from typing import Any

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import (
    EVALUATE_FIGURES,
    METRICS_FILE,
    PER_CLASS_FILE,
    PREDICTIONS_FILE,
    ROBUSTNESS_FILE,
    Workspace,
)
from mnist_pipeline.stages.evaluate import evaluate_stage


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    workspace = Workspace.of_stage()
    return evaluate_stage(
        load_params(workspace.params_file),
        args.data,
        args.model,
        args.reports / METRICS_FILE,
        args.reports / PREDICTIONS_FILE,
        workspace,
        figures_dir=args.reports / EVALUATE_FIGURES,
        per_class_file=args.reports / PER_CLASS_FILE,
        variants_dir=args.variants,
        robustness_file=args.reports / ROBUSTNESS_FILE,
        report=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with the processed splits")
    parser.add_argument("--model", type=Path, required=True, help="folder written by the train stage")
    parser.add_argument("--variants", type=Path, required=True, help="folder of test-set variants (preprocess stage)")
    parser.add_argument(
        "--reports",
        type=Path,
        required=True,
        help=f"folder for {METRICS_FILE} (test metrics), {PREDICTIONS_FILE} (actual vs predicted digits), "
        f"{PER_CLASS_FILE} (per-digit precision/recall/F1), {ROBUSTNESS_FILE} (accuracy on digits written "
        f"unlike MNIST) and {EVALUATE_FIGURES}/ (the pictures); "
        "one folder, so that the command DVC prints stays on one short line",
    )
    run_or_exit(lambda: evaluate(parser.parse_args()))


if __name__ == "__main__":
    main()
    exit_without_teardown()

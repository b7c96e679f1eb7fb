"""DVC stage `evaluate`: test-set metrics and predictions, logged into the training's MLflow run."""

import argparse
from pathlib import Path
from typing import Any

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.evaluate import evaluate_stage


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    workspace = Workspace.of_stage()
    return evaluate_stage(
        load_params(workspace.params_file),
        args.data,
        args.model,
        args.metrics,
        args.predictions,
        workspace,
        figures_dir=args.figures,
        per_class_file=args.per_class,
        report=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with the processed splits")
    parser.add_argument("--model", type=Path, required=True, help="folder written by the train stage")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON file for the test metrics")
    parser.add_argument("--predictions", type=Path, required=True, help="CSV file of actual vs predicted digits")
    parser.add_argument("--figures", type=Path, required=True, help="folder for the evaluation pictures")
    parser.add_argument("--per-class", type=Path, required=True, help="CSV file of per-digit precision/recall/F1")
    run_or_exit(lambda: evaluate(parser.parse_args()))


if __name__ == "__main__":
    main()
    exit_without_teardown()

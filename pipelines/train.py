"""DVC stage `train`: fit the configured model and open its MLflow run."""

import argparse
from pathlib import Path

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import workspace_root
from mnist_pipeline.stages.params import PARAMS_FILE
from mnist_pipeline.stages.pipeline import train_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with the processed splits")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model and its run id")
    parser.add_argument("--history", type=Path, required=True, help="CSV file for per-epoch metrics")
    parser.add_argument("--figures", type=Path, required=True, help="folder for the training-curve pictures")
    args = parser.parse_args()
    run_id = run_or_exit(
        lambda: train_stage(
            load_params(),
            args.data,
            args.out,
            args.history,
            workspace_root(),
            figures_dir=args.figures,
            params_file=Path(PARAMS_FILE),
        )
    )
    print(f"MLflow run: {run_id}")


if __name__ == "__main__":
    main()
    exit_without_teardown()

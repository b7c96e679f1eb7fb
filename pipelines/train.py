"""DVC stage `train`: fit the configured model and open its MLflow run."""

import argparse
from pathlib import Path

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.train import train_stage


def train(args: argparse.Namespace) -> str:
    workspace = Workspace.of_stage()
    return train_stage(
        load_params(workspace.params_file),
        args.data,
        args.out,
        args.history,
        workspace,
        figures_dir=args.figures,
        params_file=workspace.params_file,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with the processed splits")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model and its run id")
    parser.add_argument("--history", type=Path, required=True, help="CSV file for per-epoch metrics")
    parser.add_argument("--figures", type=Path, required=True, help="folder for the training-curve pictures")
    run_id = run_or_exit(lambda: train(parser.parse_args()))
    print(f"MLflow run: {run_id}")


if __name__ == "__main__":
    main()
    exit_without_teardown()

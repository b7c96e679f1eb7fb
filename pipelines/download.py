"""DVC stage `download`: fetch the raw MNIST files from the configured mirrors, verified."""

import argparse
from pathlib import Path

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.download import download_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the raw IDX files")
    args = parser.parse_args()
    run_or_exit(lambda: download_stage(load_params(Workspace.of_stage().params_file), args.out))


if __name__ == "__main__":
    main()
    exit_without_teardown()

"""DVC stage `preprocess`: raw IDX files -> the train/val/test splits (uint8 pixels, digit
labels), and the test split written unlike MNIST (8x8, thick, thin, rotated, shifted)."""

import argparse
from pathlib import Path

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.preprocess import preprocess_stage, variants_stage


def preprocess(args: argparse.Namespace) -> dict[str, int]:
    sizes = preprocess_stage(load_params(Workspace.of_stage().params_file), args.raw, args.out)
    if args.variants is not None:
        sizes["test variants"] = variants_stage(args.out, args.variants)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="folder with the raw IDX files")
    parser.add_argument("--out", type=Path, required=True, help="folder for the processed splits")
    parser.add_argument("--variants", type=Path, help="folder for the test split's variants, one <name>.npy each")
    args = parser.parse_args()
    sizes = run_or_exit(lambda: preprocess(args))
    print("split sizes: " + ", ".join(f"{name}={size}" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
    exit_without_teardown()

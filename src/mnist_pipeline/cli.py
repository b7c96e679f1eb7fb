"""`mnist-pipeline`: project commands that are not pipeline stages."""

from __future__ import annotations

import argparse

from mnist_pipeline import params
from mnist_pipeline.stage import run_or_exit
from mnist_pipeline.workspace import repo_root


def _params(args: argparse.Namespace) -> None:
    root = repo_root()
    if args.check:
        print(run_or_exit(lambda: params.check(root)))
    else:
        path = run_or_exit(lambda: params.write(root, args.overrides))
        print(
            f"wrote {path.relative_to(root)} from conf/"
            + (f" with {' '.join(args.overrides)}" if args.overrides else "")
        )


def _runs(args: argparse.Namespace) -> None:
    from mnist_pipeline.runs_table import runs_report

    root = repo_root()
    print(run_or_exit(lambda: runs_report(root, args.sort, ascending=args.ascending, limit=args.limit)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description="mnist-pipeline project commands")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("params", help="write params.yaml from conf/ (DVC's view of the Hydra config)")
    p.add_argument("--check", action="store_true", help="only check that params.yaml matches conf/; exit 1 if not")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.units=64 (default: none)")
    p.set_defaults(func=_params)
    r = commands.add_parser("runs", help="print the experiment's training runs as a table, best first")
    r.add_argument("--sort", default="val_accuracy", help="metric to sort by (default: val_accuracy)")
    r.add_argument("--ascending", action="store_true", help="lowest first (for losses)")
    r.add_argument("--limit", type=int, default=None, help="show at most this many runs")
    r.set_defaults(func=_runs)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

"""`mnist-pipeline`: project commands that are not pipeline stages."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnist_pipeline.plumbing.entry import exit_without_teardown, run_or_exit
from mnist_pipeline.plumbing.verbosity import VERBOSE_ENV, be_verbose
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking.server import TRACKING_URI_ENV  # MLflow-free, as the parser must stay light


def _params(args: argparse.Namespace) -> None:
    from mnist_pipeline.stages import params  # Hydra and OmegaConf: not on the way to `predict`

    workspace = run_or_exit(Workspace.find)
    if args.check:
        print(run_or_exit(lambda: params.check(workspace, args.record)))
    else:
        path = run_or_exit(lambda: params.write(workspace, args.overrides))
        print(
            f"wrote {path.relative_to(workspace.root)} from conf/"
            + (f" with {' '.join(args.overrides)}" if args.overrides else "")
        )


def _runs(args: argparse.Namespace) -> None:
    from mnist_pipeline.tracking.runs_table import runs_report

    workspace = run_or_exit(Workspace.find)
    print(run_or_exit(lambda: runs_report(workspace, args.sort, ascending=args.ascending, limit=args.limit)))


def _ensemble(args: argparse.Namespace) -> None:
    from mnist_pipeline.stages.ensemble import ensemble_report

    workspace = run_or_exit(Workspace.find)
    print(run_or_exit(lambda: ensemble_report(workspace, args.runs)))


def _prune(args: argparse.Namespace) -> None:
    from mnist_pipeline.config import load_params
    from mnist_pipeline.tracking import registry

    workspace = run_or_exit(Workspace.find)
    config = run_or_exit(lambda: load_params(workspace.params_file))
    doomed = run_or_exit(
        lambda: registry.prune(config.registry, config.tracking, workspace, args.keep, dry_run=args.dry_run)
    )
    verb = "would delete" if args.dry_run else "deleted"
    for version in doomed:
        score = version.tags.get(config.registry.champion_metric, "?")
        print(
            f"{verb} {config.registry.model_name} version {version.version} "
            f"(run {version.run_id}, {config.registry.champion_metric} {score})"
        )
    versions = f"{len(doomed)} version{'' if len(doomed) == 1 else 's'}"
    print(f"{verb} {versions}; kept the champion and the newest {args.keep}")


def _migrate(args: argparse.Namespace) -> None:
    from mnist_pipeline.config import load_params
    from mnist_pipeline.tracking import migrate

    workspace = run_or_exit(Workspace.find)
    config = run_or_exit(lambda: load_params(workspace.params_file))
    source = migrate.source_uri(config, workspace, args.source)
    destination = run_or_exit(lambda: migrate.destination_uri(args.to))
    summary = run_or_exit(lambda: migrate.migrate(config, workspace, source, destination, say=print))
    print(summary.line())


def _plots_page(args: argparse.Namespace) -> None:
    from mnist_pipeline.plumbing.files import shown
    from mnist_pipeline.stages import plots_page

    workspace = run_or_exit(Workspace.find)
    path, written = run_or_exit(lambda: plots_page.write(workspace))
    print(f"{'wrote' if written else 'up to date:'} {shown(path)}: {plots_page.stamp()}")


def _predict(args: argparse.Namespace) -> None:
    from mnist_pipeline.predict import predictor

    files = predictor.image_files(args.images)
    if not files:
        print("error: no images in the given folders; give PNG, JPEG or BMP files", file=sys.stderr)
        raise SystemExit(1)
    load_model = run_or_exit(lambda: predictor.model_loader(args.model, keras=args.keras))
    results = run_or_exit(lambda: predictor.predict_files(load_model, files, args.save_preprocessed))
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for result in results:
            print(result.line(), file=sys.stderr if result.error else sys.stdout)
    if any(r.error for r in results):
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description="mnist-pipeline project commands")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"also show TensorFlow's start-up lines and Keras progress bars (as {VERBOSE_ENV}=1 does)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("params", help="write params.yaml from conf/ (DVC's view of the Hydra config)")
    p.add_argument("--check", action="store_true", help="only check that params.yaml matches conf/; exit 1 if not")
    p.add_argument(
        "--record", type=Path, help="with --check: write this file once params.yaml passes (dvc.yaml's check_params)"
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.units=64 (default: none)")
    p.set_defaults(func=_params)
    r = commands.add_parser("runs", help="print the experiment's training runs as a table, best first")
    r.add_argument("--sort", default="val_accuracy", help="metric to sort by (default: val_accuracy)")
    r.add_argument("--ascending", action="store_true", help="lowest first (for losses)")
    r.add_argument("--limit", type=int, default=None, help="show at most this many runs")
    r.set_defaults(func=_runs)
    e = commands.add_parser(
        "ensemble",
        help="score several training runs as one model (their test-set probabilities averaged)",
        description="Fetches each run's ONNX model from MLflow, scores the test set with each and with their "
        "averaged probabilities, and prints the test accuracies. Writes nothing.",
    )
    e.add_argument("runs", nargs="+", metavar="RUN", help="run ids, or their first characters (`mnist-pipeline runs`)")
    e.set_defaults(func=_ensemble)
    g = commands.add_parser("registry", help="look after the model registry (registry.model_name in params.yaml)")
    prune = g.add_subparsers(dest="action", required=True).add_parser(
        "prune",
        help="delete the model versions that are neither the champion nor among the newest N",
        description="Deletes registered versions of registry.model_name that are neither the `champion` "
        "nor among the newest --keep, printing each; the runs and their logged models stay.",
    )
    prune.add_argument("--keep", type=int, required=True, metavar="N", help="newest versions to keep (>= 0)")
    prune.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    prune.set_defaults(func=_prune)
    m = commands.add_parser(
        "migrate",
        help="copy this workspace's runs and registered model to a tracking server (a solo store to the team's)",
        description="Copies experiment tracking.experiment (runs with params, metric histories, tags, artifacts, "
        "logged models, sweep nesting) and registry.model_name (versions, aliases) from the local store to a "
        "tracking server, one line per run, version and alias. Safe to run again: what the server has is skipped, "
        "new local runs are copied, a copy cut short is redone. `champion` moves only to a better version.",
    )
    m.add_argument(
        "--to", metavar="URL", help=f"the tracking server, e.g. http://127.0.0.1:5000 (default: ${TRACKING_URI_ENV})"
    )
    m.add_argument(
        "--from",
        dest="source",
        metavar="URI",
        help="the store to copy from (default: tracking.uri if it is local, else the workspace's mlflow.db)",
    )
    m.set_defaults(func=_migrate)

    p = commands.add_parser(
        "plots-page",
        help="write the page `dvc plots show` fills in, with Vega inline (plots.html_template): charts draw offline",
    )
    p.set_defaults(func=_plots_page)

    p = commands.add_parser(
        "predict",
        help="predict the digit in image files (PNG, JPEG, BMP; any size, dark-on-light or light-on-dark)",
        description="Each image is turned into an MNIST-style 28x28 digit (grayscale, inverted if the "
        "background is light, cropped to the ink, fitted into 20x20, centred by centre of mass) and "
        "predicted. Exits 1 if any file could not be predicted; the others are still printed.",
    )
    p.add_argument("images", nargs="+", type=Path, help="image files, or folders of images")
    p.add_argument(
        "--model",
        help="a .onnx or .keras file, a folder with model.onnx (or model.keras, with --keras), or an MLflow "
        "model URI: models:/NAME@ALIAS, models:/NAME/VERSION, models:/MODEL_ID, runs:/RUN_ID/model "
        "(default: the train stage's models/model.onnx)",
    )
    p.add_argument(
        "--keras",
        action="store_true",
        help="in a model folder, run model.keras in TensorFlow instead of model.onnx in ONNX Runtime (seconds slower)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list: image, digit, probability (or error)")
    p.add_argument(
        "--save-preprocessed", type=Path, metavar="DIR", help="also write each 28x28 model input to DIR/<name>.png"
    )
    p.set_defaults(func=_predict)
    args = parser.parse_args(argv)
    if args.verbose:
        be_verbose()
    args.func(args)
    if argv is None:  # the command itself, not a call from Python: skip the teardown (entry.py says why)
        exit_without_teardown()


if __name__ == "__main__":
    main()

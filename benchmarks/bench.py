"""Benchmark the tracked pipeline against the plain Keras script it replaces.

    MNIST_MIRROR=../shared/mnist python benchmarks/bench.py --scaling   # what `make bench` runs

Works in a fresh clone of this repository's HEAD (in a temporary folder), on the real data
from $MNIST_MIRROR, and measures, one section each (benchmarks/sections/):

  pipeline  (a) the reference script (benchmarks/reference_script.py), (b) a cold `dvc repro`
            (raw data, outputs and the DVC cache removed, so every stage runs, from the
            download (local mirror) to evaluate, with MLflow tracking on) and (c) a no-op
            `dvc repro`, alternating, N times each after warm-up rounds; medians, ranges, the
            ratio (b)/(a) pair by pair, and each stage's wall time, peak RSS and MLflow share
            (from the stages' own profile records);
  edit      `dvc exp run -S train.epochs=<one more>` right after each round's repro, against
            that round's reference script, the ratio pair by pair;
  floor     the train stage's fit against the compute floor (the run's FLOPs at a matmul
            rate measured here), and the same training through `model.fit`;
  scaling   (--scaling) training time over data sizes and widths;
  predict   `mnist-pipeline predict`: one image in a cold process, a folder of MNIST test
            images as PNG files after start-up;
  serve     `mlflow models serve` on the champion, Keras and ONNX flavours: requests/s and
            p50/p99 latency under a bounded local load (one-image requests from 4 clients);
  sweep     a six-job Hydra sweep, sequential and on joblib's two workers, against the jobs'
            own training time, and where the rest goes;
  runs      `mnist-pipeline runs` in a cold process;
  cnn       (unless --no-cnn) the strong CNN's training time and test accuracy over three
            seeds, against the targets, and a picture of them beside the report.

The report goes to docs/benchmarks.md (--out). `--quick` shrinks every part to a smoke test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from measure import REPO, Bench, bench_env, machine, prepare_clone
from sections import cnn, edit, floor, pipeline, predict, runs_command, scaling, serve, sweep

SECTIONS = ("pipeline", "edit", "floor", "predict", "serve", "sweep", "runs", "cnn")  # in the order they run
NEED_PIPELINE = ("edit", "floor", "predict", "serve")  # measured on what the pipeline section trained


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="counted runs of each command, alternating (ratios are medians of these pairs)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first")
    parser.add_argument("--subset", type=int, default=None, help="train on N images (smoke tests only)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (smoke tests only)")
    parser.add_argument("--scaling", action="store_true", help="also time the train stage over data sizes and widths")
    parser.add_argument("--cnn-experiment", default="cnn", help="the conf/experiment/ overlay timed to accuracy")
    parser.add_argument("--no-cnn", action="store_true", help="skip the CNN's time to accuracy (minutes)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of {','.join(SECTIONS)} ({', '.join(NEED_PIPELINE)} need pipeline; tests pick some)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: --subset 1000 --epochs 1 unless given, few images, a two-job sweep, one CNN seed and epoch",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.subset = args.subset or 1000
        args.epochs = args.epochs or 1
    args.sections = {name for name in args.sections.split(",") if name}
    if args.no_cnn:
        args.sections.discard("cnn")
    if args.scaling:
        args.sections.add("scaling")
    unknown = args.sections - set(SECTIONS) - {"scaling"}
    if unknown or (args.sections & {*NEED_PIPELINE, "scaling"} and "pipeline" not in args.sections):
        parser.error(f"--sections: of {','.join(SECTIONS)}; {', '.join(NEED_PIPELINE)} and --scaling need pipeline")
    return args


def main() -> None:
    args = options()
    if not os.environ.get("MNIST_MIRROR"):
        raise SystemExit("set MNIST_MIRROR to a folder holding MNIST (mnist.npz and the *-ubyte.gz files)")
    env = bench_env()
    overrides: dict[str, dict[str, Any]] = {}
    if args.subset:
        overrides["data"] = {"subset": args.subset}
    if args.epochs:
        overrides["train"] = {"epochs": args.epochs}
    reference_cmd = (
        "python benchmarks/reference_script.py"
        + (f" --subset {args.subset}" if args.subset else "")
        + (f" --epochs {args.epochs}" if args.epochs else "")
    )
    picture = args.out.with_name(f"{args.out.stem}-cnn.png")
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        clone = prepare_clone(Path(tmp) / "repo", overrides, env)
        bench = Bench(clone, env, args.quick, args.runs, args.warmup, reference_cmd)
        sections = measure_sections(bench, args, picture)
    report = "\n\n".join("\n".join(lines) for lines in [header(args), *sections]) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def measure_sections(bench: Bench, args: argparse.Namespace, picture: Path) -> list[list[str]]:
    """The report's sections, each measured in the clone and rendered, in SECTIONS' order."""
    chosen, sections = args.sections, []
    reference_s = None
    if "pipeline" in chosen:
        experiment = edit.Experiment(bench) if "edit" in chosen else None
        piped = pipeline.measure(bench, experiment)
        reference_s = piped.reference_median_s()
        sections.append(pipeline.render(piped, bench.reference_cmd))
        if experiment is not None:
            sections.append(edit.render(piped, experiment.command))
        if "floor" in chosen:
            sections.append(floor.render(floor.measure(bench), piped.train_records()))
    if "scaling" in chosen:
        sections.append(scaling.render(scaling.measure(bench)))
    if "predict" in chosen:
        sections.append(predict.render(predict.measure(bench)))
    if "serve" in chosen:
        sections.append(serve.render(serve.measure(bench)))
    if "sweep" in chosen:
        sections.append(sweep.render(sweep.measure(bench)))
    if "runs" in chosen:
        sections.append(runs_command.render(runs_command.measure(bench)))
    if "cnn" in chosen:
        strong = cnn.measure(bench, args.cnn_experiment)
        picture.parent.mkdir(parents=True, exist_ok=True)
        cnn.plot(strong, picture)
        sections.append(cnn.render(strong, picture, reference_s))
    return sections


def header(args: argparse.Namespace) -> list[str]:
    smoke = f"; smoke settings: subset={args.subset}, epochs={args.epochs}" if args.subset or args.epochs else ""
    when = f"Measured {datetime.date.today().isoformat()} with `make bench`"
    return [
        "# Benchmarks",
        "",
        f"{when} ({args.runs} alternating rounds after {args.warmup} warm-up{smoke}).",
        "",
        f"Machine: {machine()}. Every figure below was measured on it, in this one run.",
    ]


if __name__ == "__main__":
    sys.exit(main())

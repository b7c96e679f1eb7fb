"""Benchmark the tracked pipeline against the plain Keras script it replaces.

    MNIST_MIRROR=../shared/mnist python benchmarks/bench.py            # what `make bench` runs

Works in a fresh clone of this repository's HEAD (in a temporary folder), on the real data
from $MNIST_MIRROR, and runs, alternating, N times each after one warm-up round:

  (a) the reference script (benchmarks/reference_script.py),
  (b) a cold `dvc repro`: raw data, outputs and the DVC cache removed, so every stage runs,
      from the download (local mirror) to evaluate, with MLflow tracking on,
  (c) a no-op `dvc repro` right after it.

It reports medians and ranges, the ratio (b)/(a) pair by pair, each stage's wall time,
peak RSS and MLflow share (from the stages' own profile records), the train stage's fit
time against the compute floor (the run's FLOPs at a matmul rate measured here), test
accuracies, `mnist-pipeline predict` on the trained model (one image in a cold process, and
a folder of MNIST test images as PNG files, after start-up), and optionally how training time
scales with data size and width. The table goes to docs/benchmarks.md. `--quick` shrinks every
part to a smoke test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PROFILE_ENV = "MNIST_PIPELINE_PROFILE"
STAGES = ("download", "preprocess", "train", "evaluate")
MODEL_SHAPE = "the model's first layer (64x784 @ 784x128)"
COLD_PATHS = ("data/raw", "data/processed", "models", "reports", ".dvc/cache", ".dvc/tmp")
PREDICT_FOLDER = 10_000  # PNG files predicted at once (all of MNIST's test images)
PREDICT_RUNS = 5  # cold one-image runs (the median is reported)


@dataclass
class Measure:
    wall_s: float
    peak_rss_mib: float
    output: str
    profile: list[dict[str, Any]] = field(default_factory=list)


def measured(cmd: str, cwd: Path, env: dict[str, str]) -> Measure:
    """Run `cmd`; wall time and the peak RSS of the largest process in its tree (wait4)."""
    profile = cwd / ".bench-profile.jsonl"
    profile.unlink(missing_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            shlex.split(cmd), cwd=cwd, env={**env, PROFILE_ENV: str(profile)}, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {cmd}\n{text[-3000:]}")
    records = [json.loads(line) for line in profile.read_text().splitlines()] if profile.exists() else []
    return Measure(wall, usage.ru_maxrss / 1024, text, records)


def prepare_clone(dest: Path, overrides: dict[str, dict[str, Any]], env: dict[str, str]) -> Path:
    """A fresh clone of HEAD; `overrides` are written into conf/config.yaml (which wins over groups)."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    if overrides:
        root_conf = dest / "conf" / "config.yaml"
        root_conf.write_text(root_conf.read_text() + "\n" + yaml.safe_dump(overrides))
        subprocess.run(["mnist-pipeline", "params"], cwd=dest, env=env, check=True, capture_output=True)
    return dest


def cold_repro(clone: Path, env: dict[str, str]) -> Measure:
    for path in COLD_PATHS:
        shutil.rmtree(clone / path, ignore_errors=True)
    return measured("dvc repro", clone, env)


def stage_command(clone: Path, stage: str) -> str:
    return " ".join(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"][stage]["cmd"].split())


def run_stage(clone: Path, stage: str, overrides: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One stage exactly as dvc.yaml runs it, on params.yaml composed with `overrides`."""
    subprocess.run(["mnist-pipeline", "params", *overrides], cwd=clone, env=env, check=True, capture_output=True)
    return measured(stage_command(clone, stage), clone, env).profile[-1]


@dataclass
class PredictFigures:
    one_image_s: list[float]  # cold `mnist-pipeline predict one.png`, ONNX Runtime (the default)
    one_image_keras_s: list[float]  # the same with --keras (TensorFlow)
    folder_images: int
    folder_s: float  # the whole command on the folder
    correct: int  # of folder_images, read as their MNIST label


def predict_figures(clone: Path, env: dict[str, str], quick: bool) -> PredictFigures:
    """`mnist-pipeline predict` on the clone's trained model: MNIST test images written as PNG
    files, as a user would hand them over (dark digits on white, so each is inverted back)."""
    import numpy as np
    from PIL import Image

    images = np.load(clone / "data" / "processed" / "x_test.npy")
    labels = np.load(clone / "data" / "processed" / "y_test.npy")
    count = 500 if quick else min(PREDICT_FOLDER, len(images))
    folder = clone / ".bench-predict"
    folder.mkdir(exist_ok=True)
    for index in range(count):
        Image.fromarray(255 - images[index]).save(folder / f"{index:05d}.png")
    one = str(folder / "00000.png")
    runs = 1 if quick else PREDICT_RUNS
    cold = [measured(f"mnist-pipeline predict {one}", clone, env).wall_s for _ in range(runs)]
    keras = [measured(f"mnist-pipeline predict {one} --keras", clone, env).wall_s for _ in range(0 if quick else runs)]
    whole = measured(f"mnist-pipeline predict {folder}", clone, env)
    digits = [int(line.rsplit(": ", 1)[1].split()[0]) for line in whole.output.splitlines() if " (p=" in line]
    correct = sum(int(digit == label) for digit, label in zip(digits, labels, strict=False))
    return PredictFigures(cold, keras, count, whole.wall_s, correct)


def predict_lines(figures: PredictFigures) -> list[str]:
    """The prediction section of the report: throughput counts from the end of a one-image run's
    start-up (the folder's wall less the median one-image wall)."""
    start_up = statistics.median(figures.one_image_s)
    rate = (figures.folder_images - 1) / max(figures.folder_s - start_up, 1e-9)
    keras = f"{spread(figures.one_image_keras_s)} s" if figures.one_image_keras_s else "not measured (--quick)"
    return [
        "",
        "## Prediction",
        "",
        "`mnist-pipeline predict` on the trained model's ONNX export (ONNX Runtime, the default), each run a "
        "fresh process; the images are MNIST test images saved as PNG files (dark on white).",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| one image, cold process, end to end (runs: {len(figures.one_image_s)}) "
        f"| **{spread(figures.one_image_s)} s** |",
        f"| the same with `--keras` (TensorFlow) | {keras} |",
        f"| a folder of {figures.folder_images} PNG files, whole command | {figures.folder_s:.2f} s |",
        f"| the folder after start-up (image preparation included) | **{rate:.0f} images/s** |",
        f"| digits read as their MNIST label | {figures.correct / figures.folder_images:.4f} |",
    ]


def accuracy_of_reference(output: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith("test_accuracy="))
    return float(line.split()[0].split("=")[1])


MATMUL_RATE = """
import json, sys, time
import tensorflow as tf
threads, m, k, n = map(int, sys.argv[1:])
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
a, b = tf.random.normal((m, k)), tf.random.normal((k, n))
repeat = max(1, int(2e10 // (2 * m * k * n)))
tf.linalg.matmul(a, b).numpy()
best = 0.0
for _ in range(5):
    start = time.perf_counter()
    for _ in range(repeat):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    best = max(best, repeat * 2 * m * k * n / (time.perf_counter() - start) / 1e9)
print(json.dumps(best))
"""


def matmul_gflops(threads: int = 0, shape: tuple[int, int, int] = (2048, 2048, 2048)) -> float:
    """Best fp32 matmul rate TensorFlow reaches here for (m x k) @ (k x n), with `threads`
    intra-op threads (0: all cores); in a process of its own, as thread pools are set once."""
    done = subprocess.run(
        [sys.executable, "-c", MATMUL_RATE, str(threads), *map(str, shape)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def mlp_training_gflop(units: int, train_size: int, val_size: int, epochs: int) -> float:
    """Dense-layer FLOPs: forward 2 x MACs per image, training 3 x forward, validation forward only."""
    macs = 28 * 28 * units + units * 10
    return 2 * macs * (3 * train_size + val_size) * epochs / 1e9


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ("tensorflow-cpu", "tensorflow", "keras", "mlflow", "dvc", "numpy")
    versions = ", ".join(f"{p} {_version(p)}" for p in packages if _version(p))
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {system}; {versions}"


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="counted runs of each command (alternating)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first")
    parser.add_argument("--subset", type=int, default=None, help="train on N images (smoke tests only)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (smoke tests only)")
    parser.add_argument("--scaling", action="store_true", help="also time the train stage over data sizes and widths")
    parser.add_argument("--quick", action="store_true", help="smoke test: few images and runs for the predict figures")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not os.environ.get("MNIST_MIRROR"):
        raise SystemExit("set MNIST_MIRROR to a folder holding MNIST (mnist.npz and the *-ubyte.gz files)")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
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

    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        clone = prepare_clone(Path(tmp) / "repo", overrides, env)
        for _ in range(args.warmup):
            print(f"warming up in {clone} ...", file=sys.stderr)
            measured(reference_cmd, clone, env)
            cold_repro(clone, env)
        rounds = []
        for i in range(args.runs):
            reference = measured(reference_cmd, clone, env)
            cold = cold_repro(clone, env)
            noop = measured("dvc repro", clone, env)
            rounds.append((reference, cold, noop))
            walls = f"reference {reference.wall_s:.2f}s, cold repro {cold.wall_s:.2f}s, no-op {noop.wall_s:.2f}s"
            print(f"round {i + 1}/{args.runs}: {walls}", file=sys.stderr)
        metrics = json.loads((clone / "reports" / "metrics.json").read_text())
        params = yaml.safe_load((clone / "params.yaml").read_text())
        train_size = _split_size(clone, "train")
        val_size = _split_size(clone, "val")
        scaling = scaling_rows(clone, env) if args.scaling else []
        predicting = predict_figures(clone, env, args.quick)
        keras_loop = run_stage(clone, "train", ["train.loop=keras"], env)
        subprocess.run(["mnist-pipeline", "params"], cwd=clone, env=env, check=True, capture_output=True)
    rate = matmul_gflops()
    rates = {"2048x2048": matmul_gflops(1), MODEL_SHAPE: matmul_gflops(1, (64, 784, 128))}
    flop = mlp_training_gflop(params["model"]["units"], train_size, val_size, params["train"]["epochs"])
    report = render(rounds, metrics, (rate, rates), flop, (scaling, keras_loop), args, reference_cmd)
    report += "\n".join(predict_lines(predicting)) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def _split_size(clone: Path, split: str) -> int:
    import numpy as np

    return int(np.load(clone / "data" / "processed" / f"y_{split}.npy", mmap_mode="r").shape[0])


def scaling_rows(clone: Path, env: dict[str, str]) -> list[tuple[str, int, int, float, float]]:
    """(what varied, training images, units, train-stage wall, fit seconds) on full epochs."""
    rows = []
    for subset in (7_500, 30_000, 60_000):  # 80 % of each is trained on: 6k, 24k, 48k
        run_stage(clone, "preprocess", [f"data.subset={subset}"], env)
        record = run_stage(clone, "train", [f"data.subset={subset}"], env)
        rows.append(("data size", int(subset * 0.8), 128, record["wall_s"], record["phases_s"]["fit"]))
    for units in (64, 256, 512, 1024):
        record = run_stage(clone, "train", [f"model.units={units}"], env)
        rows.append(("width", 48_000, units, record["wall_s"], record["phases_s"]["fit"]))
    return rows


def render(
    rounds: list[tuple[Measure, Measure, Measure]],
    metrics: dict[str, Any],
    rates: tuple[float, dict[str, float]],
    flop: float,
    extra_runs: tuple[list, dict[str, Any]],
    args: argparse.Namespace,
    reference_cmd: str,
) -> str:
    reference = [r.wall_s for r, _, _ in rounds]
    cold = [c.wall_s for _, c, _ in rounds]
    noop = [n.wall_s for _, _, n in rounds]
    ratios = [c / r for r, c in zip(reference, cold, strict=True)]
    by_stage: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    for _, c, _ in rounds:
        for record in c.profile:
            by_stage.setdefault(record["stage"], []).append(record)
    fit = [r["phases_s"]["fit"] for r in by_stage["train"]]
    rate, other_rates = rates
    floor = flop / rate
    scaling, keras_loop = extra_runs
    reference_accuracy = accuracy_of_reference(rounds[-1][0].output)
    smoke = f"; smoke settings: subset={args.subset}, epochs={args.epochs}" if args.subset or args.epochs else ""
    when = f"Measured {datetime.date.today().isoformat()} with `make bench`"
    peaks = [spread([m.peak_rss_mib for m in column], 0) for column in zip(*rounds, strict=True)]
    lines = [
        "# Benchmarks",
        "",
        f"{when} ({args.runs} alternating rounds after {args.warmup} warm-up{smoke}).",
        "",
        f"Machine: {machine()}.",
        "",
        "## Pipeline against the reference script",
        "",
        "Wall seconds, median (min-max) over the rounds; the ratio is taken pair by pair.",
        "",
        "| what | wall s | peak RSS MiB (largest process) |",
        "| --- | --- | --- |",
        f"| (a) reference script `{reference_cmd}` | {spread(reference)} | {peaks[0]} |",
        f"| (b) cold `dvc repro` (mirror download through evaluate, MLflow on) | {spread(cold)} | {peaks[1]} |",
        f"| (c) no-op `dvc repro` | {spread(noop)} | {peaks[2]} |",
        f"| **(b)/(a)** per pair: {', '.join(f'{x:.2f}' for x in ratios)} | **{statistics.median(ratios):.2f}** | |",
        "",
        f"Test accuracy: reference {reference_accuracy:.4f}, pipeline {metrics['test_accuracy']:.4f}.",
        "",
        "## Inside the cold `dvc repro`",
        "",
        "Each stage's own profile record (wall time counts from process start, imports included).",
        "MLflow s is its import and calls; the train stage makes them on a thread of its own",
        "beside training, so what it costs that stage is the time it waited for them.",
        "",
        "| stage | wall s | peak RSS MiB | MLflow s (import + calls) | stage waited for MLflow s | share of the stage "
        "| TensorFlow loaded |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, records in by_stage.items():
        if not records:
            continue
        walls = [r["wall_s"] for r in records]
        mlflow = [r["phases_s"].get("import_mlflow", 0.0) + r["phases_s"].get("mlflow", 0.0) for r in records]
        waited = [r["phases_s"].get("mlflow_wait", m) for r, m in zip(records, mlflow, strict=True)]
        share = statistics.median(m / w for m, w in zip(waited, walls, strict=True))
        rss = spread([r["peak_rss_mib"] for r in records], 0)
        tensorflow = "yes" if records[0]["tensorflow_loaded"] else "no"
        lines.append(
            f"| {stage} | {spread(walls)} | {rss} | {spread(mlflow)} | {spread(waited)} | {share:.0%} | {tensorflow} |"
        )
    stage_total = statistics.median(sum(r["wall_s"] for r in c.profile) for _, c, _ in rounds)
    lines += [
        "",
        f"Stages add up to {stage_total:.2f} s of the cold repro's {statistics.median(cold):.2f} s; "
        "the rest is DVC itself (start-up, hashing outputs, filling its cache).",
        "",
        "## Training against the compute floor",
        "",
        f"- Matmul rate measured here (TensorFlow, fp32, 2048x2048, all cores): **{rate:.0f} GFLOP/s**.",
        f"- FLOPs of the run (dense layers; training 3x forward, validation forward): {flop:.1f} GFLOP, "
        f"so the floor is **{floor:.2f} s**.",
        f"- Training in the train stage (`train.loop: fused`, the default): **{spread(fit)} s** = "
        f"**{statistics.median(fit) / floor:.1f}x** the floor.",
        f"- The same training through Keras' `model.fit` (`train.loop=keras`, one run): "
        f"{keras_loop['phases_s']['fit']:.2f} s = {keras_loop['phases_s']['fit'] / floor:.1f}x the floor.",
        "- Training runs on one thread (`train.intra_op_threads: 1`, the fastest setting measured). Rates on "
        "one thread: "
        + ", ".join(f"{what} {value:.0f} GFLOP/s" for what, value in other_rates.items())
        + f"; at the latter rate the run's FLOPs alone take {flop / other_rates[MODEL_SHAPE]:.2f} s.",
    ]
    if scaling:
        lines += [
            "",
            "## Scaling of the train stage",
            "",
            "| varied | training images | units | train stage wall s | fit s |",
            "| --- | --- | --- | --- | --- |",
            *(f"| {what} | {n} | {units} | {wall:.2f} | {fit_s:.2f} |" for what, n, units, wall, fit_s in scaling),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

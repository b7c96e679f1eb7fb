"""The strong CNN's time to accuracy: `+experiment=<name>` trained for several seeds, each
through the pipeline's own stages (preprocess, train, evaluate, as dvc.yaml runs them) on
params.yaml composed with the experiment and the seed: the train stage's fit (its profile
record), the test accuracy (reports/metrics.json), and each epoch's validation accuracy at the
training seconds elapsed by its end (the run's MLflow metrics); a picture of them all."""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from measure import Bench, measured, run_epochs, spread, stage_command, verdict, write_params
from mnist_pipeline.plumbing.workspace import PROBABILITIES_FILE, ROBUSTNESS_FILE
from mnist_pipeline.stages.ensemble import ensemble_accuracy  # what `mnist-pipeline ensemble` reports

SEEDS = (1, 2, 3)
STAGES = ("preprocess", "train", "evaluate")
TARGET_VARIANT_ACCURACY = 0.97  # on each of the evaluate stage's test-set variants


@dataclass(frozen=True)
class Target:
    accuracy: float  # test accuracy, median over the seeds, at least
    training_s: float  # training seconds, median over the seeds, at most
    reference_ratio: float | None = None  # the same time target against this machine's reference script


TARGETS = {
    # 60 s was about 5x the reference script's whole run where the target was set, so on
    # another machine the training is also held to 5x that run.
    "cnn": Target(accuracy=0.995, training_s=60.0, reference_ratio=5.0),
    "best": Target(accuracy=0.996, training_s=20 * 60.0),
}


@dataclass
class Cnn:
    experiment: str
    overrides: list[str]  # besides the seed
    rows: list[tuple[int, float, float]]  # (seed, training seconds, test accuracy)
    ensemble_accuracy: float  # of the seeds' test probabilities averaged
    variants: list[dict[str, float]]  # each seed's robustness.json: accuracy per test-set variant
    epochs: list[list[dict[str, float]]]  # each seed's epochs: elapsed_seconds, val_accuracy


def measure(bench: Bench, experiment: str) -> Cnn:
    """--quick: one seed, one epoch, on the clone's subset."""
    seeds = SEEDS[:1] if bench.quick else SEEDS
    overrides = [f"+experiment={experiment}", *(["train.epochs=1"] if bench.quick else [])]
    rows = []
    probabilities = []
    variants = []
    epochs = []
    measured(stage_command(bench.clone, "download"), bench.clone, bench.env)  # if no section before did
    for seed in seeds:
        write_params(bench.clone, [*overrides, f"train.seed={seed}"], bench.env)
        records = [measured(stage_command(bench.clone, stage), bench.clone, bench.env).profile[-1] for stage in STAGES]
        fit = records[STAGES.index("train")]["phases_s"]["fit"]
        accuracy = json.loads((bench.clone / "reports" / "metrics.json").read_text())["test_accuracy"]
        print(f"+experiment={experiment} seed {seed}: fit {fit:.2f}s, test accuracy {accuracy:.4f}", file=sys.stderr)
        rows.append((seed, fit, accuracy))
        probabilities.append(np.load(bench.clone / "models" / PROBABILITIES_FILE))
        variants.append(json.loads((bench.clone / "reports" / ROBUSTNESS_FILE).read_text()))
        epochs.append(run_epochs(bench.clone, bench.env))
    labels = np.load(bench.clone / "data" / "processed" / "y_test.npy")
    write_params(bench.clone, [], bench.env)
    return Cnn(experiment, overrides, rows, ensemble_accuracy(probabilities, labels), variants, epochs)


def plot(result: Cnn, path: Path) -> None:
    """Each seed's validation accuracy against training seconds, epoch by epoch, ending in a
    point for its test accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, target = result.rows, TARGETS.get(result.experiment)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (seed, seconds, accuracy), epochs, color in zip(rows, result.epochs, plt.cm.tab10.colors, strict=False):
        elapsed = [e["elapsed_seconds"] for e in epochs]
        axes.plot(elapsed, [e["val_accuracy"] for e in epochs], marker=".", color=color, label=f"seed {seed}")
        axes.scatter([seconds], [accuracy], marker="*", s=90, color=color, zorder=3)
    axes.scatter([], [], marker="*", color="grey", label="test accuracy, end of training")
    if target is not None:
        axes.axhline(target.accuracy, color="tab:green", linestyle="--", label=f"target accuracy {target.accuracy}")
        axes.axvline(
            target.training_s, color="tab:red", linestyle="--", label=f"target training {target.training_s:.0f} s"
        )
    axes.set_xlabel("training seconds (fit)")
    axes.set_ylabel("validation accuracy, each epoch")
    axes.set_title(f"+experiment={result.experiment}: accuracy against training time")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def render(result: Cnn, picture: Path, reference_s: float | None = None) -> list[str]:
    """`reference_s`: the reference script's median wall in this run (the pipeline section), if measured."""
    rows, target = result.rows, TARGETS.get(result.experiment)
    seconds = [r[1] for r in rows]
    accuracy = [r[2] for r in rows]
    return [
        f"## Time to accuracy: `+experiment={result.experiment}`",
        "",
        f"`{' '.join(result.overrides)} train.seed=<seed>`, through the pipeline's stages (preprocess, train, "
        "evaluate) as `dvc repro` runs them: each seed's fit (the train stage's `fit` phase, which MLflow "
        "records as `train_seconds`) and its test accuracy.",
        "",
        "| seed | training s | test accuracy |",
        "| --- | --- | --- |",
        *(f"| {seed} | {s:.2f} | {a:.4f} |" for seed, s, a in rows),
        f"| **median (min-max)** | **{spread(seconds)}** | **{spread(accuracy, 4)}** |",
        "",
        target_line(target, statistics.median(accuracy), statistics.median(seconds)),
        "",
        *relative_lines(target, statistics.median(accuracy), statistics.median(seconds), reference_s),
        f"The {len(rows)} runs as an ensemble (their test probabilities averaged): test accuracy "
        f"**{result.ensemble_accuracy:.4f}**.",
        "",
        *variant_lines(result.variants),
        "",
        *epoch_lines(result.epochs),
        "",
        f"![validation accuracy against training time, epoch by epoch, for each seed]({picture.name})",
    ]


def epoch_lines(epochs: list[list[dict[str, float]]]) -> list[str]:
    """The accuracy-against-training-time curve as a table: per epoch, over the seeds."""
    return [
        "Accuracy against training time, epoch by epoch: the validation split's accuracy (images held out "
        "of training) at each epoch's end, and the training seconds elapsed by then, median (min-max) over "
        "the seeds. The learning rate decays over the whole run, so an epoch midway scores lower than a "
        "shorter run ending there would.",
        "",
        "| epoch | training s elapsed | validation accuracy |",
        "| --- | --- | --- |",
        *(
            f"| {number} | {spread([e['elapsed_seconds'] for e in row])} | "
            f"{spread([e['val_accuracy'] for e in row], 4)} |"
            for number, row in enumerate(zip(*epochs, strict=True), start=1)
        ),
    ]


def target_line(target: Target | None, accuracy: float, seconds: float) -> str:
    if target is None:
        return "No target is set for this experiment."
    ok = accuracy >= target.accuracy and seconds <= target.training_s
    return (
        f"Target: test accuracy >= {target.accuracy} with <= {target.training_s:.0f} s of training, on the "
        f"median: {verdict(ok)}."
    )


def relative_lines(target: Target | None, accuracy: float, seconds: float, reference_s: float | None) -> list[str]:
    """The time target against this machine's reference script (the pipeline section's)."""
    if reference_s is None or target is None or target.reference_ratio is None:
        return []
    ratio = seconds / reference_s
    ok = accuracy >= target.accuracy and ratio <= target.reference_ratio
    return [
        f"Against this machine: the median training is **{ratio:.2f}x** the reference script's whole run "
        f"({reference_s:.2f} s, median, in this benchmark); target >= {target.accuracy} with <= "
        f"{target.reference_ratio:.0f}x: {verdict(ok)}.",
        "",
    ]


def variant_lines(variants: list[dict[str, float]]) -> list[str]:
    """The evaluate stage's accuracy on each test-set variant (robustness.json), median over the seeds."""
    names = list(variants[0])
    medians = [statistics.median(v[name] for v in variants) for name in names]
    ok = min(medians) >= TARGET_VARIANT_ACCURACY
    return [
        "On the test set's variants written unlike MNIST (README, Digits written unlike MNIST), median over the seeds:",
        "",
        "| " + " | ".join(names) + " |",
        "| " + " | ".join("---" for _ in names) + " |",
        "| " + " | ".join(f"{m:.4f}" for m in medians) + " |",
        "",
        f"Target: >= {TARGET_VARIANT_ACCURACY} on each: {verdict(ok)}.",
    ]

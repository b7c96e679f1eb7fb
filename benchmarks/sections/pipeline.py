"""(a) the reference script, (b) a cold `dvc repro`, (c) a no-op `dvc repro`, alternating;
and each stage's profile inside the cold repro."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from measure import Bench, Measure, cold_repro, measured, ratio_row, spread

STAGES = ("check_params", "download", "preprocess", "train", "evaluate")
PROCESS_STAGE = {"mnist-pipeline": "check_params"}  # profile records are named after the process


@dataclass
class Pipeline:
    rounds: list[tuple[Measure, Measure, Measure]]
    metrics: dict[str, Any]
    after: list[Measure]  # per round, what `after_repro` measured (the edit section's experiment)

    def reference_median_s(self) -> float:
        """The reference script's median wall over the rounds."""
        return statistics.median(reference.wall_s for reference, _, _ in self.rounds)

    def train_records(self) -> list[dict[str, Any]]:
        return [record for _, cold, _ in self.rounds for record in cold.profile if record["stage"] == "train"]


def measure(bench: Bench, after_repro: Callable[[], Measure] | None = None) -> Pipeline:
    """Rounds of (a), (b), (c), then `after_repro` (which must leave the repro's params.yaml and
    dvc.lock as it found them), each round's commands one after another; the outputs of the
    last repro are checked out at the end."""
    for _ in range(bench.warmup):
        print(f"warming up in {bench.clone} ...", file=sys.stderr)
        measured(bench.reference_cmd, bench.clone, bench.env)
        cold_repro(bench.clone, bench.env)
    rounds, after = [], []
    for i in range(bench.runs):
        reference = measured(bench.reference_cmd, bench.clone, bench.env)
        cold = cold_repro(bench.clone, bench.env)
        noop = measured("dvc repro", bench.clone, bench.env)
        rounds.append((reference, cold, noop))
        walls = f"reference {reference.wall_s:.2f}s, cold repro {cold.wall_s:.2f}s, no-op {noop.wall_s:.2f}s"
        if after_repro is not None:
            after.append(after_repro())
            walls += f", then {after[-1].wall_s:.2f}s"
        print(f"round {i + 1}/{bench.runs}: {walls}", file=sys.stderr)
    subprocess.run(["dvc", "checkout", "--force"], cwd=bench.clone, env=bench.env, check=True, capture_output=True)
    metrics = json.loads((bench.clone / "reports" / "metrics.json").read_text())
    return Pipeline(rounds, metrics, after)


def accuracy_of_reference(output: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith("test_accuracy="))
    return float(line.split()[0].split("=")[1])


def stage_rows(profiles: list[list[dict[str, Any]]]) -> list[str]:
    """One table row per stage over several runs' profile records: wall, RSS, MLflow's share."""
    by_stage: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    for profile in profiles:
        for record in profile:
            by_stage.setdefault(PROCESS_STAGE.get(record["stage"], record["stage"]), []).append(record)
    rows = []
    for stage, records in by_stage.items():
        if not records:
            continue
        walls = [r["wall_s"] for r in records]
        mlflow = [r["phases_s"].get("import_mlflow", 0.0) + r["phases_s"].get("mlflow", 0.0) for r in records]
        waited = [r["phases_s"].get("mlflow_wait", m) for r, m in zip(records, mlflow, strict=True)]
        share = statistics.median(m / w for m, w in zip(waited, walls, strict=True))
        rss = spread([r["peak_rss_mib"] for r in records], 0)
        tensorflow = "yes" if records[0]["tensorflow_loaded"] else "no"
        rows.append(
            f"| {stage} | {spread(walls)} | {rss} | {spread(mlflow)} | {spread(waited)} | {share:.0%} | {tensorflow} |"
        )
    return rows


STAGE_TABLE_HEAD = [
    "| stage | wall s | peak RSS MiB | MLflow s (import + calls) | stage waited for MLflow s | share of the stage "
    "| TensorFlow loaded |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]


def render(result: Pipeline, reference_cmd: str) -> list[str]:
    rounds = result.rounds
    reference = [r.wall_s for r, _, _ in rounds]
    cold = [c.wall_s for _, c, _ in rounds]
    noop = [n.wall_s for _, _, n in rounds]
    ratios = [c / r for r, c in zip(reference, cold, strict=True)]
    peaks = [spread([m.peak_rss_mib for m in column], 0) for column in zip(*rounds, strict=True)]
    stage_total = statistics.median(sum(r["wall_s"] for r in c.profile) for _, c, _ in rounds)
    reference_accuracy = accuracy_of_reference(rounds[-1][0].output)
    return [
        "## Pipeline against the reference script",
        "",
        "Wall seconds, median (min-max) over the rounds; the ratio is taken pair by pair.",
        "",
        "| what | wall s | peak RSS MiB (largest process) |",
        "| --- | --- | --- |",
        f"| (a) reference script `{reference_cmd}` | {spread(reference)} | {peaks[0]} |",
        f"| (b) cold `dvc repro` (mirror download through evaluate, MLflow on) | {spread(cold)} | {peaks[1]} |",
        f"| (c) no-op `dvc repro` | {spread(noop)} | {peaks[2]} |",
        ratio_row("(b)/(a)", ratios),
        "",
        f"Test accuracy: reference {reference_accuracy:.4f}, pipeline {result.metrics['test_accuracy']:.4f}.",
        "",
        "## Inside the cold `dvc repro`",
        "",
        "Each stage's own profile record (wall time counts from process start, imports included).",
        "MLflow s is its import and calls; the train stage makes them on a thread of its own",
        "beside training, so what it costs that stage is the time it waited for them.",
        "",
        *STAGE_TABLE_HEAD,
        *stage_rows([c.profile for _, c, _ in rounds]),
        "",
        f"Stages add up to {stage_total:.2f} s of the cold repro's {statistics.median(cold):.2f} s; "
        "the rest is DVC itself (start-up, hashing outputs, filling its cache).",
    ]

"""The edit-one-parameter round trip: `dvc exp run -S train.epochs=<one more>` right after each
round's completed repro, against that round's reference script (sections/pipeline.py)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import yaml

from measure import Bench, Measure, measured, ratio_row, spread, verdict
from sections.pipeline import STAGE_TABLE_HEAD, Pipeline, stage_rows

TARGET = 0.7  # the experiment's wall over the reference script's (issue 13)
RESTORED = ("params.yaml", "dvc.lock")


@dataclass
class Experiment:
    """One experiment per call, from the completed repro, which it leaves as it found it.

    The round's cold repro emptied DVC's cache, its run cache included (which would otherwise
    restore an earlier round's training instead of running it), so every experiment trains
    and evaluates anew, as a value never tried before does.
    """

    bench: Bench

    @property
    def command(self) -> str:
        epochs = yaml.safe_load((self.bench.clone / "params.yaml").read_text())["train"]["epochs"]
        return f"dvc exp run -S train.epochs={epochs + 1}"

    def __call__(self) -> Measure:
        clone = self.bench.clone
        saved = {name: (clone / name).read_bytes() for name in RESTORED}
        done = measured(self.command, clone, self.bench.env)
        for name, text in saved.items():
            (clone / name).write_bytes(text)
        return done


def render(result: Pipeline, command: str) -> list[str]:
    pairs = [(reference, experiment) for (reference, _, _), experiment in zip(result.rounds, result.after, strict=True)]
    reference = [r.wall_s for r, _ in pairs]
    experiment = [e.wall_s for _, e in pairs]
    ratios = [e / r for r, e in zip(reference, experiment, strict=True)]
    stage_total = statistics.median(sum(r["wall_s"] for r in e.profile) for _, e in pairs)
    return [
        "## Edit one parameter",
        "",
        f"`{command}` right after each round's completed `dvc repro` (train and evaluate run again, the",
        "processed data is reused), against the same round's reference script (a); the ratio is taken pair by pair.",
        "",
        "| what | wall s | peak RSS MiB (largest process) |",
        "| --- | --- | --- |",
        f"| (a) reference script | {spread(reference)} | {spread([r.peak_rss_mib for r, _ in pairs], 0)} |",
        f"| (d) `{command}` | {spread(experiment)} | {spread([e.peak_rss_mib for _, e in pairs], 0)} |",
        ratio_row("(d)/(a)", ratios),
        "",
        f"Target (d)/(a) <= {TARGET}: {verdict(statistics.median(ratios) <= TARGET)}. The stages that ran, "
        "from their profile records:",
        "",
        *STAGE_TABLE_HEAD,
        *stage_rows([e.profile for _, e in pairs]),
        "",
        f"Stages add up to {stage_total:.2f} s of the experiment's {statistics.median(experiment):.2f} s; "
        "the rest is DVC (start-up, composing params.yaml from conf/, hashing, the experiment's commit).",
    ]

"""`mnist-pipeline runs` (the table of training runs) in a cold process, on the clone's
store after everything before it ran."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from measure import Bench, measured, spread, verdict

RUNS = 5
TARGET_S = 1.0


@dataclass
class RunsCommand:
    walls: list[float]
    lines: int  # of its output: the runs listed


def measure(bench: Bench) -> RunsCommand:
    done = [measured("mnist-pipeline runs", bench.clone, bench.env) for _ in range(2 if bench.quick else RUNS)]
    return RunsCommand([d.wall_s for d in done], len(done[-1].output.strip().splitlines()))


def render(result: RunsCommand) -> list[str]:
    median = statistics.median(result.walls)
    return [
        "## The runs table",
        "",
        f"`mnist-pipeline runs`, each a fresh process, on the store the benchmark filled ({result.lines} lines "
        "of output).",
        "",
        "| what | wall s |",
        "| --- | --- |",
        f"| `mnist-pipeline runs`, cold process (runs: {len(result.walls)}) | **{spread(result.walls)}** |",
        "",
        f"Target median <= {TARGET_S:.1f} s: {verdict(median <= TARGET_S)}.",
    ]

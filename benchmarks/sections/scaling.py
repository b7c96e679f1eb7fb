"""How the train stage's time scales with data size and width (`--scaling`)."""

from __future__ import annotations

from measure import Bench, run_stage, write_params

Row = tuple[str, int, int, float, float]  # what varied, training images, units, train-stage wall, fit s


def measure(bench: Bench) -> list[Row]:
    """Full epochs; 80 % of each subset is trained on: 6k, 24k, 48k."""
    clone, env = bench.clone, bench.env
    rows = []
    for subset in (7_500, 30_000, 60_000):
        run_stage(clone, "preprocess", [f"data.subset={subset}"], env)
        record = run_stage(clone, "train", [f"data.subset={subset}"], env)
        rows.append(("data size", int(subset * 0.8), 128, record["wall_s"], record["phases_s"]["fit"]))
    for units in (64, 256, 512, 1024):
        record = run_stage(clone, "train", [f"model.units={units}"], env)
        rows.append(("width", 48_000, units, record["wall_s"], record["phases_s"]["fit"]))
    write_params(clone, [], env)
    return rows


def render(rows: list[Row]) -> list[str]:
    return [
        "## Scaling of the train stage",
        "",
        "| varied | training images | units | train stage wall s | fit s |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {what} | {n} | {units} | {wall:.2f} | {fit_s:.2f} |" for what, n, units, wall, fit_s in rows),
    ]

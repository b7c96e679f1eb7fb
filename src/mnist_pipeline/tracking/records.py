"""Runs as plain data, and the tag and alias names they are read by; MLflow-free, so that
`mnist-pipeline runs` can list a local store without importing MLflow (sqlite_reader.py)."""

from __future__ import annotations

from dataclasses import dataclass

PARENT_TAG = "mlflow.parentRunId"
RUN_KIND_TAG = "run_kind"  # "sweep" for a sweep's parent run
CHAMPION = "champion"  # the registry alias of the best model so far (registry.py)


@dataclass(frozen=True)
class RunRecord:
    """A run as plain data, for tables and comparisons; `metrics` holds each metric's last value."""

    run_id: str
    name: str
    status: str
    start_time: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]

    @property
    def parent_id(self) -> str | None:
        return self.tags.get(PARENT_TAG)

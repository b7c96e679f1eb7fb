"""The model registry's `champion`: the best model so far, by one configured metric.

Every model the evaluate stage scores becomes a new version of `registry.model_name`
(a sweep job's only with `registry.register_sweep_jobs`); the alias `champion` moves to it
only when it beats the current champion, so `models:/<name>@champion` always loads the best
model yet. Parallel sweep jobs on one machine decide one at a time (a file lock), so two
cannot both think they won. `prune` keeps the registry short: the champion and the newest N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from filelock import FileLock

from mnist_pipeline.config import RegistryConfig, TrackingConfig
from mnist_pipeline.plumbing.errors import ConfigError
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import store
from mnist_pipeline.tracking.records import CHAMPION


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: str
    champion: str  # the champion's version after this registration
    score: float

    @property
    def promoted(self) -> bool:
        return self.champion == self.version


def register(
    registry: RegistryConfig, config: TrackingConfig, workspace: Workspace, run_id: str
) -> Registration | None:
    """Register run `run_id`'s model and move `champion` to it if it scores better; None if disabled."""
    if registry.model_name is None:
        return None
    name, metric = registry.model_name, registry.champion_metric
    score = _score(config, workspace, run_id, metric)
    if score is None:
        raise ConfigError(f"registry.champion_metric={metric!r} was not logged by run {run_id}; use a metric it logs")
    with FileLock(workspace.registry_lock):
        version = store.register_model_version(config, workspace, run_id, name, {metric: f"{score:.6g}"})
        current = store.alias_run(config, workspace, name, CHAMPION)
        current_score = _score(config, workspace, current[1], metric) if current else None
        if current is None or current_score is None or beats(score, current_score, registry.champion_mode):
            store.set_alias(config, workspace, name, CHAMPION, version)
            return Registration(name, version, version, score)
        return Registration(name, version, current[0], score)


def champion_run(registry: RegistryConfig, config: TrackingConfig, workspace: Workspace) -> str | None:
    """The run id of the current champion, or None."""
    if registry.model_name is None:
        return None
    holder = store.alias_run(config, workspace, registry.model_name, CHAMPION)
    return holder[1] if holder else None


def _score(config: TrackingConfig, workspace: Workspace, run_id: str, metric: str) -> float | None:
    value = store.get_run(config, workspace, run_id).metrics.get(metric)
    return None if value is None or math.isnan(value) else value


def beats(score: float, best: float, mode: str) -> bool:
    return score > best if mode == "max" else score < best


def prune(
    registry: RegistryConfig, config: TrackingConfig, workspace: Workspace, keep: int, *, dry_run: bool = False
) -> list[store.ModelVersion]:
    """Delete the versions that are neither the champion nor among the newest `keep`; returns
    them, newest first (with `dry_run`, deletes nothing: what would go)."""
    if keep < 0:
        raise ConfigError(f"--keep {keep} must be >= 0 (the number of newest versions to keep beside the champion)")
    if registry.model_name is None:
        return []
    name = registry.model_name
    with FileLock(workspace.registry_lock):  # no sweep job promotes a version while it goes
        holder = store.alias_run(config, workspace, name, CHAMPION)
        champion = holder[0] if holder else None
        doomed = [v for v in store.model_versions(config, workspace, name)[keep:] if v.version != champion]
        if not dry_run:
            for version in doomed:
                store.delete_model_version(config, workspace, name, version.version)
    return doomed

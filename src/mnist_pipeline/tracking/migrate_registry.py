"""Copy the registered model's versions and aliases to a store its runs were migrated to.

A version is re-created from the copy of its logged model and tagged with what it was copied
from, so a second migration skips it; the destination numbers versions its own way. An alias
the destination lacks is set; `champion` moves from a destination version only to a better
one (registry.champion_metric, as registry.py decides), so a laptop never demotes the team's
best model; other aliases already set there are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mnist_pipeline.config import RegistryConfig
from mnist_pipeline.tracking.migrate_run import MIGRATED_FROM_TAG
from mnist_pipeline.tracking.records import CHAMPION
from mnist_pipeline.tracking.registry import beats

MODEL_URI_PREFIX = "models:/"


@dataclass(frozen=True)
class ModelCopy:
    """Where a source LoggedModel went: its copy's id and run."""

    model_id: str
    run_id: str


@dataclass
class RegistryCounts:
    versions: int = 0
    versions_skipped: int = 0
    aliases: int = 0
    aliases_kept: int = 0


def copy_registry(
    src: MlflowClient,
    dst: MlflowClient,
    policy: RegistryConfig,
    models: dict[str, ModelCopy],
    say: Callable[[str], None],
) -> RegistryCounts:
    """Copy `policy.model_name`'s versions whose logged model is in `models`, then its aliases."""
    counts, name = RegistryCounts(), policy.model_name
    if name is None:
        return counts
    try:
        source = src.get_registered_model(name)
    except MlflowException:
        say(f"skipped the registry: no registered model {name!r} in the source store")
        return counts
    if not _exists(dst, name):
        dst.create_registered_model(name, tags=dict(source.tags or {}), description=source.description)
    copied = {v.tags.get(MIGRATED_FROM_TAG): str(v.version) for v in dst.search_model_versions(f"name = '{name}'")}
    versions: dict[str, str] = {}  # source version -> destination version
    for version in sorted(src.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        key, model = _origin(version), models.get(_model_id(version))
        if key in copied:
            versions[str(version.version)] = copied[key]
            counts.versions_skipped += 1
            say(f"skipped {name} version {version.version}: already on the server as version {copied[key]}")
        elif model is None:
            counts.versions_skipped += 1
            say(f"skipped {name} version {version.version}: its run's logged model is not on the server")
        else:
            made = dst.create_model_version(
                name,
                f"{MODEL_URI_PREFIX}{model.model_id}",
                run_id=model.run_id,
                tags={**dict(version.tags or {}), MIGRATED_FROM_TAG: key},
                description=version.description,
                model_id=model.model_id,
                await_creation_for=0,  # a tracking server's registry creates versions READY at once
            )
            versions[str(version.version)] = str(made.version)
            counts.versions += 1
            say(f"copied {name} version {version.version} as version {made.version} (run {model.run_id})")
    for alias, version in (source.aliases or {}).items():
        _copy_alias(dst, policy, alias, versions.get(str(version)), counts, say)
    return counts


def _copy_alias(
    dst: MlflowClient,
    policy: RegistryConfig,
    alias: str,
    target: str | None,
    counts: RegistryCounts,
    say: Callable[[str], None],
) -> None:
    name = str(policy.model_name)
    if target is None:
        counts.aliases_kept += 1
        say(f"skipped {name}@{alias}: its version is not on the server")
        return
    current = _alias_version(dst, name, alias)
    if current is not None and str(current.version) == target:
        counts.aliases_kept += 1
        say(f"skipped {name}@{alias}: already version {target}")
        return
    if current is not None and not _better(dst, policy, alias, target, current):
        counts.aliases_kept += 1
        say(f"kept {name}@{alias} at the server's version {current.version}: version {target} is not better")
        return
    dst.set_registered_model_alias(name, alias, target)
    counts.aliases += 1
    say(f"set {name}@{alias} to version {target}")


def _better(dst: MlflowClient, policy: RegistryConfig, alias: str, target: str, current: ModelVersion) -> bool:
    """Whether version `target` may take `alias` from `current`: only `champion` moves, to a better score."""
    if alias != CHAMPION:
        return False
    name, metric = str(policy.model_name), policy.champion_metric
    ours = dst.get_run(str(dst.get_model_version(name, target).run_id)).data.metrics.get(metric)
    theirs = dst.get_run(str(current.run_id)).data.metrics.get(metric) if current.run_id else None
    return ours is not None and (theirs is None or beats(ours, theirs, policy.champion_mode))


def _alias_version(dst: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return dst.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _exists(dst: MlflowClient, name: str) -> bool:
    try:
        dst.get_registered_model(name)
    except MlflowException:
        return False
    return True


def _model_id(version: ModelVersion) -> str:
    """The LoggedModel a version was made from (`models:/<id>`), or its source URI for an older kind."""
    if version.model_id:
        return str(version.model_id)
    return str(version.source).removeprefix(MODEL_URI_PREFIX)


def _origin(version: ModelVersion) -> str:
    return f"{_model_id(version)} version {version.version}"

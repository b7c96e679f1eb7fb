"""`mnist-pipeline ensemble`: several trained runs as one model, their probabilities averaged.

Runs of the same recipe with other seeds make different mistakes, so their average is right
more often than any one of them (README, Results). Each run's ONNX export is fetched from
MLflow and scored on the repository's test set with ONNX Runtime (no TensorFlow); the
report names each member's test accuracy and the ensemble's. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_pipeline.config import TrackingConfig, load_params
from mnist_pipeline.data.preprocess import load_stored_split
from mnist_pipeline.plumbing.errors import PipelineError
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.predict.runtimes import OnnxClassifier, probabilities_of
from mnist_pipeline.tracking import store
from mnist_pipeline.tracking.records import RunRecord


@dataclass(frozen=True)
class Member:
    run_id: str
    name: str
    test_accuracy: float


def ensemble_report(workspace: Workspace, run_ids: list[str]) -> str:
    """Lines: each run's test accuracy, then the ensemble's (runs given by id, or by the first
    characters of one, as `mnist-pipeline runs` shows them)."""
    members, accuracy = score(workspace, run_ids)
    width = max(len(m.name) for m in members)
    lines = [f"{m.name:<{width}}  {m.run_id[:8]}  test accuracy {m.test_accuracy:.4f}" for m in members]
    lines.append(f"ensemble of {len(members)} runs (probabilities averaged): test accuracy {accuracy:.4f}")
    return "\n".join(lines)


def score(workspace: Workspace, run_ids: list[str]) -> tuple[list[Member], float]:
    """Each run's test accuracy, and that of their averaged probabilities."""
    if len(run_ids) < 2:
        raise PipelineError("an ensemble needs at least two runs; give their ids (`mnist-pipeline runs`)")
    config = load_params(workspace.params_file).tracking
    test = load_stored_split(workspace.stage_output("preprocess"), "test")
    runs = resolve(config, workspace, run_ids)
    members, probabilities = [], []
    for run in runs:
        with store.onnx_model_file(config, workspace, run.run_id) as path:
            scored = probabilities_of(OnnxClassifier(path), test.images)
        probabilities.append(scored)
        members.append(Member(run.run_id, run.name, accuracy(scored, test.labels)))
    return members, ensemble_accuracy(probabilities, test.labels)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def ensemble_accuracy(probabilities: list[np.ndarray], labels: np.ndarray) -> float:
    """The accuracy of several models' probabilities averaged."""
    return accuracy(np.mean(probabilities, axis=0), labels)


def resolve(config: TrackingConfig, workspace: Workspace, run_ids: list[str]) -> list[RunRecord]:
    """For each of `run_ids`, the one run whose id starts with it (one search of the store)."""
    runs = store.find_runs(config, workspace)
    resolved = []
    for run_id in run_ids:
        found = [r for r in runs if r.run_id.startswith(run_id)]
        if len(found) != 1:
            what = "no run" if not found else f"{len(found)} runs"
            raise PipelineError(
                f"{what} in the store has an id starting {run_id!r}; copy one from `mnist-pipeline runs`"
            )
        resolved.append(found[0])
    return resolved

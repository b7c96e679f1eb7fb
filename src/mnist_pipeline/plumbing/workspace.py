"""The workspace: the repository a process works in, and every path in it that the code uses.

An entry point builds one `Workspace` (`Workspace.find()`, or `Workspace.of_stage()` in a
stage script) and passes it down, so each path is named here only, and a function that takes
a workspace is one that reads or writes the repository's files.

Stage scripts run at the repository root, Hydra sweep jobs may run elsewhere, and
`dvc exp run --queue` runs each experiment in a temporary copy under `.dvc/tmp/exps/`.
What every copy must share (the MLflow store, the registry's lock) lives under
`store_root`, the real workspace, never under the current directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from mnist_pipeline.plumbing.errors import PipelineError

MARKER = "dvc.yaml"
# Set by DVC for every stage it runs; for a queued experiment it names the workspace the
# experiment was queued from, not the temporary copy it runs in.
DVC_ROOT_ENV = "DVC_ROOT"
# Set by DVC for `dvc exp run`, which has just composed params.yaml from conf/ itself
# (with the experiment's -S overrides, which conf/ cannot show).
DVC_EXPERIMENT_ENV = "DVC_EXP_NAME"

# What the train stage writes into its output folder (dvc.yaml names the folder): the same
# bytes for the same config and seed. The MLflow run that trained it carries the folder's
# digest (stages/artifacts.py, MODEL_DIGEST_TAG), which is how the evaluate stage finds it.
MODEL_FILE = "model.keras"
# The same model for ONNX Runtime (learn/onnx_export.py): what `mnist-pipeline predict` runs by default.
ONNX_FILE = "model.onnx"
PROBABILITIES_FILE = "test_probabilities.npy"
# What the evaluate stage writes into its reports folder (dvc.yaml lists them as its outputs).
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
PER_CLASS_FILE = "per_class_metrics.csv"
# Accuracy on each variant of the test set (predict/variants.py): a metrics file of its own,
# so that METRICS_FILE keeps its two headline values.
ROBUSTNESS_FILE = "robustness.json"
EVALUATE_FIGURES = "figures/evaluate"


@dataclass(frozen=True, init=False)
class Workspace:
    """A repository checkout: `root` holds its config and pipeline outputs; `store_root` the
    MLflow store that all copies of it share (the same folder except in a queued DVC experiment)."""

    root: Path
    store_root: Path

    def __init__(self, root: Path, store_root: Path | None = None) -> None:
        object.__setattr__(self, "root", Path(root).resolve())
        object.__setattr__(self, "store_root", Path(store_root or root).resolve())

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The repository at or above `start` (default: the current directory), found by its dvc.yaml."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / MARKER).is_file():
                return cls(folder)
        raise PipelineError(f"no {MARKER} found at or above {here}: run this from inside the mnist-pipeline repository")

    @classmethod
    def of_stage(cls) -> Workspace:
        """The workspace of a stage script, which DVC runs in the folder of dvc.yaml: that folder,
        with the store of $DVC_ROOT, where DVC says the workspace is."""
        dvc_root = os.environ.get(DVC_ROOT_ENV)
        return cls(Path.cwd(), Path(dvc_root) if dvc_root else None)

    @property
    def is_queued_copy(self) -> bool:
        """Whether this is a queued DVC experiment's temporary copy of the workspace."""
        return self.root != self.store_root

    # This checkout's files.
    @property
    def dvc_yaml(self) -> Path:
        return self.root / MARKER

    @property
    def dvc_lock(self) -> Path:
        return self.root / "dvc.lock"

    @property
    def params_file(self) -> Path:
        """DVC's view of conf/ (stages/params.py)."""
        return self.root / "params.yaml"

    @property
    def conf_dir(self) -> Path:
        """The Hydra config groups, the source of every value."""
        return self.root / "conf"

    @property
    def scratch_dir(self) -> Path:
        """Temporary folders of a running stage: in the repository's file system (renames stay
        atomic) but out of sight of git and DVC."""
        return self.root / ".dvc" / "tmp"

    @property
    def working_places(self) -> tuple[Path, ...]:
        """Where a stage writes besides its own outputs (its scratch folder, the embedded MLflow
        store and artifact store): what a full disk may be blamed on (plumbing/full_disk.py)."""
        return self.store_file, self.artifact_dir, self.scratch_dir

    @property
    def sweep_data_lock(self) -> Path:
        """Held while a sweep brings the data up to date (beside DVC's own locks)."""
        return self.root / ".dvc" / "tmp" / "sweep-data.lock"

    def stage_output(self, stage: str) -> Path:
        """The first output dvc.yaml declares for `stage` (dvc.yaml is the one place stage paths live)."""
        stages = yaml.safe_load(self.dvc_yaml.read_text())["stages"]
        return self.root / stages[stage]["outs"][0]

    # Shared by every copy: the embedded MLflow store (ignored by git).
    @property
    def store_file(self) -> Path:
        return self.store_root / "mlflow.db"

    @property
    def artifact_dir(self) -> Path:
        return self.store_root / "mlartifacts"

    @property
    def registry_lock(self) -> Path:
        """Held while a model is registered and the champion elected (beside the store)."""
        return self.store_file.with_name(self.store_file.name + "-registry.lock")

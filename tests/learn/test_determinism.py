"""Same config and seed, same numbers: two pipeline runs (train + evaluate, logged to a real
MLflow store) on a real MNIST subset are bit-identical; another seed gives another run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO, data_config
from mnist_pipeline.config import validate
from mnist_pipeline.data.preprocess import preprocess
from mnist_pipeline.plumbing.files import folder_digest
from mnist_pipeline.plumbing.workspace import MODEL_FILE, Workspace
from mnist_pipeline.stages import artifacts, params
from mnist_pipeline.stages.sweep_job import train_and_evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def processed(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    preprocess(raw_dir, out, data_config(subset=2000))
    return out


@pytest.fixture(scope="module")
def runs(processed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Runs `a` and `b` with seed 1, `c` with seed 2: metrics, MLflow run, weights, history file."""
    root = tmp_path_factory.mktemp("store")
    shutil.copytree(REPO / "conf", root / "conf")  # run names are measured against conf/
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
        found = {}
        for name, seed in (("a", 1), ("b", 1), ("c", 2)):
            overrides = ["data.subset=2000", "train.epochs=2", f"train.seed={seed}"]
            config = validate(params.compose(Workspace(REPO), overrides))
            run_id, metrics = train_and_evaluate(config, processed, root / name, Workspace(root))
            run = client.get_run(run_id)
            found[name] = {
                "metrics": metrics,
                "run": run,
                "val_accuracy": [m.value for m in client.get_metric_history(run.info.run_id, "val_accuracy")],
                "val_loss": [m.value for m in client.get_metric_history(run.info.run_id, "val_loss")],
                "weights": keras.saving.load_model(root / name / "models" / MODEL_FILE).get_weights(),
                "history": (root / name / "reports" / "train_history.csv").read_bytes(),
                "models": folder_digest(root / name / "models"),  # what DVC hashes
            }
    return found


def test_same_seed_gives_bit_identical_runs(runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["a"], runs["b"]
    assert a["run"].info.run_id != b["run"].info.run_id
    assert a["metrics"] == b["metrics"]  # test accuracy, loss and per-digit accuracy, exactly
    assert a["run"].data.metrics["test_accuracy"] == b["run"].data.metrics["test_accuracy"]
    assert len(a["val_accuracy"]) == 2 and a["val_accuracy"] == b["val_accuracy"]
    assert a["val_loss"] == b["val_loss"]
    assert a["history"] == b["history"]
    assert len(a["weights"]) == len(b["weights"]) == 4
    for left, right in zip(a["weights"], b["weights"], strict=True):
        np.testing.assert_array_equal(left, right)
    # Byte for byte, model.keras included (Keras stamps the save time into it), and each run
    # is tagged with it: that is how the evaluate stage finds the run of a model folder.
    assert a["models"] == b["models"] != runs["c"]["models"]
    assert a["run"].data.tags[artifacts.MODEL_DIGEST_TAG] == a["models"]


def test_the_seed_is_logged_and_another_seed_gives_another_run(runs: dict[str, dict[str, Any]]) -> None:
    a, c = runs["a"], runs["c"]
    assert a["run"].data.params["train.seed"] == "1" and c["run"].data.params["train.seed"] == "2"
    # Accuracy on 400 validation images can coincide; the loss and the weights cannot.
    assert a["val_loss"] != c["val_loss"]
    assert not np.array_equal(a["weights"][0], c["weights"][0])

"""The CNN experiment overlay through both entry points, in a temporary copy of the repository
on real MNIST (shrunk to a subset and two epochs): `dvc exp run -S +experiment=cnn` and
`python pipelines/sweep.py -m +experiment=cnn` (a sweep of one job, under its parent run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run

pytestmark = pytest.mark.slow


def test_cnn_experiment_runs_from_dvc_and_from_hydra(tmp_path: Path, mnist_mirror: Path) -> None:
    repo = copy_repo(tmp_path)
    env = pipeline_env(mnist_mirror)
    shrink = ["data.subset=2000", "train.epochs=2", "train.batch_size=32"]
    # Verbose: TensorFlow's own start-up notices show, among them whether its oneDNN kernels are on.
    command = ["dvc", "exp", "run", "-S", "+experiment=cnn", *(arg for s in shrink for arg in ("-S", s))]
    done = run(command, repo, {**env, "MNIST_PIPELINE_VERBOSE": "1"})
    assert "oneDNN custom operations are on" in done.stdout + done.stderr  # train.onednn: true, on any CPU
    composed = yaml.safe_load((repo / "params.yaml").read_text())
    assert composed["model"]["name"] == "cnn" and composed["train"]["lr_schedule"] == "cosine"
    assert composed["data"]["subset"] == 2000  # -S overrides given after the overlay win

    run([sys.executable, "pipelines/sweep.py", "-m", "+experiment=cnn", "data.subset=1000", *shrink[1:]], repo, env)

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    everything = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    (parent,) = [
        r for r in everything if "mlflow.parentRunId" not in r.data.tags and "data.train_size" not in r.data.params
    ]
    assert parent.data.params["experiment"] == "cnn"  # the overlay the sweep ran, as MLflow can name it
    runs = [r for r in everything if r is not parent]
    assert [r.data.params["data.train_size"] for r in runs] == ["1800", "900"]  # val_fraction 0.1 from the overlay
    for tracked, subset in zip(runs, ("2000", "1000"), strict=True):
        assert tracked.info.status == "FINISHED"
        assert tracked.info.run_name == (
            f"cnn-f16x32x64-e2-k3x3x3-nobn-shift0.1-nearest-variants0.4-lowres2-lr0.004-cosine-bs32-threads2-onednn-val0.1-n{subset}"
        )
        assert tracked.data.params["model.augment.shift"] == str(composed["model"]["augment"]["shift"])
        assert tracked.data.params["train.onednn"] == "True"
        assert tracked.data.metrics["test_accuracy"] > 0.5  # chance is 0.1
        assert tracked.data.metrics["train_seconds"] > 0

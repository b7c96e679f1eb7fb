"""The train stage checks the tracking server before it trains: a server that is down costs a
few seconds (MLflow's bounded retries), not a training run that cannot be logged."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from conftest import REPO, pipeline_env, run, stage_command
from mnist_pipeline.config import validate
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.stages.preprocess import preprocess_stage


def test_train_stage_fails_before_training_when_the_tracking_server_is_down(
    tmp_path: Path, raw_dir: Path, mnist_mirror: Path
) -> None:
    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    overrides = ["data.subset=200", "train.epochs=1000", f"tracking.uri={url}"]
    preprocess_stage(validate(params.compose(Workspace(REPO), overrides)), raw_dir, tmp_path / "data/processed")
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    values["data"]["subset"], values["train"]["epochs"], values["tracking"]["uri"] = 200, 1000, url
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(values))
    command = stage_command("train")
    command[1] = str(REPO / command[1])  # the script, run from the folder holding params.yaml
    done = run(command, tmp_path, pipeline_env(mnist_mirror), check=False)
    assert done.returncode == 1
    # The whole stderr: TensorFlow was not even imported (it logs as it starts).
    assert done.stderr == (
        f"error: MLflow tracking server {url} is not reachable (connection refused): start it, or point "
        "MLFLOW_TRACKING_URI / tracking.uri at a running one\n"
    )
    assert not (tmp_path / "models").exists() and not (tmp_path / "reports").exists()

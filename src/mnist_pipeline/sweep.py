"""One Hydra multirun job: make sure its data exists, then train and evaluate into the job folder."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.config import PipelineConfig, load_params
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params import PARAMS_FILE
from mnist_pipeline.pipeline import preprocess_stage, train_and_evaluate


def stage_output(root: Path, stage: str) -> Path:
    """The first output dvc.yaml declares for `stage` (dvc.yaml is the one place paths live)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    return root / stages[stage]["outs"][0]


def dvc_repro(root: Path, stage: str) -> None:
    done = subprocess.run(["dvc", "repro", "--quiet", stage], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PipelineError(f"`dvc repro {stage}` failed: {tail[0]}; run it yourself to see why")


def job_data(config: PipelineConfig, root: Path, job_dir: Path) -> Path:
    """The workspace's processed data when the job's data config matches params.yaml, else the job's own."""
    if config.data == load_params(root / PARAMS_FILE).data:
        dvc_repro(root, "preprocess")
        return stage_output(root, "preprocess")
    dvc_repro(root, "download")
    data_dir = job_dir / "data"
    preprocess_stage(config, stage_output(root, "download"), data_dir)
    return data_dir


def run_job(config: PipelineConfig, root: Path, job_dir: Path, tags: dict[str, str]) -> dict[str, Any]:
    return train_and_evaluate(config, job_data(config, root, job_dir), job_dir, root, tags)

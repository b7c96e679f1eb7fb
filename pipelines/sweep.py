"""Hydra entry point for sweeps: `python pipelines/sweep.py -m model.units=64,128 train.epochs=5,10`.

Each job trains and evaluates on the pipeline's processed data (running the DVC stages
that produce it when needed) and is one MLflow run; returns the test accuracy, the value a
Hydra sweeper optimises.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mnist_pipeline.config import validate
from mnist_pipeline.stage import run_or_exit
from mnist_pipeline.sweep import run_job
from mnist_pipeline.workspace import repo_root


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    tags = {
        "launched_by": "sweep",
        "sweep_dir": str(Path(hydra_cfg.sweep.dir)),
        "overrides": " ".join(hydra_cfg.overrides.task),
    }
    metrics = run_or_exit(lambda: run_job(validate(cfg), repo_root(), job_dir, tags))
    return float(metrics["test_accuracy"])


if __name__ == "__main__":
    main()

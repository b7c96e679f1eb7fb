"""Hydra entry point for sweeps: `python pipelines/sweep.py -m model.units=64,128 train.epochs=5,10`.

Each job trains and evaluates on the pipeline's processed data into its own MLflow run,
nested under the sweep's parent run (see `mnist_pipeline.stages.sweep_callback`), and returns
the sweep metric (default: validation accuracy), the value a Hydra sweeper such as
Optuna optimises. A job that fails is one line on stderr (its traceback goes to the job's
log file) and the sweep exits 1 once the other jobs are done; a YAML error in conf/ or an
unknown option (`model=resnet`) is one line before any job starts. Ctrl-C or SIGTERM stop the whole sweep: the
job's run ends KILLED, later jobs do not start, and the exit status is 130 or 143.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mnist_pipeline.config import validate
from mnist_pipeline.plumbing.entry import exit_on_interrupt, exit_without_teardown
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.hydra_errors import run_hydra_app
from mnist_pipeline.stages.sweep_callback import sweep_metric
from mnist_pipeline.stages.sweep_job import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    job_dir, metric = Path(hydra_cfg.runtime.output_dir), sweep_metric(hydra_cfg)
    return exit_on_interrupt(lambda: run_job(validate(cfg), Workspace.find(), job_dir, metric))


if __name__ == "__main__":
    run_hydra_app(main)  # a failed sweep exits inside, with its status
    exit_without_teardown()

"""The preprocess stage: raw IDX files into the train, validation and test splits."""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline.config import PipelineConfig
from mnist_pipeline.data.preprocess import preprocess
from mnist_pipeline.plumbing.full_disk import reporting_disk_full


def preprocess_stage(config: PipelineConfig, raw_dir: Path, out_dir: Path) -> dict[str, int]:
    with reporting_disk_full(out_dir):
        return preprocess(raw_dir, out_dir, config.data)

"""The download stage: the four MNIST files from the configured mirrors, verified."""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline.config import PipelineConfig
from mnist_pipeline.data.download import Transfer, choose_mirrors, download_mnist


def download_stage(config: PipelineConfig, raw_dir: Path) -> list[Path]:
    mirrors = choose_mirrors(config.data.mirrors, config.data.mirror)
    transfer = Transfer(config.data.download_timeout, config.data.download_retries, config.data.download_backoff)
    return download_mnist(raw_dir, mirrors, transfer)

"""The preprocess stage: raw IDX files into the train, validation and test splits; and the
test split written unlike MNIST (predict/variants.py), which the evaluate stage scores every
trained model on.

The variants are built here, once per data, not once per evaluation: about 3.5 s of CPU on a
2-core AMD EPYC (the 10,000 8x8 digits prepared one by one, as `predict` prepares such a
file), spread over the cores.
"""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline.config import PipelineConfig
from mnist_pipeline.data.preprocess import load_stored_split, preprocess
from mnist_pipeline.plumbing.full_disk import reporting_disk_full


def preprocess_stage(config: PipelineConfig, raw_dir: Path, out_dir: Path) -> dict[str, int]:
    with reporting_disk_full(out_dir):
        return preprocess(raw_dir, out_dir, config.data)


def variants_stage(data_dir: Path, out_dir: Path) -> int:
    """Build every variant of `data_dir`'s test split into `out_dir`; returns how many images each holds."""
    from mnist_pipeline.predict import variants

    test = load_stored_split(data_dir, "test")
    built = variants.build(test.images)
    with reporting_disk_full(out_dir):
        variants.save(built, out_dir)
    return len(test.images)

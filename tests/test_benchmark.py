"""The benchmark script must keep working: one tiny round on real data, report checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, pipeline_env

pytestmark = pytest.mark.slow


def test_benchmark_smoke_run_writes_a_complete_report(tmp_path: Path, mnist_mirror: Path) -> None:
    report = tmp_path / "benchmarks.md"
    command = [
        sys.executable,
        "benchmarks/bench.py",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--subset",
        "1000",
        "--epochs",
        "1",
        "--quick",
    ]
    subprocess.run(
        [*command, "--out", str(report)], cwd=REPO, env=pipeline_env(mnist_mirror), check=True, capture_output=True
    )
    text = report.read_text()
    assert re.search(r"\| \*\*\(b\)/\(a\)\*\* per pair: [\d.]+ \| \*\*[\d.]+\*\*", text)
    accuracies = re.search(r"Test accuracy: reference (0\.\d{4}), pipeline (0\.\d{4})", text)
    assert accuracies and accuracies.group(1) == accuracies.group(2), "same seed and subset must give the same accuracy"
    for stage, tensorflow in (("download", "no"), ("preprocess", "no"), ("train", "yes"), ("evaluate", "no")):
        assert re.search(rf"\| {stage} \| [\d.]+ .*\| {tensorflow} \|", text), stage
    assert re.search(r"= \*\*[\d.]+x\*\* the floor", text)
    one_image = r"\| one image, cold process, end to end \(runs: 1\) \| \*\*[\d.]+ \([\d.]+-[\d.]+\) s\*\* \|"
    assert re.search(one_image, text)
    assert re.search(r"\| the folder after start-up \(image preparation included\) \| \*\*\d+ images/s\*\* \|", text)
    read = re.search(r"\| digits read as their MNIST label \| (0\.\d{4}|1\.0000) \|", text)
    assert read and float(read.group(1)) >= 0.5, "the trained model reads most of the test images"

"""The benchmark script must keep working: tiny runs on real data, reports checked.

The smoke test runs every section but the sweeps and the CNN (each a minute or more even
at --quick size); the second test runs those two alone, on a clone the pipeline has not run in.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, pipeline_env

pytestmark = pytest.mark.slow
NUMBER = r"[\d.]+ \([\d.]+-[\d.]+\)"  # a median (min-max)


def bench_report(tmp_path: Path, mirror: Path, *options: str) -> str:
    report = tmp_path / "benchmarks.md"
    command = [sys.executable, "benchmarks/bench.py", "--runs", "1", "--warmup", "0", "--quick", *options]
    subprocess.run(
        [*command, "--out", str(report)], cwd=REPO, env=pipeline_env(mirror), check=True, capture_output=True
    )
    return report.read_text()


def test_benchmark_smoke_run_writes_a_complete_report(tmp_path: Path, mnist_mirror: Path) -> None:
    text = bench_report(tmp_path, mnist_mirror, "--sections", "pipeline,edit,floor,predict,serve,runs")
    assert re.search(r"Machine: .+, \d+ cores, ", text) and re.search(r"Measured \d{4}-\d\d-\d\d ", text)
    assert re.search(r"\| \*\*\(b\)/\(a\)\*\* per pair: [\d.]+ \| \*\*[\d.]+\*\*", text)
    accuracies = re.search(r"Test accuracy: reference (0\.\d{4}), pipeline (0\.\d{4})", text)
    assert accuracies and accuracies.group(1) == accuracies.group(2), "same seed and subset must give the same accuracy"
    for stage, tensorflow in (("download", "no"), ("preprocess", "no"), ("train", "yes"), ("evaluate", "no")):
        assert re.search(rf"\| {stage} \| [\d.]+ .*\| {tensorflow} \|", text), stage
    assert re.search(rf"\| \(d\) `dvc exp run -S train.epochs=2` \| {NUMBER} \|", text)
    assert re.search(r"\| \*\*\(d\)/\(a\)\*\* per pair: [\d.]+ \| \*\*[\d.]+\*\*", text)
    assert re.search(r"Target \(d\)/\(a\) <= 0.7: \*\*(pass|fail)\*\*", text)
    assert re.search(r"= \*\*[\d.]+x\*\* the floor", text)
    one_image = rf"\| one image, cold process, end to end \(runs: 1\) \| \*\*{NUMBER} s\*\* \|"
    assert re.search(one_image, text)
    assert re.search(r"\| the folder after start-up \(image preparation included\) \| \*\*\d+ images/s\*\* \|", text)
    read = re.search(r"\| digits read as their MNIST label \| (0\.\d{4}|1\.0000) \|", text)
    assert read and float(read.group(1)) >= 0.5, "the trained model reads most of the test images"
    for flavour in ("keras", "onnx"):  # served: requests answered, none refused, a p99 latency
        row = rf"\| {flavour} \| [\d.]+ \| \*\*(\d+)\*\* \| [\d.]+ \| \*\*[\d.]+\*\* \| \d+ \| (\d+) \|"
        served = re.search(row, text)
        assert served and int(served.group(1)) > 0 and served.group(2) == "0", flavour
    assert re.search(rf"\| `mnist-pipeline runs`, cold process \(runs: 2\) \| \*\*{NUMBER}\*\* \|", text)
    assert "## Sweep overhead" not in text and "## Time to accuracy" not in text


def test_benchmark_sweep_and_cnn_sections(tmp_path: Path, mnist_mirror: Path) -> None:
    text = bench_report(tmp_path, mnist_mirror, "--sections", "sweep,cnn", "--cnn-experiment", "cnn")
    assert "## Pipeline against the reference script" not in text
    assert re.search(r"\| sequential \(basic launcher\) \| 2 \| [\d.]+ \| (?!0\.00 )[\d.]+ \| [\d.]+ \|", text)
    assert re.search(r"\| joblib, 2 workers \| 2 \| [\d.]+ \| (?!0\.00 )[\d.]+ \| [\d.]+ \|", text)
    verdict = r"\*\*[\d.]+\*\* \(target <= [\d.]+: \*\*(pass|fail)\*\*"
    assert re.search(rf"Sequential wall / the jobs' training: {verdict}", text)
    assert re.search(rf"joblib wall / sequential wall: {verdict}", text)
    assert re.search(r"\| job 1 \(model.units=64, train.epochs=1\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", text)
    assert re.search(r"\| fit \| (?!0\.00 )[\d.]+ \| [\d.]+ \|", text), "the sequential sweep's own profile record"
    assert re.search(r"\| 1 \| [\d.]+ \| 0\.\d{4} \|", text), "one CNN seed"
    assert re.search(r"on the median: \*\*(pass|fail)\*\*", text)
    variants = r"\| lowres \| thick \| thin \| rotated \| shifted \|\n\| (--- \| ){4}--- \|\n"
    assert re.search(variants + r"\| (0\.\d{4} \| ){4}0\.\d{4} \|", text), "the seeds' accuracy on each variant"
    assert re.search(r"as an ensemble \(their test probabilities averaged\): test accuracy \*\*0\.\d{4}\*\*", text)
    # the curve: the one epoch's training seconds (from the run's MLflow metrics) and validation accuracy
    assert re.search(r"\| 1 \| (?!0\.00 )[\d.]+ \([\d.]+-[\d.]+\) \| 0\.\d{4} \(0\.\d{4}-0\.\d{4}\) \|", text)
    assert "](benchmarks-cnn.png)" in text and (tmp_path / "benchmarks-cnn.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("experiment", "target"),
    [
        ("cnn", "Target: test accuracy >= 0.995 with <= 60 s of training, on the median: **pass**."),
        ("best", "Target: test accuracy >= 0.996 with <= 1200 s of training, on the median: **fail**."),
        ("wide", "No target is set for this experiment."),
    ],
)
def test_each_experiment_is_held_to_its_own_targets(
    experiment: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from sections import cnn

    variants = [{"lowres": 0.97, "thick": 0.99, "thin": 0.99, "rotated": 0.99, "shifted": 0.99}] * 3
    rows = [(1, 50.0, 0.9951), (2, 55.0, 0.9955), (3, 58.0, 0.9953)]  # the medians: 55 s, 0.9953
    epochs = [
        [{"elapsed_seconds": s / 2, "val_accuracy": 0.99}, {"elapsed_seconds": s, "val_accuracy": a}]
        for _, s, a in rows
    ]
    result = cnn.Cnn(experiment, [f"+experiment={experiment}"], rows, 0.996, variants, epochs)
    cnn.plot(result, tmp_path / "picture.png")
    text = "\n".join(cnn.render(result, tmp_path / "picture.png", reference_s=15.0))
    assert target in text
    assert ("**3.67x** the reference script's whole run" in text) == (experiment == "cnn")
    assert "| 2 | 55.00 (50.00-58.00) | 0.9953 (0.9951-0.9955) |" in text  # the curve's last epoch, over the seeds

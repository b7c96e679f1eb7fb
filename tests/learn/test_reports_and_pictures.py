"""Per-class scores and pictures, checked against independent code and as files: fast, no training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from mnist_pipeline.learn import plots
from mnist_pipeline.learn.evaluation import Evaluation, per_class_report


def test_per_class_report_matches_scikit_learn() -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    actual = rng.integers(0, 10, 500)
    predicted = np.where(rng.random(500) < 0.7, actual, rng.integers(0, 9, 500))  # digit 9 rarely predicted
    rows = per_class_report(confusion_matrix(actual, predicted, labels=range(10)))
    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=range(10), zero_division=0
    )
    np.testing.assert_allclose([r["precision"] for r in rows], precision)
    np.testing.assert_allclose([r["recall"] for r in rows], recall)
    np.testing.assert_allclose([r["f1"] for r in rows], f1)
    assert [r["support"] for r in rows] == support.tolist()


def test_pictures_are_pngs_of_the_expected_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.random((40, 28, 28, 1), dtype=np.float32)
    actual, predicted = rng.integers(0, 10, 40), rng.integers(0, 10, 40)
    result = Evaluation(0.5, 0.1, {}, actual, predicted, rng.random(40))
    written = plots.write_evaluation_figures(result, images, tmp_path / "evaluate")
    written += plots.write_training_figures({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "train")
    assert sorted(p.name for p in written) == sorted(
        [plots.CONFUSION_MATRIX, plots.MISCLASSIFIED, plots.SAMPLE_PREDICTIONS, plots.TRAINING_CURVES]
    )
    for path in written:
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
        assert width >= 600 and height >= 350, path.name


def test_preprocess_still_does_not_import_matplotlib_or_mlflow() -> None:
    code = (
        "import sys; import mnist_pipeline.stages.preprocess, mnist_pipeline.stages.sweep_job; "
        "import mnist_pipeline.tracking.naming; "
        "bad = {'matplotlib', 'mlflow', 'tensorflow', 'keras'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

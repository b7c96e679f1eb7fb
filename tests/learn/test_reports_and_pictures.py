"""Per-class scores and pictures, checked against independent code and as files: fast, no training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.data.preprocess import one_hot
from mnist_pipeline.learn import plots
from mnist_pipeline.learn.evaluation import Evaluation, evaluate, macro_f1, per_class_report

DIGITS = list(range(10))


def noisy_predictions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True digits and softmax probabilities that are right about 70% of the time and lean to
    predicting 3 when wrong, so that each digit's precision and recall differ."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), np.where(rng.random(n) < 0.7, actual, 3)] += 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return actual, probabilities.astype(np.float32)


def test_evaluation_matches_scikit_learn() -> None:
    """Accuracy, loss, per-class accuracy (each digit's share read right: recall, not precision),
    the confusion matrix and the macro F1, against scikit-learn."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_score, recall_score

    actual, probabilities = noisy_predictions(800, seed=3)
    result = evaluate(probabilities, one_hot(actual))
    predicted = probabilities.argmax(axis=1)
    assert result.test_accuracy == accuracy_score(actual, predicted)
    exact = probabilities.astype(np.float64) / probabilities.astype(np.float64).sum(axis=1, keepdims=True)
    assert result.test_loss == pytest.approx(log_loss(actual, exact, labels=DIGITS), rel=1e-5)
    recall = recall_score(actual, predicted, labels=DIGITS, average=None)
    assert [result.per_class_accuracy[str(d)] for d in DIGITS] == pytest.approx(recall.tolist(), abs=1e-12)
    precision = precision_score(actual, predicted, labels=DIGITS, average=None)
    assert np.abs(precision - recall).max() > 0.05  # the data tells the two apart
    np.testing.assert_array_equal(result.confusion_matrix(), confusion_matrix(actual, predicted, labels=DIGITS))
    report = per_class_report(result.confusion_matrix())
    assert macro_f1(report) == pytest.approx(f1_score(actual, predicted, labels=DIGITS, average="macro"), abs=1e-12)


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
    robustness = {"lowres": 0.3, "thick": 0.45, "thin": 0.4, "rotated": 0.48, "shifted": 0.2}
    written = plots.write_evaluation_figures(result, images, tmp_path / "evaluate", robustness)
    written += plots.write_training_figures({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "train")
    assert sorted(p.name for p in written) == sorted(
        [plots.CONFUSION_MATRIX, plots.MISCLASSIFIED, plots.SAMPLE_PREDICTIONS, plots.ROBUSTNESS, plots.TRAINING_CURVES]
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


def test_pictures_show_the_counts_and_the_mistakes_computed_independently() -> None:
    """What the figures draw: every confusion count (scikit-learn's), the misclassified digits
    most confident first with `true → predicted (confidence)` in red, the first 25 test digits,
    and the training curves' values."""
    from sklearn.metrics import confusion_matrix

    actual, probabilities = noisy_predictions(300, seed=4)
    images = np.random.default_rng(5).random((300, 28, 28, 1), dtype=np.float32)
    result = evaluate(probabilities, one_hot(actual))
    figures = plots.evaluation_figures(result, images)

    expected = confusion_matrix(actual, probabilities.argmax(axis=1), labels=DIGITS)
    matrix_axes = figures[plots.CONFUSION_MATRIX].axes[0]
    counts = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text()) for t in matrix_axes.texts}
    assert counts == {(row, col): int(expected[row, col]) for row in DIGITS for col in DIGITS}
    np.testing.assert_array_equal(matrix_axes.images[0].get_array(), expected)

    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    wrong = [i for i in range(300) if actual[i] != predicted[i]]
    worst = sorted(wrong, key=lambda i: -confidence[i])[:25]
    labels = [(t.get_text(), t.get_color()) for t in figures[plots.MISCLASSIFIED].axes[0].texts]
    assert labels == [(f"{actual[i]} → {predicted[i]} ({confidence[i]:.2f})", "red") for i in worst]
    samples = [(t.get_text(), t.get_color()) for t in figures[plots.SAMPLE_PREDICTIONS].axes[0].texts]
    assert samples == [
        (f"{actual[i]} → {predicted[i]} ({confidence[i]:.2f})", "red" if actual[i] != predicted[i] else "black")
        for i in range(25)
    ]

    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.8, 0.9]}
    loss_axes, accuracy_axes = plots.training_curves(history).axes[:2]
    assert [list(line.get_ydata()) for line in loss_axes.lines] == [history["loss"], history["val_loss"]]
    assert [list(line.get_ydata()) for line in accuracy_axes.lines] == [history["accuracy"]]

"""Test-set metrics that users compare runs by: accuracy, loss, per-class accuracy, confusion.

Computed with NumPy from the class probabilities the train stage saved, so evaluating needs
neither TensorFlow nor a model reload (see docs/benchmarks.md for what that saves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_pipeline.data.preprocess import NUM_CLASSES

# Keras clips probabilities to [eps, 1 - eps] before the log in categorical cross-entropy.
_EPSILON = 1e-7


@dataclass(frozen=True)
class Evaluation:
    test_loss: float
    test_accuracy: float
    per_class_accuracy: dict[str, float]
    actual: np.ndarray  # int labels
    predicted: np.ndarray  # int labels
    confidence: np.ndarray  # probability of the predicted label

    def metrics(self) -> dict[str, object]:
        """The headline metrics (reports/metrics.json, what `dvc metrics show` and `dvc exp show`
        print): two columns, so the tables fit a terminal. Per-digit values go to the per-class
        CSV and the run's `test_accuracy_digit_<d>` metrics."""
        return {"test_accuracy": self.test_accuracy, "test_loss": self.test_loss}

    def confusion_matrix(self) -> np.ndarray:
        """Rows: actual digit, columns: predicted digit."""
        matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        np.add.at(matrix, (self.actual, self.predicted), 1)
        return matrix


def per_class_accuracy(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        str(digit): float(np.mean(predicted[actual == digit] == digit)) if np.any(actual == digit) else float("nan")
        for digit in range(NUM_CLASSES)
    }


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The share of images whose most probable class is their label (digits), as Keras counts it."""
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def evaluate(probabilities: np.ndarray, one_hot_labels: np.ndarray) -> Evaluation:
    """Accuracy as Keras counts it (argmax match) and its categorical cross-entropy."""
    if probabilities.shape != one_hot_labels.shape:
        raise ValueError(f"{probabilities.shape[0]} predictions for {one_hot_labels.shape[0]} test labels")
    actual, predicted = one_hot_labels.argmax(axis=1), probabilities.argmax(axis=1)
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    true_probability = np.clip(normalised[np.arange(len(actual)), actual], _EPSILON, 1.0 - _EPSILON)
    return Evaluation(
        test_loss=float(np.mean(-np.log(true_probability))),
        test_accuracy=accuracy(probabilities, actual),
        per_class_accuracy=per_class_accuracy(actual, predicted),
        actual=actual,
        predicted=predicted,
        confidence=normalised[np.arange(len(predicted)), predicted],
    )


def per_class_report(matrix: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1 and support per digit from a confusion matrix (rows: actual).

    A digit never predicted (or never present) gets 0 for the undefined ratio, as scikit-learn does.
    """
    true_positives = np.diag(matrix).astype(float)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros_like(true_positives), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(true_positives), where=both > 0)
    return [
        {"digit": digit, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for digit, (p, r, f, n) in enumerate(zip(precision, recall, f1, support, strict=True))
    ]


def macro_f1(report: list[dict[str, float]]) -> float:
    """The unweighted mean of the digits' F1 scores (`test_macro_f1`), from `per_class_report`."""
    return sum(row["f1"] for row in report) / len(report)

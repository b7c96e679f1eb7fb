"""Test-set metrics that users compare runs by: accuracy, loss, per-class accuracy, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from mnist_pipeline.preprocess import NUM_CLASSES, Split


@dataclass(frozen=True)
class Evaluation:
    test_loss: float
    test_accuracy: float
    per_class_accuracy: dict[str, float]
    actual: np.ndarray  # int labels
    predicted: np.ndarray  # int labels

    def metrics(self) -> dict[str, object]:
        return {
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "per_class_accuracy": self.per_class_accuracy,
        }

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


def evaluate(model: keras.Model, test: Split, batch_size: int = 1024) -> Evaluation:
    loss, accuracy = model.evaluate(test.x, test.y, batch_size=batch_size, verbose=0)
    probabilities = model.predict(test.x, batch_size=batch_size, verbose=0)
    actual, predicted = test.y.argmax(axis=1), probabilities.argmax(axis=1)
    return Evaluation(float(loss), float(accuracy), per_class_accuracy(actual, predicted), actual, predicted)

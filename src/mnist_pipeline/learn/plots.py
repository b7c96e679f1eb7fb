"""The pictures people look at to judge a run: how it learned, where it fails, what it predicts.

PNG files drawn with matplotlib's object API (no pyplot, so no global state and no display
needed); matplotlib is imported only when a picture is drawn. Each stage writes its
pictures into one folder, atomically, which DVC declares as plots and MLflow stores as
artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_pipeline.plumbing.files import atomic_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mnist_pipeline.learn.evaluation import Evaluation

TRAINING_CURVES = "training_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
MISCLASSIFIED = "misclassified.png"
SAMPLE_PREDICTIONS = "sample_predictions.png"
ROBUSTNESS = "robustness.png"
GRID = 5  # digits per side of an image grid
DPI = 100


def import_matplotlib() -> None:
    """Import what drawing and saving a figure needs, ahead of time (side_process.py)."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def write_training_figures(history: dict[str, list[float]], out_dir: Path) -> list[Path]:
    """`training_curves.png` in `out_dir`, replacing the folder atomically."""
    return _write({TRAINING_CURVES: training_curves(history)}, out_dir)


def write_evaluation_figures(
    result: Evaluation, images: np.ndarray, out_dir: Path, robustness: dict[str, float] | None = None
) -> list[Path]:
    """Confusion matrix, misclassified digits and sample predictions in `out_dir` (atomically),
    and with `robustness` (accuracy per test-set variant) its bar chart."""
    figures = evaluation_figures(result, images)
    if robustness is not None:
        figures[ROBUSTNESS] = robustness_bars(result.test_accuracy, robustness)
    return _write(figures, out_dir)


def evaluation_figures(result: Evaluation, images: np.ndarray) -> dict[str, Figure]:
    """The evaluation pictures by file name: confusion matrix, misclassified digits, sample predictions."""
    confidence = result.confidence
    wrong = np.flatnonzero(result.actual != result.predicted)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][: GRID * GRID]
    return {
        CONFUSION_MATRIX: confusion_matrix(result.confusion_matrix()),
        MISCLASSIFIED: digit_grid(
            images,
            result.actual,
            result.predicted,
            confidence,
            worst,
            "Misclassified test digits, most confident first: true → predicted (confidence)",
        ),
        SAMPLE_PREDICTIONS: digit_grid(
            images,
            result.actual,
            result.predicted,
            confidence,
            np.arange(min(GRID * GRID, len(images))),
            "Sample test predictions: true → predicted (confidence), wrong in red",
        ),
    }


def training_curves(history: dict[str, list[float]]) -> Figure:
    """Loss and accuracy per epoch, train against validation."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure((10, 4))
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.set(title=metric.capitalize(), xlabel="epoch", ylabel=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return fig


def robustness_bars(test_accuracy: float, accuracies: dict[str, float]) -> Figure:
    """Accuracy on each variant of the test set, beside the plain test set's (grey, first)."""
    fig = _figure((7, 4))
    ax = fig.subplots()
    names, values = ["test set", *accuracies], [test_accuracy, *accuracies.values()]
    bars = ax.bar(names, values, color=["0.6", *["tab:blue"] * len(accuracies)])
    ax.bar_label(bars, labels=[f"{value:.3f}" for value in values], padding=2)
    ax.set(ylim=(0.0, 1.05), ylabel="accuracy", title="Accuracy on test digits written unlike MNIST")
    ax.grid(axis="y", alpha=0.3)
    return fig


def confusion_matrix(matrix: np.ndarray) -> Figure:
    """Counts of actual (rows) against predicted (columns) digits, each cell labelled."""
    fig = _figure((7, 6))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    labels = range(matrix.shape[0])
    ax.set(xticks=labels, yticks=labels, xlabel="predicted", ylabel="actual", title="Confusion matrix (test set)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(
            col, row, str(count), ha="center", va="center", fontsize=8, color="white" if count > threshold else "black"
        )
    return fig


def digit_grid(
    images: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    indices: Sequence[int] | np.ndarray,
    title: str,
) -> Figure:
    """Up to 5x5 digits, each labelled `true → predicted (confidence)`; wrong ones in red.

    One image (a mosaic) with text labels: 25 separate axes would take seconds to draw.
    """
    side, pad = images.shape[1], 10  # pixels per digit, pixels between digits (room for a label)
    cell = side + pad
    mosaic = np.zeros((GRID * cell, GRID * cell), dtype=np.float32)
    fig = _figure((8, 8.6))
    ax = fig.subplots()
    ax.set_title(title)
    ax.axis("off")
    for slot, index in enumerate(list(indices)[: GRID * GRID]):
        row, col = divmod(slot, GRID)
        top, left = row * cell + pad, col * cell + pad // 2
        mosaic[top : top + side, left : left + side] = images[index].reshape(side, side)
        color = "black" if actual[index] == predicted[index] else "red"
        label = f"{actual[index]} → {predicted[index]} ({confidence[index]:.2f})"
        ax.text(left + side / 2, top - 1.5, label, ha="center", va="bottom", fontsize=9, color=color)
    if len(indices) == 0:
        ax.text(mosaic.shape[1] / 2, mosaic.shape[0] / 2, "none", ha="center", va="center", fontsize=14)
    ax.imshow(mosaic, cmap="gray_r", vmin=0.0, vmax=1.0)
    return fig


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _write(figures: dict[str, Figure], out_dir: Path) -> list[Path]:
    with atomic_dir(out_dir) as tmp:
        for name, fig in figures.items():
            fig.savefig(tmp / name)
    return [out_dir / name for name in figures]

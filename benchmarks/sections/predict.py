"""`mnist-pipeline predict` on the clone's trained model: one image in a cold process, and a
folder of MNIST test images as PNG files (throughput after start-up)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from measure import Bench, measured, spread

FOLDER = 10_000  # PNG files predicted at once (all of MNIST's test images)
RUNS = 5  # cold one-image runs (the median is reported)


@dataclass
class Predict:
    one_image_s: list[float]  # cold `mnist-pipeline predict one.png`, ONNX Runtime (the default)
    one_image_keras_s: list[float]  # the same with --keras (TensorFlow)
    folder_images: int
    folder_s: float  # the whole command on the folder
    correct: int  # of folder_images, read as their MNIST label


def measure(bench: Bench) -> Predict:
    """MNIST test images written as PNG files, as a user would hand them over (dark digits on
    white, so each is inverted back)."""
    import numpy as np
    from PIL import Image

    clone, env = bench.clone, bench.env
    images = np.load(clone / "data" / "processed" / "x_test.npy")
    labels = np.load(clone / "data" / "processed" / "y_test.npy")
    count = 500 if bench.quick else min(FOLDER, len(images))
    folder = clone / ".bench-predict"
    folder.mkdir(exist_ok=True)
    for index in range(count):
        Image.fromarray(255 - images[index]).save(folder / f"{index:05d}.png")
    one = str(folder / "00000.png")
    runs = 1 if bench.quick else RUNS
    cold = [measured(f"mnist-pipeline predict {one}", clone, env).wall_s for _ in range(runs)]
    keras_runs = 0 if bench.quick else runs
    keras = [measured(f"mnist-pipeline predict {one} --keras", clone, env).wall_s for _ in range(keras_runs)]
    whole = measured(f"mnist-pipeline predict {folder}", clone, env)
    digits = [int(line.rsplit(": ", 1)[1].split()[0]) for line in whole.output.splitlines() if " (p=" in line]
    correct = sum(int(digit == label) for digit, label in zip(digits, labels, strict=False))
    return Predict(cold, keras, count, whole.wall_s, correct)


def render(result: Predict) -> list[str]:
    """Throughput counts from the end of a one-image run's start-up (the folder's wall less the
    median one-image wall)."""
    start_up = statistics.median(result.one_image_s)
    rate = (result.folder_images - 1) / max(result.folder_s - start_up, 1e-9)
    keras = f"{spread(result.one_image_keras_s)} s" if result.one_image_keras_s else "not measured (--quick)"
    return [
        "## Prediction",
        "",
        "`mnist-pipeline predict` on the trained model's ONNX export (ONNX Runtime, the default), each run a "
        "fresh process; the images are MNIST test images saved as PNG files (dark on white).",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| one image, cold process, end to end (runs: {len(result.one_image_s)}) "
        f"| **{spread(result.one_image_s)} s** |",
        f"| the same with `--keras` (TensorFlow) | {keras} |",
        f"| a folder of {result.folder_images} PNG files, whole command | {result.folder_s:.2f} s |",
        f"| the folder after start-up (image preparation included) | **{rate:.0f} images/s** |",
        f"| digits read as their MNIST label | {result.correct / result.folder_images:.4f} |",
    ]

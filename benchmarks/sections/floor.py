"""The train stage's fit against the compute floor: the run's FLOPs at a matmul rate measured
here, for the fused loop (from the cold repros) and Keras' `model.fit` (one run)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from measure import Bench, run_stage, spread, write_params

MODEL_SHAPE = "the model's first layer (64x784 @ 784x128)"
MATMUL_RATE = """
import json, sys, time
import tensorflow as tf
threads, m, k, n = map(int, sys.argv[1:])
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
a, b = tf.random.normal((m, k)), tf.random.normal((k, n))
repeat = max(1, int(2e10 // (2 * m * k * n)))
tf.linalg.matmul(a, b).numpy()
best = 0.0
for _ in range(5):
    start = time.perf_counter()
    for _ in range(repeat):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    best = max(best, repeat * 2 * m * k * n / (time.perf_counter() - start) / 1e9)
print(json.dumps(best))
"""


@dataclass
class Floor:
    rate: float  # GFLOP/s, all cores, 2048x2048
    one_thread_rates: dict[str, float]
    flop: float  # GFLOP of the default run
    keras_fit_s: float


def matmul_gflops(threads: int = 0, shape: tuple[int, int, int] = (2048, 2048, 2048)) -> float:
    """Best fp32 matmul rate TensorFlow reaches here for (m x k) @ (k x n), with `threads`
    intra-op threads (0: all cores); in a process of its own, as thread pools are set once."""
    done = subprocess.run(
        [sys.executable, "-c", MATMUL_RATE, str(threads), *map(str, shape)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def mlp_training_gflop(units: int, train_size: int, val_size: int, epochs: int) -> float:
    """Dense-layer FLOPs: forward 2 x MACs per image, training 3 x forward, validation forward only."""
    macs = 28 * 28 * units + units * 10
    return 2 * macs * (3 * train_size + val_size) * epochs / 1e9


def split_size(bench: Bench, split: str) -> int:
    import numpy as np

    return int(np.load(bench.clone / "data" / "processed" / f"y_{split}.npy", mmap_mode="r").shape[0])


def measure(bench: Bench) -> Floor:
    """On the clone's processed data and params.yaml as the cold repros left them."""
    params = yaml.safe_load((bench.clone / "params.yaml").read_text())
    sizes = split_size(bench, "train"), split_size(bench, "val")
    flop = mlp_training_gflop(params["model"]["units"], *sizes, params["train"]["epochs"])
    keras_loop = run_stage(bench.clone, "train", ["train.loop=keras"], bench.env)
    write_params(bench.clone, [], bench.env)
    rates = {} if bench.quick else {"2048x2048": matmul_gflops(1)}  # --quick: one TensorFlow process less
    rates[MODEL_SHAPE] = matmul_gflops(1, (64, 784, 128))
    return Floor(matmul_gflops(), rates, flop, keras_loop["phases_s"]["fit"])


def render(result: Floor, train_records: list[dict[str, Any]]) -> list[str]:
    fit = [r["phases_s"]["fit"] for r in train_records]
    floor = result.flop / result.rate
    one_thread_s = result.flop / result.one_thread_rates[MODEL_SHAPE]
    return [
        "## Training against the compute floor",
        "",
        f"- Matmul rate measured here (TensorFlow, fp32, 2048x2048, all cores): **{result.rate:.0f} GFLOP/s**.",
        f"- FLOPs of the run (dense layers; training 3x forward, validation forward): {result.flop:.1f} GFLOP, "
        f"so the floor is **{floor:.2f} s**.",
        f"- Training in the train stage (`train.loop: fused`, the default): **{spread(fit)} s** = "
        f"**{statistics.median(fit) / floor:.1f}x** the floor.",
        f"- The same training through Keras' `model.fit` (`train.loop=keras`, one run): "
        f"{result.keras_fit_s:.2f} s = {result.keras_fit_s / floor:.1f}x the floor.",
        "- Training runs on one thread (`train.intra_op_threads: 1`, the fastest setting measured). Rates on "
        "one thread: "
        + ", ".join(f"{what} {value:.0f} GFLOP/s" for what, value in result.one_thread_rates.items())
        + f"; at the latter rate the run's FLOPs alone take {one_thread_s:.2f} s.",
    ]

"""Which device trains: the GPU TensorFlow sees, else the CPU.

Each run records it (the `mnist_pipeline.device` tag): the same config trains at another speed,
and to other last digits, on a GPU. It also decides whether training.py sizes the CPU's thread
pools, which are chosen for a small model on two cores and have no say over a GPU's kernels.
"""

from __future__ import annotations

import keras

CPU = "CPU"


def gpu_names() -> list[str]:
    """The names of the GPUs TensorFlow sees (`NVIDIA H100 80GB HBM3`); none on a CPU-only build or machine.

    Asking does not start TensorFlow's runtime, so the thread pools can still be sized after it.
    """
    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return [str(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)) for gpu in gpus]


def training_device() -> str:
    """`CPU`, or the GPU that trains: TensorFlow places a model on the first one it sees (no
    distribution strategy here), so that one is named, with how many there are when more than one."""
    names = gpu_names()
    if not names:
        return CPU
    return names[0] if len(names) == 1 else f"{names[0]} (GPU 0 of {len(names)})"

"""oneDNN's CPU kernels on or off, as `train.onednn` says, for the process's TensorFlow.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512; on others (many
laptops, AMD's EPYCs before Zen 4) convolutions run on Eigen's, which trained the CNN 1.4-1.6x
slower on such an EPYC (README, The last digits depend on the CPU). TensorFlow reads its switch,
`TF_ENABLE_ONEDNN_OPTS`, once, as its libraries load: so the setting is made before the first
`import tensorflow`, and a process whose TensorFlow loaded with another one cannot follow it.
Either choice trains deterministically per seed; they differ in the last digits.
"""

from __future__ import annotations

import os
import sys

from mnist_pipeline.plumbing.errors import ConfigError

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def use_onednn(wanted: bool | None) -> None:
    """Set TensorFlow's oneDNN switch to `wanted` (None: leave TensorFlow's choice, or the
    environment's, alone). Once TensorFlow is loaded, a setting that differs from the one it
    loaded with is a config error, not a silent no-op: the run would record a value it did not
    train with."""
    if wanted is None:
        return
    value = "1" if wanted else "0"
    if "tensorflow" not in sys.modules:
        os.environ[ONEDNN_ENV] = value
    elif os.environ.get(ONEDNN_ENV) != value:
        raise ConfigError(
            f"train.onednn={str(wanted).lower()} cannot take effect: TensorFlow is already loaded in this "
            f"process with {ONEDNN_ENV}={os.environ.get(ONEDNN_ENV, '(unset)')}; run it in a process of its own "
            "(in one sweep, give every job the same train.onednn)"
        )

"""A progress bar within each epoch, on a terminal only.

An epoch of the CNN takes half a minute on two cores, with nothing on screen until its line.
On a terminal a bar counts the epoch's steps and then gives way to that line; anywhere else
(a log file, CI, a pipe) there is no bar, only the line per epoch. The bar shows, it never
decides: the same steps run on the same batches in the same order with or without it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

# Updates per epoch: often enough to see it move (the CNN's epoch takes half a minute; the MLP's,
# under a second, is past tqdm's 0.1 s between redraws anyway), rarely enough that the calls into
# TensorFlow between them cost little: each is 0.4-0.9 ms, so 10 add under 1% to the MLP's fit.
UPDATES_PER_EPOCH = 10


def on_terminal() -> bool:
    """Whether a bar would be seen: stdout (the epoch lines) and stderr (the bar) are both a terminal."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def steps_per_update(steps_per_epoch: int) -> int:
    """Optimizer steps between two updates of the bar."""
    return max(1, math.ceil(steps_per_epoch / UPDATES_PER_EPOCH))


@contextmanager
def epoch_bar(epoch: int, epochs: int, steps: int) -> Iterator[tqdm]:
    """A bar for one epoch of `steps` steps, on stderr, removed when the epoch ends (its line follows)."""
    bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="step", leave=False, file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()

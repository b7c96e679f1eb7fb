"""What a training loop calls after each epoch: the one hook that logging and stop rules
attach to, shared by both loops (training.py's `model.fit`, fused_loop.py)."""

from collections.abc import Callable

EpochListener = Callable[[int, dict[str, float]], None]

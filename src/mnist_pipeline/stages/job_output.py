"""A sweep job's output labelled with the job: jobs that a pool runs side by side (joblib's
workers) write to the same terminal, and their epochs and log lines would interleave with no
way to tell which job printed what.

While a job runs, every line it prints to stdout or stderr, through `print` or through the
logging handlers Hydra set up for it, starts with `[#<job number> <overrides>] `.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO

MAX_OVERRIDES = 60  # characters of the overrides in a label, so that a line stays short


def job_label(number: int | str, overrides: list[str]) -> str:
    """`[#1 model.units=32 train.epochs=1] `, the overrides cut to `MAX_OVERRIDES` characters."""
    shown = " ".join(overrides)
    if len(shown) > MAX_OVERRIDES:
        shown = shown[: MAX_OVERRIDES - 3] + "..."
    return f"[#{number} {shown}] " if shown else f"[#{number}] "


class LabelledStream(io.TextIOBase):
    """A text stream that starts each line written to `stream` with `label`."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self._at_line_start = True

    def write(self, text: str) -> int:
        pieces = []
        for line in text.splitlines(keepends=True):
            pieces.append(self.label + line if self._at_line_start else line)
            self._at_line_start = line.endswith(("\n", "\r"))
        self.stream.write("".join(pieces))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def _retarget_handlers(old: TextIO, new: TextIO) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(new)


def label_output(label: str) -> None:
    """From now on, this process's lines on stdout and stderr start with `label`."""
    unlabel_output()
    for name in ("stdout", "stderr"):
        plain = getattr(sys, name)
        labelled = LabelledStream(plain, label)
        _retarget_handlers(plain, labelled)
        setattr(sys, name, labelled)


def unlabel_output() -> None:
    """Undo `label_output` (a pool's worker runs the next job with that job's label)."""
    for name in ("stdout", "stderr"):
        labelled = getattr(sys, name)
        if isinstance(labelled, LabelledStream):
            labelled.flush()
            _retarget_handlers(labelled, labelled.stream)
            setattr(sys, name, labelled.stream)

"""What every entry point shares: run a function, turn a `PipelineError` into one line and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from mnist_pipeline.errors import PipelineError

T = TypeVar("T")


def run_or_exit(task: Callable[[], T]) -> T:
    try:
        return task()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None

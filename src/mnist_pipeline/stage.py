"""What every entry point shares: run a function, turn a `PipelineError` into one line and exit 1,
and leave a profile record when benchmarks ask for one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.profiling import write_profile

T = TypeVar("T")


def run_or_exit(task: Callable[[], T]) -> T:
    try:
        result = task()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    write_profile(Path(sys.argv[0]).stem)
    return result

"""Where a stage's time goes, for benchmarks: opt in with $MNIST_PIPELINE_PROFILE=<file>.

Each stage process then appends one JSON line at exit: its wall time since the process
started (imports included), its peak RSS, whether it loaded TensorFlow, and the seconds
spent in named phases.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

PROFILE_ENV = "MNIST_PIPELINE_PROFILE"
_phases: dict[str, float] = defaultdict(float)
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's duration to phase `name` (phases may nest; each is counted on its own)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _phases[name] += time.perf_counter() - start


def timed(name: str) -> Callable[[F], F]:
    """Decorator form of `phase`."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with phase(name):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def seconds_since_start() -> float:
    """Wall seconds since this process started, interpreter start-up included.

    From the kernel's start time in clock ticks since boot (exact to 10 ms) where there is
    /proc; psutil's create_time() adds the boot time, which Linux rounds to whole seconds.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        import psutil

        return time.time() - psutil.Process().create_time()


def write_profile(stage: str) -> None:
    """Append this process's profile to $MNIST_PIPELINE_PROFILE, if set."""
    target = os.environ.get(PROFILE_ENV)
    if not target:
        return
    record = {
        "stage": stage,
        "wall_s": seconds_since_start(),
        "peak_rss_mib": peak_rss_mib(),
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "phases_s": dict(_phases),
    }
    with Path(target).open("a") as f:
        f.write(json.dumps(record) + "\n")

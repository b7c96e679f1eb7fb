"""What every entry point shares: one-line errors, SIGTERM handled like Ctrl-C, and a profile
record when benchmarks ask for one.

A stage that DVC runs dies with DVC: when `dvc repro` (or a sweep's `dvc repro`) is killed,
its stage gets SIGTERM (whatever shell DVC ran it through) and unwinds as on Ctrl-C, instead
of running on with no one waiting.

A `PipelineError` becomes `error: ...` on stderr and exit status 1. Ctrl-C and SIGTERM (what
a job scheduler, `docker stop` or `kill` send) both unwind the stage (interrupts.py): the
MLflow run in progress ends KILLED and the exit status is 128 + the signal number, as a
shell reports a process the signal killed.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from mnist_pipeline.plumbing.children import die_with_runner
from mnist_pipeline.plumbing.errors import PipelineError
from mnist_pipeline.plumbing.interrupts import Interrupted, handle_interrupts
from mnist_pipeline.plumbing.profiling import write_profile
from mnist_pipeline.plumbing.workspace import DVC_ROOT_ENV

T = TypeVar("T")


def exit_on_interrupt(task: Callable[[], T]) -> T:
    """Run `task`; Ctrl-C or SIGTERM end the process with one line and 128 + the signal number.

    Other exceptions pass: a sweep job's failure is Hydra's to record, and the sweep goes on.
    """
    handle_interrupts()
    if os.environ.get(DVC_ROOT_ENV):
        die_with_runner(signal.SIGTERM)
    try:
        return task()
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(
            f"error: stopped by {signal.Signals(signum).name}; nothing half-written was kept, run the command again",
            file=sys.stderr,
        )
        raise SystemExit(128 + signum) from None


_profile_due = False  # the process's profile record is registered to be written at exit


def run_or_exit(task: Callable[[], T]) -> T:
    """`exit_on_interrupt`, and a `PipelineError` becomes one line and exit status 1.

    The process's profile record is written as it exits: one record for the whole process,
    however many tasks a command runs this way (the CLI finds the workspace, then works)."""
    global _profile_due
    if not _profile_due:
        _profile_due = True
        atexit.register(write_profile, Path(sys.argv[0]).stem)
    try:
        return exit_on_interrupt(task)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def exit_without_teardown() -> NoReturn:
    """End a process that finished as Python would, but for its teardown of every loaded module:
    wait for the threads that are not daemons and run threading's exit hooks (they shut down
    process pools: joblib's workers would otherwise wait out their idle timeout, 300 s), run
    the exit handlers (MLflow's, logging's), flush the output, and leave. That teardown writes
    nothing, and costs about 0.8 s after TensorFlow and 0.4 s after MLflow (measured; README,
    Speed), more after a sweep."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Python's own exit runs first
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

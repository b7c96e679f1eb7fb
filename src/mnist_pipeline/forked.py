"""Side work in a forked child process, beside a stage's own work.

The evaluate stage draws its pictures (matplotlib, about 0.8 s) while it imports MLflow and
opens the run (about 1.7 s of Python): with two cores the pictures then cost no wall time.
A forked child starts from the parent's memory as it is, so the test images are not copied
or pickled. Fork is only safe before a process starts threads (TensorFlow's, MLflow's), so
elsewhere (in a sweep job, or without fork) the task just runs in place, first.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from mnist_pipeline.errors import PipelineError, one_line
from mnist_pipeline.profiling import phase


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


@contextmanager
def beside(task: Callable[[], object], what: str) -> Iterator[Callable[[], None]]:
    """Start `task` in a forked child and yield `wait`: it blocks until the child is done and
    raises its failure as a one-line `PipelineError` naming `what`. Leaving the block before
    waiting (an error, Ctrl-C) stops the child; it cleans up as the task would on an error."""
    if not can_fork():
        task()
        yield lambda: None
        return
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(task, send), name=what, daemon=True)
    child.start()
    send.close()

    def wait() -> None:
        with phase(f"wait_{what}"):
            child.join()
        if child.exitcode != 0:
            reason = receive.recv() if receive.poll() else f"exit status {child.exitcode}"
            raise PipelineError(f"{what} failed: {reason}")

    try:
        yield wait
    finally:
        if child.is_alive():
            child.terminate()
            child.join()
        receive.close()


def _run(task: Callable[[], object], report: Connection) -> None:
    """In the child: the task, its failure (if any) sent as one line, and out without running
    the parent's exit handlers or teardown a second time."""
    try:
        task()
    except BaseException as exc:  # a Ctrl-C too: the parent decides what it means
        report.send(one_line(exc, 300))
        report.close()
        os._exit(1)
    report.close()
    os._exit(0)

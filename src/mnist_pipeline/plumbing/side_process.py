"""Side work in a child process, on the machine's other core, beside a stage's own work.

The stages draw their pictures there: evaluate while it imports MLflow and opens the run
(about 1.7 s of Python), train while it scores the test set and saves the model; before that,
train builds the test set's variants there while it imports TensorFlow. The child starts when
the stage does and imports matplotlib straight away, so that when the drawing arrives only the
drawing is left; it runs its tasks one after another, in the order given. It is forked where
that is safe (POSIX, before TensorFlow or MLflow start threads), else spawned; either way each
task and its arguments are pickled.

The child dies with the stage, however the stage ends (children.py): a stage that fails or
is interrupted terminates it at once; one that is killed takes it along. A process that runs
job after job (a sweep's) calls `keep_between_blocks()`: the child then outlives its block and
the next block takes it over, warm, instead of starting one of its own (with TensorFlow's
threads running, a new child is spawned: a fresh interpreter and its imports, about a second
of CPU, twice a job).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from mnist_pipeline.plumbing.children import quiet_child
from mnist_pipeline.plumbing.errors import PipelineError, one_line
from mnist_pipeline.plumbing.full_disk import is_disk_full
from mnist_pipeline.plumbing.profiling import phase

_keeping = False  # keep_between_blocks() was called: a block's child outlives it
_kept: ProcessPoolExecutor | None = None  # the child the last block left, for the next one


def keep_between_blocks() -> None:
    """From now on, a `SideProcess` block that ends normally leaves its child running, and the
    next block takes it over. The child still dies with this process (children.py), and this
    process's exit shuts it down first: in a worker that is itself a multiprocessing child (a
    joblib sweep's), Python 3.11 and 3.12 join every child before the pool's own shutdown, and
    the kept child, waiting for its next task, would never end."""
    global _keeping
    if not _keeping:
        # Before the pool's queues are closed by their own exit hooks (priority 10), or they drop the goodbye.
        multiprocessing.util.Finalize(None, _shut_down_kept, exitpriority=100)
    _keeping = True


def _shut_down_kept() -> None:
    global _kept
    pool, _kept = _kept, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def start_method() -> str:
    """fork where it is safe (POSIX, no thread started yet), else spawn."""
    safe = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    return "fork" if safe else "spawn"


class SideTask:
    """A task given to a `SideProcess`: `wait()` for what it returned."""

    def __init__(self, what: str, future: Future[Any]) -> None:
        self._what = what
        self._future = future

    def wait(self) -> Any:
        """Block until the task is done and return what it returned; its failure becomes a
        one-line `PipelineError` (a full disk is raised as it is, for the stage to say where; a
        `PipelineError` as it is, for its message names the fix)."""
        with phase("side_process_wait"):
            error = self._future.exception()
        if error is not None and (is_disk_full(error) or isinstance(error, PipelineError)):
            raise error  # the disk's fault, named by the stage (full_disk.py), or the task's own word
        if error is not None:
            raise PipelineError(f"{self._what} failed: {one_line(error, 300)}")
        return self._future.result()


class SideProcess:
    """One child process, started at once and warmed up by `warm_up` (its imports), that runs
    the tasks given later one after another; none when not `needed`. Leaving the block normally
    waits for the child to finish and exit; leaving it on an exception terminates the child."""

    def __init__(self, warm_up: Callable[[], object], needed: bool = True) -> None:
        global _kept
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: list[Future[Any]] = []
        if not needed:
            return
        pool, _kept = _kept, None
        if pool is not None:
            try:
                self._tasks.append(pool.submit(warm_up))  # a no-op but for what the last block did not import
                self._pool = pool
                return
            except BrokenProcessPool:  # the kept child died (killed, out of memory): start another
                pass
        context = multiprocessing.get_context(start_method())
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=quiet_child, initargs=(os.getpid(),))
        self._tasks.append(self._pool.submit(warm_up))  # starts the child now

    def start(self, what: str, task: Callable[..., object], *args: Any) -> SideTask:
        """Run `task(*args)` in the child, once the tasks given before are done; `what` names it in an error."""
        if self._pool is None:
            raise RuntimeError("this SideProcess was created as not needed")
        self._tasks.append(self._pool.submit(task, *args))
        return SideTask(what, self._tasks[-1])

    def __enter__(self) -> SideProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _kept
        if self._pool is None:
            return
        if exc_type is not None:
            _terminate_workers(self._pool)
        elif _keeping:
            wait_for(self._tasks)  # what the block gave the child is done; the child waits for the next block
            _kept = self._pool
            return
        self._pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's children now rather than after their task (`terminate_workers` is
    Python 3.14's; before it, the pool's own table of processes)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()

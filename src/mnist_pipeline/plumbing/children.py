"""Child processes that die with their parent, however the parent dies, and stay quiet on a signal.

A child the kernel does not tie to its parent outlives a SIGKILL of that parent (parent PID 1,
holding memory, blocked on a pipe nobody writes). `die_with_parent` ties it: on Linux the
kernel signals the child when its parent exits (`prctl(PR_SET_PDEATHSIG)`); elsewhere a
daemon thread in the child watches its parent's PID. `die_with_runner` ties a command to
the program that ran it through a shell: DVC runs a stage as `$SHELL -c CMD`, and dash (Debian's
`/bin/sh`) forks the command instead of replacing itself, so the stage's parent is a shell that
nothing ties to DVC. `quiet_child` leaves Ctrl-C and SIGTERM to the parent, which prints the
one line and ends its children itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import psutil

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved in the parent: a child between fork and exec should do as little as it can.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_watched: set[int] = set()  # parents a thread of this process watches (where prctl is not there)
# What DVC (or anything else) may run a command through: `sh -c`, `bash -c`, ...
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"})


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Make this process get `signum` when process `parent` (its parent) exits; exit now if it
    already has (it died between the fork and this call)."""
    if (_prctl is None or _prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0) and parent not in _watched:
        _watched.add(parent)  # one thread per parent, however many times (a pool worker: once per job)
        threading.Thread(target=_watch, args=(parent, signum), daemon=True, name="watch-parent").start()
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def _watch(parent: int, signum: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signum)


def die_with_runner(signum: int = signal.SIGKILL) -> None:
    """Make this process get `signum` when the program that started it exits, whether it started
    it directly or through shells (`sh -c`, which may fork rather than exec)."""
    import psutil  # only a stage's start needs it, not every process that ties a child (predict's workers)

    parent = psutil.Process(os.getppid())
    die_with_parent(parent.pid, signum)
    runner = parent
    while runner.name() in _SHELLS and (above := runner.parent()) is not None and above.pid > 1:
        runner = above
    if runner.pid != parent.pid:
        threading.Thread(target=_wait_for_exit, args=(runner, signum), daemon=True, name="watch-runner").start()


def _wait_for_exit(runner: psutil.Process, signum: int) -> None:
    """Send `signum` to this process once `runner` (any process, not only the parent) has exited."""
    try:
        handle = os.pidfd_open(runner.pid)  # Linux 5.3+: readable once the process exits
    except (AttributeError, OSError):  # elsewhere: poll (is_running also sees a reused PID)
        while runner.is_running():
            time.sleep(0.5)
    else:
        if runner.is_running():  # the PID is still the runner's, not a newer process's
            select.select([handle], [], [])
        os.close(handle)
    os.kill(os.getpid(), signum)


def tied_to_this_process(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess`: the command it starts dies (with `signum`) when this process does."""
    return functools.partial(die_with_parent, os.getpid(), signum)


def quiet_child(parent: int) -> None:
    """First call in a worker process: tied to `parent`; Ctrl-C (sent to the whole terminal
    group) ignored, SIGTERM ending it at once without a traceback. The parent reports the signal."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_in_forked_workers(func: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """`func` of each item, in order: in `workers` processes forked from this one (quiet_child),
    or here with fewer than two workers or where fork does not exist (func must be picklable)."""
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [func(item) for item in items]
    with multiprocessing.get_context("fork").Pool(workers, quiet_child, (os.getpid(),)) as pool:
        return pool.map(func, items, chunksize=max(1, len(items) // (8 * workers)))

"""A pytest plugin (loaded by conftest.py): the suite fails if any test leaves a process behind.

On Linux this pytest process becomes a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`): a
process orphaned anywhere below it, say the picture child of a stage a test SIGKILLed, is
re-parented to it instead of to PID 1, so `descendants()` sees everything the tests started.
After each test the new ones are noted with the test's id; whatever is still alive when the
session ends is listed, killed, and fails the run.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from multiprocessing import resource_tracker

import psutil
import pytest

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
_first_seen: dict[int, str] = {}  # pid -> the test after which it was first seen
_WORKER_KEY = "process_leaks"  # what a pytest-xdist worker hands its controller
_from_workers: list[str] = []


def descendants() -> list[psutil.Process]:
    """This process's live descendants; zombies (finished, not yet reaped) are reaped, not counted.
    Not counted either: this process's own multiprocessing resource tracker, which lives as long as
    the process by design (it starts once something here spawns a process, e.g. a side process
    under an xdist worker, whose threads rule out fork)."""
    alive = []
    own_tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
    for child in psutil.Process().children(recursive=True):
        if child.pid == own_tracker:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                if child.ppid() == os.getpid():
                    os.waitpid(child.pid, os.WNOHANG)
                continue
            alive.append(child)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue
    return alive


def pytest_configure(config: pytest.Config) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    yield
    for process in descendants():
        _first_seen.setdefault(process.pid, item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller reports for all of them
        workeroutput[_WORKER_KEY] = _kill_leftovers()
        return
    # The xdist controller runs no test (its children are the workers, exiting now): it reports theirs.
    distributing = session.config.pluginmanager.has_plugin("dsession")
    lines = _from_workers if distributing else _kill_leftovers()
    if lines:
        sys.stderr.write("\nerror: tests left processes running (now killed):\n" + "\n".join(lines) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist's controller, as each worker ends: what that worker found left behind."""
    _from_workers.extend(getattr(node, "workeroutput", {}).get(_WORKER_KEY, []))


def _command_of(process: psutil.Process) -> str:
    """Its command line. An empty one is read again for up to a second: a process caught right
    after its parent's fork returned may still be inside exec, its new arguments not laid out yet."""
    deadline = time.monotonic() + 1
    while not (args := process.cmdline()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return " ".join(args)[:200] or process.name()


def _kill_leftovers() -> list[str]:
    """Kill this process's live descendants; a line for each, naming the test it outlived."""
    leaked = descendants()
    lines = []
    for process in leaked:
        try:
            command = _command_of(process)
            process.kill()
        except psutil.NoSuchProcess:
            continue
        lines.append(f"  pid {process.pid} ({command}), first seen after {_first_seen.get(process.pid, '?')}")
    psutil.wait_procs(leaked, timeout=10)
    descendants()  # reap them
    return lines

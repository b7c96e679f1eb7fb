"""Ctrl-C and SIGTERM as one clean way out, held back while a write must not be cut in half.

`handle_interrupts()` (called by every entry point, through stage.py) makes SIGINT and
SIGTERM raise `Interrupted`, a `KeyboardInterrupt`, in the main thread: with-blocks clean
up, the MLflow run in progress ends KILLED and the process exits with 128 + the signal
number. Inside `uninterrupted()` a signal is only noted, and raised when the block ends:
MLflow's writes run there, because an exception in the middle of a SQLite write leaves the
database locked for every later write, including the one that marks the run KILLED.

A signal is not lost to a dropped raise: Python runs the handler between any two bytecodes,
a finalizer's (`__del__`, a weakref callback) included, and drops what a finalizer raises
("Exception ignored in ..."). Long loops therefore call `raise_if_interrupted()`, which raises
a signal received earlier once more.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_held = 0  # depth of nested `uninterrupted()` blocks
_pending: list[int] = []  # signals that arrived while held
_received: int | None = None  # the first signal this process got: it is on its way out


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread; `str()` is the signal's name."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signum
    if _held:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def handle_interrupts() -> None:
    """Route SIGINT and SIGTERM to `Interrupted`; a signal this process was started with
    ignored (or one another library handles) is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(signum) in (default, _on_signal):
            signal.signal(signum, _on_signal)


def raise_if_interrupted() -> None:
    """Raise `Interrupted` if a signal was received, in case the first raise was dropped; outside
    `uninterrupted()` blocks (where the signal waits for the block's end), and in the main thread."""
    if _received is not None and not _held and threading.current_thread() is threading.main_thread():
        raise Interrupted(_received)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Run the block whole: a signal arriving meanwhile is raised when it ends (also a decorator).

    Only the main thread is held: Python raises signals there alone, so other threads (the
    MLflow thread of tracking_thread.py) are never cut in half, and must not defer the main
    thread's signals or have them raised in their own frames.
    """
    global _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if not _held and _pending:
        signum = _pending[0]
        _pending.clear()
        raise Interrupted(signum)

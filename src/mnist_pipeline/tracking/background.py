"""MLflow on a thread of its own, so that its start-up and its writes overlap training.

Importing MLflow and opening its SQLite store cost about 2 s of Python in every process,
while training leaves the interpreter idle: the fused loop (fused_loop.py) runs a whole
epoch per call into TensorFlow, which releases the GIL and uses one core. The train stage
therefore queues its MLflow work to one background thread, started at the end of the first
epoch, and goes on training. The calls run there one at a time, in the order they were
queued (MLflow's active run belongs to the thread that started it).

Failures are not lost: once a call fails the later ones are skipped (a run never records
what was meant to follow the part that failed), `poll()` (called at each epoch's end) raises the first one, so a store
that cannot be reached stops training early, and leaving the block waits for every queued
call, closes the run (FINISHED, FAILED or KILLED, as `tracking.pipeline_run` decides) and
raises the first failure. Signals are only ever raised in the main thread, so a write on
this thread is never cut in half by Ctrl-C or SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mnist_pipeline.plumbing.interrupts import uninterrupted
from mnist_pipeline.plumbing.profiling import phase

if TYPE_CHECKING:
    from mnist_pipeline.tracking.store import TrackedRun


class BackgroundRun:
    """A `TrackedRun` whose logging calls are queued to a background thread and return at once."""

    def __init__(self, open_run: Callable[[], AbstractContextManager[TrackedRun]]) -> None:
        self._open_run = open_run
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")
        self._closer = ExitStack()
        self._run: Future[TrackedRun] | None = None
        self._queued: list[Callable[[], Any]] = []  # calls made before `start()`
        self._calls: list[Future[Any]] = []

    def start(self) -> None:
        """Open the run and work through the calls queued so far; later calls follow as they come.

        Deferred, so that it can wait for the first epoch's end: until then TensorFlow traces
        the training step, Python work that an MLflow thread would only slow down.
        """
        if self._run is not None:
            return
        self._run = self._worker.submit(lambda: self._closer.enter_context(self._open_run()))
        self._calls += [self._worker.submit(call) for call in self._queued]
        self._queued.clear()

    def _futures(self) -> list[Future[Any]]:
        self.start()
        assert self._run is not None
        return [self._run, *self._calls]

    @property
    def run_id(self) -> str:
        with phase("mlflow_wait"):
            return self._futures()[0].result().run_id

    def __getattr__(self, method: str) -> Callable[..., None]:
        """`run.log_params(...)`, `run.log_epoch(...)` and every other `TrackedRun` method, queued."""
        if method.startswith("_"):
            raise AttributeError(method)

        def call_on_run(*args: Any, **kwargs: Any) -> Any:
            assert self._run is not None
            if any(call.done() and call.exception() is not None for call in list(self._calls)):
                raise RuntimeError(f"{method} skipped: an earlier MLflow call failed")
            return getattr(self._run.result(), method)(*args, **kwargs)

        def queue(*args: Any, **kwargs: Any) -> None:
            if self._run is None:
                self._queued.append(lambda: call_on_run(*args, **kwargs))
            else:
                self._calls.append(self._worker.submit(call_on_run, *args, **kwargs))

        return queue

    def poll(self) -> None:
        """`start()`, and raise the first failure among the calls that have run so far; never waits."""
        for call in self._futures():
            if call.done() and call.exception() is not None:
                raise call.exception()  # type: ignore[misc]

    def wait(self) -> None:
        """Wait until every queued call has run; raise the first failure."""
        with phase("mlflow_wait"):
            for call in self._futures():
                call.result()

    def __enter__(self) -> BackgroundRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with uninterrupted(), phase("mlflow_wait"):  # a second Ctrl-C waits until the run is closed
            try:
                futures = self._futures()
                failures = [f.exception() for f in futures]
                failure = next((f for f in failures if f is not None), None)
                if failures[0] is None:  # opened: close it with the first problem, if any
                    self._worker.submit(self._close, exc or failure).result()
            finally:
                self._worker.shutdown()
        if exc is None and failure is not None:
            raise failure

    def _close(self, cause: BaseException | None) -> None:
        """On the MLflow thread: leave `open_run`'s block as if `cause` had been raised in it."""
        if cause is None:
            self._closer.close()
        else:
            self._closer.__exit__(type(cause), cause, cause.__traceback__)

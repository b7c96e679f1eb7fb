"""A failed sweep job's traceback, in the job's own log file rather than on the terminal.

Hydra's job logging (`hydra/job_logging`) gives each job `<job folder>/<job name>.log`; the
traceback is written there through that file handler alone (its console handler would print
it again), so stderr keeps the one line that names the file.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

LOGGER = "mnist_pipeline.sweep"


def write_traceback(exc: BaseException, job_dir: Path, job_name: str) -> Path:
    """Append `exc` with its traceback to the job's log file; returns that file."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not handlers:  # job logging turned off (hydra/job_logging=disabled): the file Hydra would have written
        path = job_dir / f"{job_name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as log:
            log.write("".join(traceback.format_exception(exc)))
        return path
    info = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord(LOGGER, logging.ERROR, __file__, 0, "job failed", None, info)
    for handler in handlers:
        handler.handle(record)
        handler.flush()
    return Path(handlers[0].baseFilename)

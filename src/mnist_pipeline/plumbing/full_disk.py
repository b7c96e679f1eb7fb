"""A full disk, wherever it strikes, as one line naming the place: the one place where a write
that failed for want of space (`OSError` ENOSPC, SQLite's "database or disk is full", however
deep MLflow and SQLAlchemy wrap it) becomes `DiskFullError`.

Every stage runs its work inside `reporting_disk_full(places...)`, listing where it writes:
its outputs, the MLflow store, the artifact store. The place named is the one the failed
write was aimed at when the error says (a copy's destination), else the listed place whose
file system has the least room left; the system temp folder is always a candidate.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mnist_pipeline.plumbing.errors import DiskFullError

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What SQLite says when a write finds no room (its SQLITE_FULL), whichever wrapper carries it.
_SQLITE_FULL = "database or disk is full"
# NumPy's `np.save` (ndarray.tofile) raises an OSError without an errno when a write falls short.
_NUMPY_FULL = "Not enough free space to write"


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from or while handling, is a write that
    found no room left."""
    return _disk_full_error(exc) is not None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _disk_full_error(exc: BaseException) -> BaseException | None:
    for link in _chain(exc):
        if isinstance(link, OSError) and (link.errno in _FULL_ERRNOS or str(link).startswith(_NUMPY_FULL)):
            return link
        if isinstance(link, sqlite3.Error) and (
            getattr(link, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or _SQLITE_FULL in str(link)
        ):
            return link
    return None


def _room(place: Path) -> int:
    """Bytes free to this process on the file system that holds `place` (or its nearest existing folder)."""
    for folder in (place, *place.parents):
        try:
            stats = os.statvfs(folder)
        except OSError:
            continue
        return stats.f_bavail * stats.f_frsize
    return 0


def full_place(exc: BaseException, places: list[Path]) -> Path:
    """The place a disk-full `exc` hit: the listed place holding the path the error names
    (a copy's destination first), else the place on the file system with the least room."""
    candidates = [Path(p).absolute() for p in places] + [Path(tempfile.gettempdir())]
    error = _disk_full_error(exc)
    named = [getattr(error, "filename2", None), getattr(error, "filename", None)] if error is not None else []
    for name in filter(None, named):
        target = Path(os.fsdecode(name)).absolute()
        holders = [p for p in candidates if target == p or p in target.parents]
        if holders:
            return max(holders, key=lambda p: len(p.parts))  # the most specific
    return min(candidates, key=_room)  # ties: the first listed


@contextmanager
def reporting_disk_full(*places: Path) -> Iterator[None]:
    """A full disk while the block writes under `places` becomes one line naming the place
    (the block's atomic writes have removed their partial files by then)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        where = full_place(exc, list(places))
        raise DiskFullError(f"{where}: no space left on device; free some space and run again") from None

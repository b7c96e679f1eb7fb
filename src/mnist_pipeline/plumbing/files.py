"""Atomic file and folder writes, so an interrupted stage never leaves a complete-looking output;
and an exclusive lock for work that only one process at a time may do."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mnist_pipeline.plumbing.errors import DiskFullError


def shown(path: Path) -> str:
    """`path` for a message: relative to the current folder (the repository root, where the
    commands run) when inside it, else as given."""
    relative = os.path.relpath(path.resolve())
    return str(path) if relative.startswith("..") else relative


def folder_digest(folder: Path) -> str:
    """SHA-256 over a folder's files (relative names and bytes, in name order): the same
    content gives the same digest wherever the folder is."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield an unused path beside `path` to write; it becomes `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path, scratch: Path | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path` (or in `scratch`, a folder on the same
    file system, so that no temporary folder shows in the repository); it replaces `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path) if scratch is None else scratch / _sibling(path).name
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def reporting_disk_full(where: Path) -> Iterator[None]:
    """A full disk while the block writes under `where` becomes one line naming the place
    (the block's atomic writes have removed their partial files by then)."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFullError(f"{where}: no space left on device; free some space and run again") from None


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if needed); other processes wait.

    The operating system releases it when the holder exits, however it exits, so a killed
    process never leaves it stuck.
    """
    import fcntl  # POSIX only; imported here so that the rest of this module works anywhere

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _sibling(path: Path) -> Path:
    """A unique hidden name in the same folder (same file system, so the rename is atomic).

    Not created here: the writer creates it with the usual permissions (mkstemp's are 0600).
    """
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")

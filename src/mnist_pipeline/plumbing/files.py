"""Atomic file and folder writes, so an interrupted stage never leaves a complete-looking output;
and an exclusive lock for work that only one process at a time may do."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
def staged(path: Path, scratch: Path) -> Iterator[Path]:
    """Yield `path`'s name in a new folder under `scratch` (same file system), to write and read
    back (an MLflow artifact keeps its name); it replaces `path` only if the block succeeds, so a
    stage that fails leaves neither a new file nor a temporary one."""
    folder = scratch / _sibling(path).name
    folder.mkdir(parents=True)
    try:
        yield folder / path.name
        if (folder / path.name).exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.rmtree(path)
            os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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

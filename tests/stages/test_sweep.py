"""Real Hydra multiruns in a temporary copy of the repository: a parent MLflow run per sweep,
a nested child run per job, parallel (joblib) jobs equal to sequential ones, failing jobs.
(Optuna studies: test_study_sweep.py, and tests/team/test_shared_study.py on PostgreSQL.)"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, set_conf

pytestmark = pytest.mark.slow
PARENT = "mlflow.parentRunId"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str]]:
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    env = pipeline_env(mnist_mirror)
    set_conf(repo, "data/mnist.yaml", subset=1000)
    run(["mnist-pipeline", "params"], repo, env)
    return repo, env


# A sweep's command returns once its jobs are done: far within this (a joblib sweep whose
# workers were left to their idle timeout took 300 s more, its jobs long finished).
SWEEP_TIMEOUT_S = 240


def sweep(repo: Path, env: dict[str, str], *args: str, check: bool = True):
    return run([sys.executable, "pipelines/sweep.py", "-m", *args], repo, env, check=check, timeout=SWEEP_TIMEOUT_S)


def runs_of(uri: str) -> tuple[MlflowClient, list]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None
    return client, client.search_runs([experiment.experiment_id])


def combo(tracked) -> tuple[str, str]:
    return tracked.data.params["model.units"], tracked.data.params["train.epochs"]


@pytest.fixture(scope="module")
def parallel(repo: tuple[Path, dict[str, str]]) -> tuple[MlflowClient, list, str]:
    """A 2x2 sweep with two parallel joblib workers, started with no MLflow store at all, its
    jobs registering their models (not the default); also what it printed."""
    path, env = repo
    assert not (path / "mlflow.db").exists()
    done = sweep(
        path,
        env,
        "model.units=16,32",
        "train.epochs=1,2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "registry.register_sweep_jobs=true",
    )
    return (*runs_of(f"sqlite:///{path / 'mlflow.db'}"), done.stdout + done.stderr)


def test_each_line_a_parallel_job_prints_names_the_job(parallel) -> None:
    """Two workers print side by side: every epoch line starts with its job's number and overrides."""
    *_, output = parallel
    epochs = [line for line in output.splitlines() if "Epoch " in line]
    assert len(epochs) == 6, output  # 1 + 2 epochs for each of the two widths
    jobs = {"0": ("16", "1"), "1": ("16", "2"), "2": ("32", "1"), "3": ("32", "2")}  # Hydra's order
    for line in epochs:
        labelled = re.match(r"\[#(\d) model\.units=(\d+) train\.epochs=(\d) [^\]]*\] Epoch \d/(\d) - ", line)
        assert labelled, line
        number, units, epochs_of_job, epochs_shown = labelled.groups()
        assert jobs[number] == (units, epochs_of_job) and epochs_shown == epochs_of_job, line
    noise = ("retracing", "absl::InitializeLog()", "tf2onnx")  # TensorFlow's and the ONNX converter's chatter
    assert [line for line in output.splitlines() if any(word in line for word in noise)] == []


def test_parallel_sweep_is_one_parent_with_four_nested_children(parallel, repo) -> None:
    client, runs, _ = parallel
    parents = [r for r in runs if PARENT not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 5
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get(PARENT) == parent.info.run_id]
    assert sorted(map(combo, children)) == [("16", "1"), ("16", "2"), ("32", "1"), ("32", "2")]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "sweep-u16,32-e1,2"
    swept = {"model.units": "16,32", "train.epochs": "1,2", "registry.register_sweep_jobs": "true"}
    assert parent.data.params == swept  # the sweep's overrides
    assert parent.data.tags["sweep.launcher"] == "joblib" and parent.data.tags["sweep.failed_jobs"] == "0"
    for child in children:
        units, epochs = combo(child)
        assert child.info.status == "FINISHED"
        assert child.info.run_name == f"mlp-u{units}-e{epochs}"
        assert child.data.tags["launched_by"] == "sweep"
        assert child.data.tags["data.source"] == "dvc:preprocess"  # the shared, DVC-tracked data
        assert 0.3 < child.data.metrics["test_accuracy"] <= 1.0
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == int(epochs)
        hydra_files = {a.path for a in client.list_artifacts(child.info.run_id, "config/hydra")}
        assert hydra_files == {f"config/hydra/{f}" for f in ("config.yaml", "hydra.yaml", "overrides.yaml")}
        figures = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(child.info.run_id, "figures")}
        assert figures == {"training_curves.png", "confusion_matrix.png", "misclassified.png", "sample_predictions.png"}
    best = max(children, key=lambda r: r.data.metrics["val_accuracy"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_val_accuracy"] == best.data.metrics["val_accuracy"]
    assert parent.data.metrics["best_test_accuracy"] == best.data.metrics["test_accuracy"]
    assert "sweep_runs.txt" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    # Four jobs registered concurrently (registry.register_sweep_jobs=true); the champion is
    # still the best test accuracy.
    assert len(client.search_model_versions("name = 'mnist-classifier'")) == 4
    champion = client.get_model_version_by_alias("mnist-classifier", "champion")
    assert champion.run_id == max(children, key=lambda r: r.data.metrics["test_accuracy"]).info.run_id
    path, _ = repo
    assert not list((path / "outputs").rglob("x_train.npy"))  # no job preprocessed its own copy


def test_sequential_sweep_matches_parallel_and_survives_failing_jobs(parallel, repo, tmp_path: Path) -> None:
    path, env = repo
    uri = f"sqlite:///{tmp_path / 'sequential.db'}"
    done = sweep(path, {**env, "MLFLOW_TRACKING_URI": uri}, "model.units=0,32", "train.epochs=1,2", check=False)
    assert done.returncode != 0
    assert "job 0 (model.units=0 train.epochs=1) failed: model.units=0 must be > 0" in done.stderr
    client, runs = runs_of(uri)
    assert not client.search_registered_models()  # by default a sweep's jobs register nothing
    parent = next(r for r in runs if PARENT not in r.data.tags)
    children = [r for r in runs if r is not parent]
    failed = [r for r in children if r.info.status == "FAILED"]
    assert sorted(map(combo, failed)) == [("0", "1"), ("0", "2")]
    assert all("model.units=0 must be > 0" in r.data.tags["error"] for r in failed)
    finished = {combo(r): r.data.metrics for r in children if r.info.status == "FINISHED"}
    assert sorted(finished) == [("32", "1"), ("32", "2")]  # the jobs after the failures ran too
    assert parent.info.status == "FINISHED" and parent.data.tags["sweep.failed_jobs"] == "2"
    # Same seeds, same data: each job gives what its parallel twin gave.
    _, parallel_runs, _ = parallel
    for twin in (r for r in parallel_runs if PARENT in r.data.tags and combo(r) in finished):
        for key in ("val_accuracy", "test_accuracy", "test_loss"):
            assert finished[combo(twin)][key] == pytest.approx(twin.data.metrics[key], abs=1e-6), key


def test_a_failed_job_is_one_line_naming_its_log_which_holds_the_traceback(repo, tmp_path: Path) -> None:
    """Hydra's own report of a failed job (its overrides, then a traceback) is not printed: each
    job says what failed in one line, its traceback goes to the job's log file."""
    path, env = repo
    uri = f"sqlite:///{tmp_path / 'failing.db'}"
    MlflowClient(uri).search_experiments()  # an existing store (a new one logs its table creation)
    done = sweep(path, {**env, "MLFLOW_TRACKING_URI": uri}, "model.units=0,-1", "train.epochs=1", check=False)
    assert done.returncode == 1
    line = re.compile(
        r"error: sweep job (\d) \(model\.units=(-?\d) train\.epochs=1\) failed: model\.units=\2 must be > 0; "
        r"traceback in (outputs/multirun/[^/]+/\1/sweep\.log)"
    )
    matches = [line.fullmatch(text) for text in done.stderr.splitlines()]
    assert len(matches) == 2 and all(matches), done.stderr
    for number, (match, units) in enumerate(zip(matches, ("0", "-1"), strict=True)):
        assert match[1] == str(number) and match[2] == units
        log = (path / match[3]).read_text()
        assert "Traceback (most recent call last):" in log
        assert log.rstrip().endswith(f"ConfigError: model.units={units} must be > 0")
    _, runs = runs_of(uri)
    children = [r for r in runs if PARENT in r.data.tags]
    assert sorted(r.info.status for r in children) == ["FAILED", "FAILED"]


def test_submitit_jobs_match_their_parallel_twins_and_fail_alone(parallel, repo, tmp_path: Path) -> None:
    """`hydra/launcher=submitit_local`: each job in its own process started by submitit, as on
    SLURM (`submitit_slurm`) but on this machine; the same callback, parent and children."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the [cluster] extra is not installed")
    path, env = repo
    uri = f"sqlite:///{tmp_path / 'submitit.db'}"
    done = sweep(
        path,
        {**env, "MLFLOW_TRACKING_URI": uri},
        "model.units=0,16",
        "train.epochs=1",
        "hydra/launcher=submitit_local",
        check=False,
    )
    assert done.returncode != 0
    _, runs = runs_of(uri)
    parent = next(r for r in runs if PARENT not in r.data.tags)
    assert parent.data.tags["sweep.launcher"] == "submitit_local" and parent.data.tags["sweep.failed_jobs"] == "1"
    by_combo = {combo(r): r for r in runs if r is not parent}
    assert by_combo[("0", "1")].info.status == "FAILED" and by_combo[("16", "1")].info.status == "FINISHED"
    finished = by_combo[("16", "1")]
    assert finished.data.tags["host"] == socket.gethostname()
    _, parallel_runs, _ = parallel
    twin = next(r for r in parallel_runs if PARENT in r.data.tags and combo(r) == ("16", "1"))
    for key in ("val_accuracy", "test_accuracy", "test_loss"):
        assert finished.data.metrics[key] == pytest.approx(twin.data.metrics[key], abs=1e-6), key


def test_a_sweep_whose_data_check_fails_stops_before_any_run(tmp_path: Path, mnist_mirror: Path) -> None:
    """`dvc repro preprocess` (the sweep's data check, run while MLflow loads) fails on a
    params.yaml older than conf/: one line naming the command and DVC's error, exit 1, and no
    MLflow store or run made."""
    path = copy_repo(tmp_path)
    env = pipeline_env(mnist_mirror)
    set_conf(path, "model/mlp.yaml", units=16)  # params.yaml still says 128
    done = sweep(path, env, "train.epochs=1", check=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: `dvc repro preprocess` failed: ERROR"), done.stderr
    assert errors[0].endswith("run it yourself to see why")
    assert not (path / "mlflow.db").exists()

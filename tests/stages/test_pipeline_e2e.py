"""`dvc repro` of the whole pipeline in a temporary copy of the repository, on real MNIST
(a 2,000-image subset, 1 epoch), with the run read back from the copy's own MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, set_conf

pytestmark = pytest.mark.slow
STAGES = ("check_params", "download", "preprocess", "train", "evaluate")


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str], str]:
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    env = pipeline_env(mnist_mirror)
    set_conf(repo, "data/mnist.yaml", subset=2000)
    set_conf(repo, "train/default.yaml", epochs=1)
    run(["mnist-pipeline", "params"], repo, env)
    first = run(["dvc", "repro"], repo, {**env, "MNIST_PIPELINE_PROFILE": str(repo / "profile.jsonl")})
    return repo, env, first.stdout


def store(repo: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


def test_repro_runs_every_stage_and_writes_outputs(repo: tuple[Path, dict[str, str], str]) -> None:
    path, _, output = repo
    assert ran_stages(output) == list(STAGES)
    for out in (
        "data/raw/train-images-idx3-ubyte",
        "data/processed/x_train.npy",
        "models/model.keras",
        "models/test_probabilities.npy",
        "reports/train_history.csv",
        "reports/predictions.csv",
    ):
        assert (path / out).is_file(), out
    metrics = json.loads((path / "reports/metrics.json").read_text())
    assert 0.70 < metrics["test_accuracy"] <= 1.0  # chance is 0.10
    assert set(metrics["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert len((path / "reports/predictions.csv").read_text().splitlines()) == 10_001


def test_only_the_train_stage_loads_tensorflow(repo: tuple[Path, dict[str, str], str]) -> None:
    path, _, _ = repo
    records = [json.loads(line) for line in (path / "profile.jsonl").read_text().splitlines()]
    loaded = {r["stage"]: r["tensorflow_loaded"] for r in records}
    assert loaded == {"mnist-pipeline": False, "download": False, "preprocess": False, "train": True, "evaluate": False}


def test_one_mlflow_run_spans_train_and_evaluate(repo: tuple[Path, dict[str, str], str]) -> None:
    path, _, _ = repo
    client = store(path)
    experiment = client.get_experiment_by_name("mnist")
    assert experiment is not None and experiment.artifact_location == (path / "mlartifacts").resolve().as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    tracked = runs[0]
    metrics = json.loads((path / "reports/metrics.json").read_text())
    assert tracked.info.status == "FINISHED"
    assert tracked.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert tracked.data.params["model.units"] == "128" and tracked.data.params["train.epochs"] == "1"
    assert tracked.data.params["data.train_size"] == "1600"
    assert tracked.data.tags["mlflow.source.git.commit"]
    assert len(client.get_metric_history(tracked.info.run_id, "val_accuracy")) == 1
    models = client.search_logged_models([experiment.experiment_id])
    assert sorted(m.name for m in models) == ["model", "model_onnx"]  # Keras, and its ONNX export
    assert {m.source_run_id for m in models} == {tracked.info.run_id}


def test_second_repro_runs_nothing(repo: tuple[Path, dict[str, str], str]) -> None:
    path, env, _ = repo
    again = run(["dvc", "repro"], path, env)
    assert ran_stages(again.stdout) == []


def test_conf_edit_without_params_stops_repro_with_the_fix(repo: tuple[Path, dict[str, str], str]) -> None:
    path, env, _ = repo
    set_conf(path, "model/mlp.yaml", units=16)
    for target in ([], ["train"], ["evaluate"]):  # whatever stage the user names
        stale = run(["dvc", "repro", *target], path, env, check=False)
        assert stale.returncode != 0
        assert "params.yaml is out of date with conf/ (model.units: params.yaml=128, conf/=16)" in stale.stderr
        assert "run `mnist-pipeline params`" in stale.stderr
    assert len(store(path).search_runs([store(path).get_experiment_by_name("mnist").experiment_id])) == 1
    set_conf(path, "model/mlp.yaml", units=128)


def test_changing_epochs_reruns_train_and_evaluate_only(repo: tuple[Path, dict[str, str], str]) -> None:
    path, env, _ = repo
    set_conf(path, "train/default.yaml", epochs=2)
    run(["mnist-pipeline", "params"], path, env)
    rerun = run(["dvc", "repro"], path, env)
    assert ran_stages(rerun.stdout) == ["check_params", "train", "evaluate"]
    client = store(path)
    runs = client.search_runs(
        [client.get_experiment_by_name("mnist").experiment_id], order_by=["attributes.start_time DESC"]
    )
    assert [r.data.params["train.epochs"] for r in runs] == ["2", "1"]
    assert len(client.get_metric_history(runs[0].info.run_id, "val_accuracy")) == 2


def test_the_better_run_is_champion_and_loads_by_alias(
    repo: tuple[Path, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import numpy as np

    from mnist_pipeline.data.preprocess import load_split

    path, _, _ = repo
    client = store(path)
    runs = client.search_runs([client.get_experiment_by_name("mnist").experiment_id])
    assert len(runs) == 2  # 1 epoch, then 2 epochs
    versions = client.search_model_versions("name = 'mnist-classifier'")
    assert sorted(v.run_id for v in versions) == sorted(r.info.run_id for r in runs)
    best = max(runs, key=lambda r: r.data.metrics["test_accuracy"])
    assert client.get_model_version_by_alias("mnist-classifier", "champion").run_id == best.info.run_id

    uri = f"sqlite:///{path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/mnist-classifier@champion")
    test = load_split(path / "data/processed", "test")
    probabilities = np.asarray(model.predict(test.x[:200]))
    assert probabilities.shape == (200, 10)
    assert np.mean(probabilities.argmax(axis=1) == test.y[:200].argmax(axis=1)) > 0.7


def test_runs_command_lists_the_runs_best_first_with_the_champion_marked(
    repo: tuple[Path, dict[str, str], str],
) -> None:
    path, env, _ = repo
    lines = run(["mnist-pipeline", "runs", "--sort", "test_accuracy"], path, env).stdout.splitlines()
    header = [
        "run",
        "sweep",
        "model",
        "units",
        "epochs",
        "learning_rate",
        "test_accuracy",
        "val_accuracy",
        "status",
        "id",
    ]
    assert lines[0].split() == header
    rows = [line.removeprefix("* ").split() for line in lines[2:]]
    assert sorted(row[0] for row in rows) == ["mlp-u128-e1", "mlp-u128-e2"]
    assert float(rows[0][-4]) >= float(rows[1][-4]) and all(row[-2] == "FINISHED" for row in rows)
    assert lines[2].startswith("* ") and not lines[3].startswith("* ")  # the champion is the best

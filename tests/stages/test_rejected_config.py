"""A bad config is refused before any work, wherever it comes from: a hand-edited params.yaml
read by a stage script or `dvc repro`, or `dvc exp run -S`. Each refusal is one line naming
the key and the fix, and no MLflow run is recorded. (A sweep with a bad job: test_sweep.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import copy_repo, pipeline_env, run, stage_command

pytestmark = pytest.mark.slow
REGENERATE = "run `mnist-pipeline params` to regenerate it from conf/"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> tuple[Path, dict[str, str]]:
    return copy_repo(tmp_path_factory.mktemp("repo")), pipeline_env(mnist_mirror)


@pytest.fixture(autouse=True)
def restore_params(repo: tuple[Path, dict[str, str]]):
    yield
    run(["git", "checkout", "-q", "params.yaml"], repo[0], repo[1])


def recorded_runs(path: Path) -> list[object]:
    if not (path / "mlflow.db").exists():
        return []
    client = MlflowClient(f"sqlite:///{path / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def edit_params(path: Path, group: str, key: str, value: object) -> None:
    data = yaml.safe_load((path / "params.yaml").read_text())
    data[group][key] = value
    (path / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("group", "key", "value", "message"),
    [
        ("model", "units", 0, "model.units=0 must be > 0"),
        ("train", "batch_size", -8, "train.batch_size=-8 must be > 0"),
        ("data", "val_fraction", 1.5, "data.val_fraction=1.5 must lie strictly between 0 and 1"),
        ("model", "activation", "swish", "choose one of: relu, tanh, sigmoid, gelu, elu"),
        ("train", "epochs", "five", "invalid configuration at train.epochs: Value 'five' of type 'str' could not"),
        ("model", "unitz", 64, "invalid configuration at model.unitz: Key 'unitz' not in"),
    ],
    ids=["units=0", "batch_size=-8", "val_fraction=1.5", "unknown activation", "wrong type", "unknown key"],
)
def test_stage_script_refuses_a_bad_params_yaml(
    repo: tuple[Path, dict[str, str]], group: str, key: str, value: object, message: str
) -> None:
    path, env = repo
    edit_params(path, group, key, value)
    done = run(stage_command("train"), path, env, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert recorded_runs(path) == []
    assert not (path / "models").exists()


def test_dvc_repro_stops_at_a_bad_params_yaml_with_the_fix(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    edit_params(path, "train", "optimizer", "adamw")
    done = run(["dvc", "repro"], path, env, check=False)
    assert done.returncode != 0
    assert (
        "error: params.yaml: train.optimizer='adamw' is not known; choose one of: adam, sgd, rmsprop; "
        f"{REGENERATE}" in done.stderr
    )
    assert "Running stage 'download'" not in done.stdout
    assert recorded_runs(path) == []


def test_dvc_exp_run_refuses_a_bad_override_and_the_workspace_recovers(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    done = run(["dvc", "exp", "run", "-S", "model.units=0"], path, env, check=False)
    assert done.returncode != 0
    assert "error: params.yaml: model.units=0 must be > 0; fix the -S value" in done.stderr
    assert recorded_runs(path) == []
    # DVC leaves the override in params.yaml; the next `dvc repro` says how to get back.
    stale = run(["dvc", "repro"], path, env, check=False)
    assert f"error: params.yaml: model.units=0 must be > 0; {REGENERATE}" in stale.stderr
    run(["mnist-pipeline", "params"], path, env)
    assert run(["git", "status", "--porcelain", "params.yaml"], path, env).stdout == ""

"""Run names and provenance tags: what a run changed, how it was started, which data it saw."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.tracking import identity, naming


@pytest.fixture(scope="module")
def reference() -> dict:
    return params.reference(Workspace(REPO))


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "mlp-u128-e5"),
        (["model.units=64", "train.epochs=10"], "mlp-u64-e10"),
        (["train.learning_rate=0.01", "train.optimizer=sgd"], "mlp-u128-e5-sgd-lr0.01"),
        (["data.subset=1000", "data.subset_strategy=stratified"], "mlp-u128-e5-n1000-stratified"),
        (["tracking=server", "registry.model_name=other", "data.download_timeout=5"], "mlp-u128-e5"),
    ],
)
def test_run_names_show_what_differs_from_conf(reference: dict, overrides: list[str], name: str) -> None:
    assert naming.run_name(params.compose(Workspace(REPO), overrides), reference) == name


def test_sweep_names_show_the_swept_values() -> None:
    assert naming.sweep_name("sweep", ["model.units=64,128", "train.epochs=5,10", "data.subset=1000"]) == (
        "sweep-u64,128-e5,10"
    )
    assert naming.sweep_name("optuna", ["model.units=choice(32, 64)", "train.learning_rate=interval(0.1,1)"]) == (
        "optuna-u-lr"
    )


@pytest.mark.parametrize(
    ("env", "where", "launcher"),
    [
        ({}, "repo", "script"),
        ({"DVC_ROOT": "repo"}, "repo", "dvc repro"),
        ({"DVC_ROOT": "repo", "DVC_EXP_NAME": "lucky-lynx"}, "repo", "dvc exp"),
        ({"DVC_ROOT": "repo", "DVC_EXP_NAME": "lucky-lynx"}, "copy", "dvc queue"),
    ],
)
def test_how_a_run_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], where: str, launcher: str
) -> None:
    for folder in ("repo", "copy"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, str(tmp_path / value) if key == "DVC_ROOT" else value)
    monkeypatch.chdir(tmp_path / where)  # where DVC runs the stage
    assert identity.launched_by(Workspace.of_stage()) == launcher


def test_data_tags_name_the_dvc_hash_of_the_processed_data(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    lock = {"schema": "2.0", "stages": {"preprocess": {"outs": [{"path": "data/processed", "md5": "abc.dir"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    workspace = Workspace(tmp_path)
    assert identity.data_tags(workspace, tmp_path / "data" / "processed") == {
        "data.source": "dvc:preprocess",
        "data.dvc_md5": "abc.dir",
    }
    assert identity.data_tags(workspace, tmp_path / "outputs" / "job" / "data") == {"data.source": "unversioned"}


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        (["model=cnn"], "cnn-f32x64-e5"),
        (["model=cnn", "model.dropout=0.5", "model.filters=[16,32]"], "cnn-f16x32-e5-dropout0.5"),
        (
            ["+experiment=cnn"],
            "cnn-f16x32x64-e11-k3x3x3-nobn-shift0.1-nearest-variants0.4-lowres2-lr0.004-cosine-bs256-threads2-onednn-val0.1",
        ),
        (
            ["+experiment=best"],
            "cnn-f32x64x128-e20-k5x3x3-d256-shift0.1-nearest-lr0.002-cosine-bs128-threads2-onednn-val0.1",
        ),
        (["model=cnn", "model.conv_batch_norm=false"], "cnn-f32x64-e5-nobn"),
    ],
)
def test_cnn_run_names_are_measured_against_the_cnn_config(overrides: list[str], name: str) -> None:
    assert naming.run_name(params.compose(Workspace(REPO), overrides), params.reference(Workspace(REPO), "cnn")) == name

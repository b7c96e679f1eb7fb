"""Run names, provenance tags, per-class scores and pictures: fast, no training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from mnist_pipeline.learn import plots
from mnist_pipeline.learn.evaluation import Evaluation, per_class_report
from mnist_pipeline.stages import params
from mnist_pipeline.tracking import identity, naming


@pytest.fixture(scope="module")
def reference() -> dict:
    return naming.reference(REPO)


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
    assert naming.run_name(params.compose(REPO, overrides), reference) == name


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
    assert identity.launched_by(tmp_path / where) == launcher


def test_data_tags_name_the_dvc_hash_of_the_processed_data(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    lock = {"schema": "2.0", "stages": {"preprocess": {"outs": [{"path": "data/processed", "md5": "abc.dir"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert identity.data_tags(tmp_path / "data" / "processed") == {
        "data.source": "dvc:preprocess",
        "data.dvc_md5": "abc.dir",
    }
    assert identity.data_tags(tmp_path / "outputs" / "job" / "data") == {"data.source": "unversioned"}


def test_per_class_report_matches_scikit_learn() -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    actual = rng.integers(0, 10, 500)
    predicted = np.where(rng.random(500) < 0.7, actual, rng.integers(0, 9, 500))  # digit 9 rarely predicted
    rows = per_class_report(confusion_matrix(actual, predicted, labels=range(10)))
    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=range(10), zero_division=0
    )
    np.testing.assert_allclose([r["precision"] for r in rows], precision)
    np.testing.assert_allclose([r["recall"] for r in rows], recall)
    np.testing.assert_allclose([r["f1"] for r in rows], f1)
    assert [r["support"] for r in rows] == support.tolist()


def test_pictures_are_pngs_of_the_expected_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.random((40, 28, 28, 1), dtype=np.float32)
    actual, predicted = rng.integers(0, 10, 40), rng.integers(0, 10, 40)
    result = Evaluation(0.5, 0.1, {}, actual, predicted, rng.random(40))
    written = plots.write_evaluation_figures(result, images, tmp_path / "evaluate")
    written += plots.write_training_figures({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "train")
    assert sorted(p.name for p in written) == sorted(
        [plots.CONFUSION_MATRIX, plots.MISCLASSIFIED, plots.SAMPLE_PREDICTIONS, plots.TRAINING_CURVES]
    )
    for path in written:
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
        assert width >= 600 and height >= 350, path.name


def test_preprocess_still_does_not_import_matplotlib_or_mlflow() -> None:
    code = (
        "import sys; import mnist_pipeline.stages.pipeline, mnist_pipeline.stages.sweep_job; "
        "import mnist_pipeline.tracking.naming; "
        "bad = {'matplotlib', 'mlflow', 'tensorflow', 'keras'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        (["model=cnn"], "cnn-f32x64-e5"),
        (["model=cnn", "model.dropout=0.5", "model.filters=[16,32]"], "cnn-f16x32-e5-dropout0.5"),
        (["+experiment=cnn"], "cnn-f32x64-e6-val0.1-shift0.1-lr0.002-cosine-bs128"),
    ],
)
def test_cnn_run_names_are_measured_against_the_cnn_config(overrides: list[str], name: str) -> None:
    assert naming.run_name(params.compose(REPO, overrides), naming.reference(REPO, "cnn")) == name

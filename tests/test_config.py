"""The typed schema and the conf/ -> params.yaml contract."""

from __future__ import annotations

import shutil

import pytest
from omegaconf import OmegaConf

from conftest import REPO
from mnist_pipeline import params
from mnist_pipeline.config import load_params, to_container, validate
from mnist_pipeline.errors import ConfigError


def test_committed_params_yaml_matches_conf() -> None:
    assert params.differences(REPO) == {}, "conf/ changed: run `mnist-pipeline params` and commit params.yaml"


def test_defaults_are_the_reference_recipe() -> None:
    config = load_params(REPO / "params.yaml")
    assert (config.model.name, config.model.units, config.model.activation) == ("mlp", 128, "relu")
    assert (config.train.optimizer, config.train.learning_rate) == ("adam", 0.001)
    assert (config.train.epochs, config.train.batch_size, config.train.seed) == (5, 64, 1)
    assert config.data.val_fraction == 0.2 and config.data.subset is None


def test_overrides_compose_into_a_valid_config() -> None:
    config = validate(params.compose(REPO, ["model.units=64", "train.epochs=2"]))
    assert (config.model.units, config.train.epochs) == (64, 2)
    assert to_container(config)["model"]["units"] == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"model": {"units": 0}}, "model.units=0 must be > 0"),
        ({"train": {"epochs": -1}}, "train.epochs=-1 must be > 0"),
        ({"train": {"batch_size": 0}}, "train.batch_size=0 must be > 0"),
        ({"data": {"val_fraction": 1.0}}, "strictly between 0 and 1"),
        ({"data": {"subset": 70000}}, "data.subset=70000 must be between"),
        ({"data": {"download_timeout": 0}}, "data.download_timeout=0.0 must be > 0 seconds"),
        ({"data": {"download_retries": -1}}, "data.download_retries=-1 must be >= 0"),
        ({"data": {"download_backoff": -0.5}}, "data.download_backoff=-0.5 must be >= 0 seconds"),
        ({"model": {"name": "resnet"}}, "choose one of: mlp"),
        ({"train": {"optimizer": "adamw"}}, "choose one of: adam, sgd, rmsprop"),
        ({"model": {"activation": "swish"}}, "model.activation='swish' is not known"),
        ({"model": {"unitz": 64}}, "at model.unitz"),
        ({"train": {"epochs": "five"}}, "at train.epochs"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(override: dict, message: str) -> None:
    raw = OmegaConf.merge(OmegaConf.create(params.compose(REPO)), override)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")) as caught:
        validate(raw)
    assert "\n" not in str(caught.value)


def test_missing_params_file_says_how_to_create_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="mnist-pipeline params"):
        load_params(tmp_path / "params.yaml")


def test_a_key_missing_from_the_config_is_named() -> None:
    raw = OmegaConf.create(params.compose(REPO))
    del raw.train["seed"]
    with pytest.raises(ConfigError, match=r"train\.seed"):
        validate(raw)


@pytest.fixture
def conf_copy(tmp_path):
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_params_write_round_trips_and_check_passes(conf_copy) -> None:
    (conf_copy / "params.yaml").unlink()
    params.write(conf_copy)
    assert params.check(conf_copy) == "params.yaml matches conf/"
    assert (conf_copy / "params.yaml").read_text() == (REPO / "params.yaml").read_text()


@pytest.mark.parametrize("override", ["+model.unitz=3", "model.unitz=3", "train.epochs=0"])
def test_params_write_refuses_a_bad_composition_and_keeps_the_old_file(conf_copy, override: str) -> None:
    before = (conf_copy / "params.yaml").read_text()
    with pytest.raises(ConfigError) as caught:
        params.write(conf_copy, [override])
    assert "\n" not in str(caught.value)
    assert (conf_copy / "params.yaml").read_text() == before
    assert sorted(p.name for p in conf_copy.iterdir()) == ["conf", "params.yaml"]


def test_check_names_the_stale_key_and_the_command(conf_copy) -> None:
    (conf_copy / "conf/train/default.yaml").write_text(
        (conf_copy / "conf/train/default.yaml").read_text().replace("epochs: 5", "epochs: 7")
    )
    with pytest.raises(ConfigError, match=r"train\.epochs: params\.yaml=5, conf/=7.*run `mnist-pipeline params`"):
        params.check(conf_copy)

"""The typed schema and the conf/ -> params.yaml contract."""

from __future__ import annotations

import shutil

import pytest
from omegaconf import OmegaConf

from conftest import REPO
from mnist_pipeline.config import CnnConfig, MlpConfig, load_params, to_container, validate
from mnist_pipeline.plumbing.errors import ConfigError
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params


def test_committed_params_yaml_matches_conf() -> None:
    assert params.differences(Workspace(REPO)) == {}, (
        "conf/ changed: run `mnist-pipeline params` and commit params.yaml"
    )


def test_defaults_are_the_reference_recipe() -> None:
    config = load_params(REPO / "params.yaml")
    assert (config.model.name, config.model.units, config.model.activation) == ("mlp", 128, "relu")
    assert (config.train.optimizer, config.train.learning_rate, config.train.lr_schedule) == ("adam", 0.001, "constant")
    assert (config.train.epochs, config.train.batch_size, config.train.seed) == (5, 64, 1)
    assert config.data.val_fraction == 0.2 and config.data.subset is None


def test_overrides_compose_into_a_valid_config() -> None:
    config = validate(params.compose(Workspace(REPO), ["model.units=64", "train.epochs=2"]))
    assert (config.model.units, config.train.epochs) == (64, 2)
    assert to_container(config)["model"]["units"] == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"model": {"units": 0}}, "model.units=0 must be > 0"),
        ({"train": {"epochs": -1}}, "train.epochs=-1 must be > 0"),
        ({"train": {"batch_size": 0}}, "train.batch_size=0 must be > 0"),
        ({"train": {"label_smoothing": 1.0}}, r"train.label_smoothing=1.0 must be in \[0, 1\)"),
        ({"data": {"val_fraction": 1.0}}, "strictly between 0 and 1"),
        ({"data": {"subset": 70000}}, "data.subset=70000 must be between"),
        ({"data": {"download_timeout": 0}}, "data.download_timeout=0.0 must be > 0 seconds"),
        ({"data": {"download_retries": -1}}, "data.download_retries=-1 must be >= 0"),
        ({"data": {"download_backoff": -0.5}}, "data.download_backoff=-0.5 must be >= 0 seconds"),
        ({"model": {"name": "resnet"}}, "choose one of: mlp, cnn"),
        ({"train": {"optimizer": "adamw"}}, "choose one of: adam, sgd, rmsprop"),
        ({"model": {"activation": "swish"}}, "model.activation='swish' is not known"),
        ({"model": {"unitz": 64}}, "at model.unitz"),
        ({"train": {"epochs": "five"}}, "at train.epochs"),
        ({"train": {"lr_schedule": "step"}}, "train.lr_schedule='step' is not known; choose one of: constant, cosine"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(override: dict, message: str) -> None:
    raw = OmegaConf.merge(OmegaConf.create(params.compose(Workspace(REPO))), override)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")) as caught:
        validate(raw)
    assert "\n" not in str(caught.value)


def test_missing_params_file_says_how_to_create_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="mnist-pipeline params"):
        load_params(tmp_path / "params.yaml")


def test_a_key_missing_from_the_config_is_named() -> None:
    raw = OmegaConf.create(params.compose(Workspace(REPO)))
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
    params.write(Workspace(conf_copy))
    assert params.check(Workspace(conf_copy)) == "params.yaml matches conf/"
    assert (conf_copy / "params.yaml").read_text() == (REPO / "params.yaml").read_text()


@pytest.mark.parametrize("override", ["+model.unitz=3", "model.unitz=3", "train.epochs=0"])
def test_params_write_refuses_a_bad_composition_and_keeps_the_old_file(conf_copy, override: str) -> None:
    before = (conf_copy / "params.yaml").read_text()
    with pytest.raises(ConfigError) as caught:
        params.write(Workspace(conf_copy), [override])
    assert "\n" not in str(caught.value)
    assert (conf_copy / "params.yaml").read_text() == before
    assert sorted(p.name for p in conf_copy.iterdir()) == ["conf", "params.yaml"]


def test_check_names_the_stale_key_and_the_command(conf_copy) -> None:
    (conf_copy / "conf/train/default.yaml").write_text(
        (conf_copy / "conf/train/default.yaml").read_text().replace("epochs: 5", "epochs: 7")
    )
    with pytest.raises(ConfigError, match=r"train\.epochs: params\.yaml=5, conf/=7.*run `mnist-pipeline params`"):
        params.check(Workspace(conf_copy))


def cnn_config(*overrides: str) -> dict:
    return params.compose(Workspace(REPO), ["model=cnn", *overrides])


def test_cnn_is_one_switch_away_and_mlp_keys_do_not_leak_into_it() -> None:
    config = validate(cnn_config())
    assert isinstance(config.model, CnnConfig) and config.model.name == "cnn"
    assert "units" not in to_container(config)["model"]
    assert isinstance(validate(params.compose(Workspace(REPO))).model, MlpConfig)


def test_cnn_experiment_overlay_sets_the_strong_recipe() -> None:
    config = validate(params.compose(Workspace(REPO), ["+experiment=cnn"]))
    assert isinstance(config.model, CnnConfig)
    assert config.model.augment.shift > 0 and config.train.lr_schedule == "cosine"
    # Overrides after the overlay still win, as in `dvc exp run -S +experiment=cnn -S train.epochs=1`.
    assert validate(params.compose(Workspace(REPO), ["+experiment=cnn", "train.epochs=1"])).train.epochs == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+model.units=64"], "at model.units: Key 'units' not in 'CnnConfig'"),
        (["model.filters=[]"], r"model.filters=\[\] must be 1 to 3 positive numbers"),
        (["model.filters=[32,64,64,64]", "model.kernel_sizes=[3,3,3,3]"], "must be 1 to 3 positive numbers"),
        (["model.kernel_sizes=[5,4]"], r"model.kernel_sizes=\[5, 4\] must hold 3, 5 or 7 for each of the 2 filters"),
        (["model.filters=[32,64,64]"], r"model.kernel_sizes=\[5, 3\] must hold 3, 5 or 7 for each of the 3"),
        (["model.dropout=1.0"], r"model.dropout=1.0 must be in \[0, 1\)"),
        (["model.augment.rotation=90"], r"model.augment.rotation=90.0 must be in \[0, 45\] degrees"),
        (["model.augment.shift=-0.1"], "model.augment.shift=-0.1 must be in"),
        (["~model.augment"], "at model.augment"),
        (["model.augment.interpolation=cubic"], "interpolation='cubic' is not known; choose one of: bilinear, nearest"),
        (["model.conv_batch_norm=maybe"], "model.conv_batch_norm"),
        (["model.augment.variant_weights.thin=-1"], "variant_weights=.* must give each of lowres, thick, thin a"),
        (["+model.augment.variant_weights.blurred=1"], "variant_weights=.* must give each of lowres, thick, thin"),
        (["~model.augment.variant_weights.thick"], "variant_weights=.* must give each of lowres, thick, thin"),
    ],
)
def test_bad_cnn_values_are_rejected_with_the_key_named(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        validate(cnn_config(*overrides))
    assert "\n" not in str(caught.value)


def test_a_missing_model_name_is_named() -> None:
    raw = OmegaConf.create(params.compose(Workspace(REPO)))
    del raw.model["name"]
    with pytest.raises(ConfigError, match=r"model\.name is missing; choose one of: mlp, cnn"):
        validate(raw)

"""Run names that read as what a run changed: `mlp-u64-e10`, `mlp-u128-e5-lr0.01-sgd`, `cnn-f32x64-e6-cosine`.

A name always carries the model and its headline values (units or filters, epochs), then
every other hyperparameter that differs from the reference configuration (`conf/` with no
overrides but the model's, composed by `stages.params.reference`), so a list of runs shows
their differences at a glance.
"""

from __future__ import annotations

from typing import Any

from mnist_pipeline.config import flatten

ALWAYS = ("model.name", "model.units", "model.filters", "train.epochs")
# Short prefixes for the keys people sweep most; any other key is shown as `<last part><value>`.
PREFIXES = {
    "model.units": "u",
    "model.filters": "f",
    "model.kernel_sizes": "k",
    "model.dense_units": "d",
    "train.epochs": "e",
    "train.learning_rate": "lr",
    "train.batch_size": "bs",
    "train.seed": "seed",
    "data.subset": "n",
    "data.val_fraction": "val",
    "train.intra_op_threads": "threads",
}
# Keys whose value says it all (`sgd`, `tanh`, `stratified`).
VALUE_ONLY = (
    "model.name",
    "train.optimizer",
    "model.activation",
    "model.augment.interpolation",
    "data.subset_strategy",
    "train.lr_schedule",
)
# Switches, shown as one word for each state.
SWITCHES = {"model.conv_batch_norm": ("bn", "nobn"), "train.onednn": ("onednn", "noonednn")}
# Where a run's data comes from and where it is logged do not change what it learns.
NOT_IDENTITY = ("tracking.", "registry.", "data.mirror", "data.download_")


def run_name(config: dict[str, Any], reference: dict[str, Any]) -> str:
    """Name for a run of the nested `config`, against the nested `reference` config."""
    flat, base = flatten(config), flatten(reference)
    changed = [k for k in flat if k not in ALWAYS and not k.startswith(NOT_IDENTITY) and flat[k] != base.get(k)]
    # In the reference's key order, not the config's: `dvc exp run -S +experiment=...` and a
    # Hydra run of the same overrides compose their groups in different orders, yet are one config.
    position = {key: i for i, key in enumerate(base)}
    changed.sort(key=lambda k: position.get(k, len(position)))
    keys = [k for k in ALWAYS if k in flat] + changed
    return "-".join(_part(key, flat[key]) for key in keys)


def sweep_name(kind: str, overrides: list[str]) -> str:
    """Name for a sweep's parent run: `sweep-u64,128-e5,10`, or `optuna-u-lr-e` for a search space."""
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        value = value.replace(" ", "")
        if value.endswith(")"):  # a search space such as choice(...) or interval(...): the key only
            parts.append(PREFIXES.get(key, key.rsplit(".", 1)[-1]))
        elif "," in value:
            parts.append(_part(key, value))
    return "-".join([kind, *parts])


def _part(key: str, value: Any) -> str:
    if key in SWITCHES:
        return SWITCHES[key][0 if value else 1]
    shown = _format(value)
    if key in VALUE_ONLY:
        return shown
    return f"{PREFIXES.get(key, key.rsplit('.', 1)[-1])}{shown}"


def _format(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "x".join(_format(v) for v in value)
    return str(value)

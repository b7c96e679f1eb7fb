"""params.yaml as DVC's view of the Hydra composition of `conf/`.

`conf/` is the source; params.yaml is generated from it (with DVC's own composer, so the
file is byte-for-byte what `dvc exp run` writes) and committed, because DVC reads stage
params from it. `check` catches the drift a plain `dvc repro` would otherwise run with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_pipeline.config import flatten, load_params
from mnist_pipeline.plumbing.errors import ConfigError, one_line
from mnist_pipeline.plumbing.files import atomic_file

PARAMS_FILE = "params.yaml"
CONF_DIR = "conf"
CONFIG_NAME = "config"
# Set by DVC for `dvc exp run`, which has just composed params.yaml from conf/ itself
# (with the experiment's -S overrides, which conf/ cannot show).
DVC_EXPERIMENT_ENV = "DVC_EXP_NAME"


def write(root: Path, overrides: list[str] | None = None) -> Path:
    """Compose `conf/` (plus Hydra overrides) into `root/params.yaml`, atomically."""
    from dvc.utils.hydra import compose_and_dump

    target = root / PARAMS_FILE
    with atomic_file(target) as tmp, _conf_errors():
        yaml_tmp = tmp.with_suffix(".yaml")
        try:
            compose_and_dump(yaml_tmp, str(root / CONF_DIR), None, CONFIG_NAME, str(root), overrides or [])
            load_params(yaml_tmp)  # an invalid composition never becomes params.yaml
            os.replace(yaml_tmp, tmp)
        finally:
            yaml_tmp.unlink(missing_ok=True)
    return target


@contextmanager
def _conf_errors() -> Iterator[None]:
    """Hydra's and OmegaConf's errors about conf/ become one-line `ConfigError`s."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"cannot compose conf/: {one_line(exc)}") from None


def compose(root: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The config that `conf/` composes to, as a plain dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with _conf_errors(), initialize_config_dir(str(root / CONF_DIR), version_base=None):
        cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides or [])
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container


def differences(root: Path) -> dict[str, tuple[Any, Any]]:
    """Keys whose value in params.yaml differs from `conf/`: {key: (params.yaml, conf/)}."""
    params_path = root / PARAMS_FILE
    current = OmegaConf.to_container(OmegaConf.load(params_path)) if params_path.is_file() else {}
    assert isinstance(current, dict)
    have, want = flatten(current), flatten(compose(root))
    return {k: (have.get(k), want.get(k)) for k in sorted(have.keys() | want.keys()) if have.get(k) != want.get(k)}


def check(root: Path) -> str:
    """Fail (before any stage runs) when params.yaml is invalid or no longer matches `conf/`."""
    experiment = bool(os.environ.get(DVC_EXPERIMENT_ENV))
    try:
        load_params(root / PARAMS_FILE)
    except ConfigError as exc:
        if not (root / PARAMS_FILE).is_file():
            raise  # its message says how to create it
        # A failed `dvc exp run -S` leaves its values in params.yaml: say how to get back.
        fix = "fix the -S value" if experiment else "run `mnist-pipeline params` to regenerate it from conf/"
        raise ConfigError(f"{PARAMS_FILE}: {exc}; {fix}") from None
    if experiment:
        return "params.yaml was composed from conf/ by `dvc exp run`"
    diff = differences(root)
    if diff:
        shown = "; ".join(f"{k}: params.yaml={a!r}, conf/={b!r}" for k, (a, b) in list(diff.items())[:5])
        more = f" (+{len(diff) - 5} more)" if len(diff) > 5 else ""
        raise ConfigError(
            f"params.yaml is out of date with conf/ ({shown}{more}): run `mnist-pipeline params`, then `dvc repro` "
            "(or use `dvc exp run -S key=value`, which composes conf/ itself)"
        )
    return "params.yaml matches conf/"

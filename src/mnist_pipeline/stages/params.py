"""params.yaml as DVC's view of the Hydra composition of `conf/`.

`conf/` is the source; params.yaml is generated from it (with DVC's own composer, so the
file is byte-for-byte what `dvc exp run` writes) and committed, because DVC reads stage
params from it. `check` catches the drift a plain `dvc repro` would otherwise run with.
`reference` is the composition that run names are measured against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_pipeline.config import flatten, load_params
from mnist_pipeline.plumbing.errors import ConfigError
from mnist_pipeline.plumbing.files import atomic_file
from mnist_pipeline.plumbing.full_disk import reporting_disk_full
from mnist_pipeline.plumbing.workspace import DVC_EXPERIMENT_ENV, Workspace
from mnist_pipeline.stages.hydra_errors import conf_errors

CONFIG_NAME = "config"  # conf/config.yaml, the root config


def write(workspace: Workspace, overrides: list[str] | None = None) -> Path:
    """Compose `conf/` (plus Hydra overrides) into the workspace's params.yaml, atomically."""
    from dvc.utils.hydra import compose_and_dump

    target = workspace.params_file
    with atomic_file(target) as tmp, conf_errors():
        yaml_tmp = tmp.with_suffix(".yaml")
        try:
            compose_and_dump(yaml_tmp, str(workspace.conf_dir), None, CONFIG_NAME, str(workspace.root), overrides or [])
            load_params(yaml_tmp)  # an invalid composition never becomes params.yaml
            os.replace(yaml_tmp, tmp)
        finally:
            yaml_tmp.unlink(missing_ok=True)
    return target


def compose(workspace: Workspace, overrides: list[str] | None = None) -> dict[str, Any]:
    """The config that the workspace's `conf/` composes to, as a plain dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with conf_errors(), initialize_config_dir(str(workspace.conf_dir), version_base=None):
        cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides or [])
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container


def reference(workspace: Workspace, model: str | None = None) -> dict[str, Any]:
    """`conf/` with no overrides (but `model=<model>`: a CNN run is measured against
    conf/model/cnn.yaml), the config that run names are measured against."""
    from hydra.core.global_hydra import GlobalHydra

    overrides = [f"model={model}"] if model else []
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: compose with its own loader
        from hydra import compose as hydra_compose

        container = OmegaConf.to_container(hydra_compose(config_name=CONFIG_NAME, overrides=overrides), resolve=True)
        assert isinstance(container, dict)
        return container
    return compose(workspace, overrides)


def differences(workspace: Workspace) -> dict[str, tuple[Any, Any]]:
    """Keys whose value in params.yaml differs from `conf/`: {key: (params.yaml, conf/)}."""
    params_path = workspace.params_file
    current = OmegaConf.to_container(OmegaConf.load(params_path)) if params_path.is_file() else {}
    assert isinstance(current, dict)
    have, want = flatten(current), flatten(compose(workspace))
    return {k: (have.get(k), want.get(k)) for k in sorted(have.keys() | want.keys()) if have.get(k) != want.get(k)}


# What check_params writes when params.yaml passes. Every stage is downstream of that file,
# so `dvc repro <any stage>` checks first; the text never changes, so passing re-runs nothing.
CHECKED = "params.yaml agrees with conf/ (or with a `dvc exp run -S`)\n"


def check(workspace: Workspace, record: Path | None = None) -> str:
    """Fail (before any stage runs) when params.yaml is invalid or no longer matches `conf/`;
    on success write `record`, if given."""
    message = _check(workspace)
    if record is not None:
        with reporting_disk_full(record), atomic_file(record) as tmp:
            tmp.write_text(CHECKED)
    return message


def _check(workspace: Workspace) -> str:
    experiment = bool(os.environ.get(DVC_EXPERIMENT_ENV))
    params_file = workspace.params_file
    try:
        load_params(params_file)
    except ConfigError as exc:
        if not params_file.is_file():
            raise  # its message says how to create it
        # A failed `dvc exp run -S` leaves its values in params.yaml: say how to get back.
        fix = "fix the -S value" if experiment else "run `mnist-pipeline params` to regenerate it from conf/"
        raise ConfigError(f"{params_file.name}: {exc}; {fix}") from None
    if experiment:
        return "params.yaml was composed from conf/ by `dvc exp run`"
    diff = differences(workspace)
    if diff:
        shown = "; ".join(f"{k}: params.yaml={a!r}, conf/={b!r}" for k, (a, b) in list(diff.items())[:5])
        more = f" (+{len(diff) - 5} more)" if len(diff) > 5 else ""
        raise ConfigError(
            f"params.yaml is out of date with conf/ ({shown}{more}): run `mnist-pipeline params`, then `dvc repro` "
            "(or use `dvc exp run -S key=value`, which composes conf/ itself)"
        )
    return "params.yaml matches conf/"

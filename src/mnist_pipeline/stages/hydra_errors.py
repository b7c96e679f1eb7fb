"""Errors in `conf/` and in Hydra overrides as the project's one line, wherever Hydra composes:
`mnist-pipeline params`, the check_params stage of `dvc repro`, and the sweep entry point.

Hydra reports them as a traceback (a YAML syntax error: about 110 lines) or as a block that
ends with the folders it looked in; the user needs the file and line, or the valid choices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import yaml

from mnist_pipeline.config import yaml_syntax_error
from mnist_pipeline.plumbing.entry import run_or_exit
from mnist_pipeline.plumbing.errors import ConfigError, one_line


@contextmanager
def conf_errors() -> Iterator[None]:
    """Hydra's, OmegaConf's and PyYAML's errors about conf/ become one-line `ConfigError`s."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except yaml.YAMLError as exc:
        raise ConfigError(f"{yaml_syntax_error(exc)}; fix that line, then run the command again") from None
    except MissingConfigException as exc:
        raise ConfigError(_unknown_option(exc)) from None
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"cannot compose conf/: {one_line(exc)}") from None


def _unknown_option(exc: Exception) -> str:
    """`model=resnet is not known; choose one of: cnn, mlp (conf/model/*.yaml)`."""
    missing, options = getattr(exc, "missing_cfg_file", None), getattr(exc, "options", None)
    if not missing or not options or "/" not in missing:
        return f"cannot compose conf/: {one_line(exc)}"
    group, _, name = str(missing).rpartition("/")
    where = "" if group.startswith("hydra/") else f" (conf/{group}/*.yaml)"  # Hydra's own groups live in plugins
    return f"{group}={name} is not known; choose one of: {', '.join(options)}{where}"


def run_hydra_app(app: Callable[[], object]) -> None:
    """Run a `@hydra.main` function: a bad conf/ file or override is one line and exit status 1.

    HYDRA_FULL_ERROR makes Hydra raise instead of printing its own report, so the error
    reaches `conf_errors` here; a user who sets it to something else keeps Hydra's report.
    """
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")

    def task() -> None:
        with conf_errors():
            app()

    run_or_exit(task)

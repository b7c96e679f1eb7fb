"""`train.onednn`: TensorFlow's oneDNN kernels follow the setting when it is made before
TensorFlow loads, and a setting a loaded TensorFlow cannot follow is a one-line config error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnist_pipeline.learn.onednn import ONEDNN_ENV, use_onednn
from mnist_pipeline.plumbing.errors import ConfigError

# What TensorFlow prints as it loads with the kernels on (shown with MNIST_PIPELINE_VERBOSE=1).
ON_NOTICE = "oneDNN custom operations are on"


@pytest.mark.parametrize("wanted", [True, False])
def test_tensorflow_loads_with_onednn_as_set(wanted: bool) -> None:
    script = f"from mnist_pipeline.learn.onednn import use_onednn; use_onednn({wanted}); import tensorflow"
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "MNIST_PIPELINE_VERBOSE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (ON_NOTICE in done.stderr) == wanted


def test_a_setting_a_loaded_tensorflow_cannot_follow_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow  # noqa: F401 (loaded, as in a sweep's later jobs)

    monkeypatch.setenv(ONEDNN_ENV, "0")
    use_onednn(False)  # what it loaded with: nothing to change
    use_onednn(None)  # TensorFlow's choice: nothing asked
    with pytest.raises(
        ConfigError, match=r"^train.onednn=true cannot take effect: TensorFlow is already loaded"
    ) as err:
        use_onednn(True)
    assert "\n" not in str(err.value) and "process of its own" in str(err.value)
    assert os.environ[ONEDNN_ENV] == "0"

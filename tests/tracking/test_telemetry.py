"""MLflow's usage telemetry stays off in the project's processes unless the user turns it on.

Run in a child process with none of the variables by which MLflow itself recognises CI or a
pytest run (it turns its telemetry off there on its own, which would hide the project's setting).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# MLflow's own list of variables that mean "a CI machine or a test run" (mlflow/telemetry/utils.py).
CI_MARKERS = ("CI", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "BUILDKITE", "TF_BUILD")
PROBE = """
import json, os
import mnist_pipeline.tracking.store
from mlflow.telemetry.client import get_telemetry_client
print(json.dumps({"client": get_telemetry_client() is not None,
                  "session": "_MLFLOW_TELEMETRY_SESSION_ID" in os.environ}))
"""


def telemetry_in_a_user_shell(**env: str) -> dict[str, bool]:
    shell = {k: v for k, v in os.environ.items() if k not in CI_MARKERS and k != "MLFLOW_DISABLE_TELEMETRY"}
    probe = subprocess.run([sys.executable, "-c", PROBE], env=shell | env, capture_output=True, text=True, check=True)
    return json.loads(probe.stdout)


def test_importing_the_tracking_code_starts_no_telemetry_client() -> None:
    assert telemetry_in_a_user_shell() == {"client": False, "session": False}


@pytest.mark.parametrize("opt_in", ["false", "0"])
def test_a_user_can_turn_mlflow_telemetry_back_on(opt_in: str) -> None:
    assert telemetry_in_a_user_shell(MLFLOW_DISABLE_TELEMETRY=opt_in)["client"]

"""MLflow: the store, logging beside training, the model registry, run names and tags,
and the runs table.

The only code that imports mlflow (server.py answers without it); may import `config` and `plumbing`, never `learn`
or `stages`.

MLflow's usage telemetry is off in this project's processes unless a user turns it on with
MLFLOW_DISABLE_TELEMETRY=false. At import MLflow starts a thread that contacts its telemetry
endpoint; when that fails (offline, behind a firewall) the thread removes a variable from
os.environ, and a launcher copying the environment at that moment (submitit submitting sweep
jobs) dies with a KeyError. Being here, before any mlflow import, it holds for every command.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

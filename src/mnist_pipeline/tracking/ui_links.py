"""Where a run, and the experiment's training runs compared side by side, open in the MLflow UI.

The local store is what `make ui` serves (MLflow's own port, 5000); a tracking server serves
its UI at its own address; a store reached straight through a database URI has no UI address.
The comparison is a view the MLflow UI can share: an experiment tag
`mlflow.sharedViewState.<key>` holding the runs table's state, opened by `?viewStateShareKey=<key>`.
Ours shows the columns runs are compared by, best test accuracy first, with no clicks.
"""

from __future__ import annotations

import json

LOCAL_UI = "http://127.0.0.1:5000"
VIEW_KEY = "training-runs"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
# The runs table's columns, as the UI names them (`<metrics|params>.` + the key in backquotes).
VIEW_METRICS = ("test_accuracy", "val_accuracy")
VIEW_PARAMS = ("model.name", "model.units", "train.epochs", "train.learning_rate", "train.seed")


def column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


def view_state() -> str:
    """The shared view's state, as the UI reads it (JSON: sort order and selected columns)."""
    columns = [column("metrics", key) for key in VIEW_METRICS] + [column("params", key) for key in VIEW_PARAMS]
    return json.dumps(
        {"orderByKey": column("metrics", VIEW_METRICS[0]), "orderByAsc": False, "selectedColumns": columns}
    )


def ui_address(tracking_uri: str) -> str | None:
    """The UI that shows the store at `tracking_uri`, if any."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return LOCAL_UI if tracking_uri.startswith("sqlite:") else None


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"


def runs_view_url(ui: str, experiment_id: str) -> str:
    return f"{ui}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}"

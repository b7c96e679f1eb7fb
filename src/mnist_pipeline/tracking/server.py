"""Which store a process logs to, and whether a tracking server is there, answered without
importing MLflow (about 1.7 s): the train stage asks before it trains, so a server that is
down costs seconds, not a training run that cannot be logged."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_pipeline.plumbing.errors import PipelineError
from mnist_pipeline.plumbing.workspace import Workspace

if TYPE_CHECKING:  # not at run time: the command-line parser imports this module, and config loads OmegaConf
    from mnist_pipeline.config import TrackingConfig

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
SQLITE_PREFIX = "sqlite:///"
# MLflow retries a request for minutes by default (7 retries, backoff factor 2, 120 s
# timeout); a tracking server that is down must fail a run in seconds. Set in the
# environment, these variables win; check_reachable keeps to the same bounds.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def tracking_uri(config: TrackingConfig, workspace: Workspace) -> str:
    """$MLFLOW_TRACKING_URI, else `tracking.uri`, else the workspace's embedded store."""
    return os.environ.get(TRACKING_URI_ENV) or config.uri or f"{SQLITE_PREFIX}{workspace.store_file}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a local SQLite store's URI; None for a server."""
    return Path(uri.removeprefix(SQLITE_PREFIX)) if uri.startswith(SQLITE_PREFIX) else None


def store_exists(config: TrackingConfig, workspace: Workspace) -> bool:
    """False only for a local SQLite store whose file is not there yet (a server always counts)."""
    database = sqlite_file(tracking_uri(config, workspace))
    return database is None or database.is_file()


def bound_http_retries() -> None:
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


def unreachable(uri: str, reason: str) -> PipelineError:
    return PipelineError(
        f"MLflow tracking server {uri} is not reachable ({reason}): start it, or point "
        f"{TRACKING_URI_ENV} / tracking.uri at a running one"
    )


def check_reachable(uri: str) -> None:
    """Raise the one-line error if `uri` names an HTTP tracking server that does not answer
    within MLflow's retry bounds; any HTTP answer counts (a file store is not checked)."""
    if not uri.startswith(("http://", "https://")):
        return
    bound_http_retries()
    retries = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    backoff = float(os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    timeout = float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    reason = ""
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, OSError) as exc:
            text = str(getattr(exc, "reason", exc))
            reason = "connection refused" if "refused" in text else "timed out" if "timed out" in text else text
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise unreachable(uri, reason)

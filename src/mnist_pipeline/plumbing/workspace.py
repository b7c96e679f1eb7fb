"""Where the repository is, seen from any process the pipeline starts.

Stage scripts run at the repository root, Hydra sweep jobs may run elsewhere, and
`dvc exp run --queue` runs each experiment in a temporary copy under `.dvc/tmp/exps/`.
Everything that must be shared between them (the MLflow store) is resolved against the
real workspace, never against the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from mnist_pipeline.plumbing.errors import PipelineError

MARKER = "dvc.yaml"
# Set by DVC for every stage it runs; for a queued experiment it names the workspace the
# experiment was queued from, not the temporary copy it runs in.
DVC_ROOT_ENV = "DVC_ROOT"


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) that holds dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    raise PipelineError(f"no {MARKER} found at or above {here}: run this from inside the mnist-pipeline repository")


def workspace_root() -> Path:
    """The workspace whose MLflow store runs belong in: $DVC_ROOT under DVC, else `repo_root()`."""
    dvc_root = os.environ.get(DVC_ROOT_ENV)
    return Path(dvc_root).resolve() if dvc_root else repo_root()

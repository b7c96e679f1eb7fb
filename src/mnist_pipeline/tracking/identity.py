"""Tags that say where a run came from: how it was started, which data, which framework.

Read by people comparing runs in MLflow ("was this the queued grid or my sweep?", "did
these two runs see the same data?"). The git commit and dirty state come from
`store.git_tags`; everything here is cheap and never fails a run.
"""

from __future__ import annotations

import os
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.plumbing.workspace import DVC_EXPERIMENT_ENV, DVC_ROOT_ENV, Workspace

LAUNCHED_BY = "launched_by"
# The machine that trained: a sweep's jobs spread over a cluster's nodes (Ray, SLURM, submitit).
HOST = "host"
# Under Ray, the node that ran the job: its id, and its raylet's address (nodes share a hostname
# when they share a machine).
RAY_NODE = "ray_node"
RAY_NODE_ADDRESS = "ray_node_address"
# What trained on that machine: `CPU`, or the GPU's name (learn/device.py).
DEVICE = "mnist_pipeline.device"


def launched_by(workspace: Workspace) -> str:
    """`dvc exp`, `dvc queue`, `dvc repro`, `sweep` (a Hydra multirun), `hydra` or `script`.

    A queued experiment runs in a temporary copy of the workspace whose store is elsewhere.
    """
    if os.environ.get(DVC_EXPERIMENT_ENV):
        return "dvc queue" if workspace.is_queued_copy else "dvc exp"
    if os.environ.get(DVC_ROOT_ENV):
        return "dvc repro"
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized():
        return "sweep" if HydraConfig.get().mode == RunMode.MULTIRUN else "hydra"
    return "script"


def data_tags(workspace: Workspace, data_dir: Path) -> dict[str, str]:
    """The DVC hash of `data_dir` when it is a pipeline output recorded in the workspace's dvc.lock."""
    lock = workspace.dvc_lock
    if not lock.is_file():
        return {"data.source": "unversioned"}
    try:
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    except yaml.YAMLError:
        return {"data.source": "unversioned"}
    target = data_dir.resolve()
    for stage, entry in stages.items():
        for out in entry.get("outs", []):
            if (workspace.root / out["path"]).resolve() == target and "md5" in out:
                return {"data.source": f"dvc:{stage}", "data.dvc_md5": str(out["md5"])}
    return {"data.source": "unversioned"}


# The distributions TensorFlow comes as: the CPU build (x86-64 Linux), or the regular wheel (with
# CUDA on x86-64 Linux, the `[gpu]` extra; the only one elsewhere). Both install the `tensorflow` module.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow")


def tensorflow_requirements(version: str) -> list[str]:
    """TensorFlow pinned to `version` once per platform this project names a distribution for,
    with the environment markers of the project's own dependencies (pyproject.toml), extras left out."""
    from packaging.requirements import Requirement

    found = []
    for requirement in map(Requirement, metadata.requires("mnist-pipeline") or []):
        marker = str(requirement.marker or "")
        if requirement.name in TENSORFLOW_DISTRIBUTIONS and "extra" not in marker:
            found.append(f"{requirement.name}=={version}" + (f"; {marker}" if marker else ""))
    return found


def tensorflow_version() -> str | None:
    """The installed TensorFlow's version, whichever distribution brought it; None without one."""
    for dist in TENSORFLOW_DISTRIBUTIONS:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def framework_tags() -> dict[str, str]:
    """Keras and TensorFlow versions and the Keras backend (Keras must already be imported)."""
    import keras

    tags = {"keras_version": keras.__version__, "keras_backend": keras.backend.backend()}
    if (version := tensorflow_version()) is not None:
        tags["tensorflow_version"] = version
    return tags


def ray_tags() -> dict[str, str]:
    """The Ray node this process runs on; none outside a Ray worker (Ray is never imported here)."""
    ray: Any = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    node_id = ray.get_runtime_context().get_node_id()
    tags = {RAY_NODE: node_id}
    try:
        nodes = ray.nodes()  # a call to the cluster's head, which must not fail the run
    except Exception:
        return tags
    for node in nodes:
        if node.get("NodeID") == node_id:
            tags[RAY_NODE_ADDRESS] = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
    return tags


def run_tags(workspace: Workspace, data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Every identity tag of a training run; `extra` (e.g. a sweep's) wins."""
    tags: dict[str, Any] = {
        LAUNCHED_BY: launched_by(workspace),
        HOST: socket.gethostname(),
        **data_tags(workspace, data_dir),
        **framework_tags(),
        **ray_tags(),
    }
    if os.environ.get(DVC_EXPERIMENT_ENV):
        tags["dvc_exp_name"] = os.environ[DVC_EXPERIMENT_ENV]
    return {**tags, **(extra or {})}

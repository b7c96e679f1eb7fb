"""Sweep jobs as Ray tasks (`hydra/launcher=ray_cluster`, conf/hydra/launcher/ray_cluster.yaml).

Two things Ray does not do for a sweep: it retries a cluster address that nothing answers for
minutes before it fails, so the sweep checks the address first and stops in one line; and its
workers start in their node's folder with their node's environment, so each worker moves to the
sweep's folder and takes the sweep's tracking store (`setup_worker`, Ray's setup hook) before
Hydra resolves the job's relative output folder there.
"""

from __future__ import annotations

import os
import socket

from omegaconf import DictConfig, OmegaConf

from mnist_pipeline.plumbing.errors import PipelineError

INIT_KEY = "hydra.launcher.ray.init"  # ray.init's arguments
ADDRESS_KEY = f"{INIT_KEY}.address"
PLUGIN_DEFAULT = 78643200  # the object store size the plugin adds when the key is absent
ADDRESS_ENV = "RAY_ADDRESS"  # what ray.init connects to when no address is given
CWD_ENV = "MNIST_PIPELINE_SWEEP_CWD"  # set by conf/hydra/launcher/ray_cluster.yaml for the workers
TRACKING_ENV = "MLFLOW_TRACKING_URI"
CONNECT_TIMEOUT_S = 3.0
_NOT_AN_ADDRESS = ("", "auto", "local")  # ray.init finds or starts the cluster itself


def uses_ray(config: DictConfig) -> bool:
    """Whether the sweep's launcher (the whole config's `hydra.launcher`) is the Ray launcher."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    return target.startswith("hydra_plugins.hydra_ray_launcher.")


def check_cluster(config: DictConfig) -> None:
    """Fail in one line, within seconds, when the cluster address the sweep names does not answer,
    or when the launcher's config would make ray.init refuse it."""
    given = OmegaConf.select(config, ADDRESS_KEY, default=None)
    address, source = (str(given), ADDRESS_KEY) if given else (os.environ.get(ADDRESS_ENV, ""), ADDRESS_ENV)
    if address in _NOT_AN_ADDRESS:
        return
    if OmegaConf.select(config, f"{INIT_KEY}.object_store_memory", default=PLUGIN_DEFAULT) is not None:
        raise PipelineError(
            f"{source}={address}: Ray refuses {INIT_KEY}.object_store_memory when it joins a cluster, "
            "and hydra/launcher=ray always passes one; "
            "use hydra/launcher=ray_cluster (conf/hydra/launcher/ray_cluster.yaml)"
        )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise PipelineError(f"{source}={address} is not HOST:PORT; give the address `ray start --head` printed")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else exc.strerror or str(exc)
        drop = f"drop {source}" if source == ADDRESS_KEY else f"unset {source}"
        raise PipelineError(
            f"no Ray cluster at {address} ({reason}); start one with `ray start --head --port={port}` or {drop}"
        ) from None


def setup_worker() -> None:
    """Ray's worker_process_setup_hook: run in the sweep's folder, log to the sweep's store."""
    cwd = os.environ.get(CWD_ENV)
    if cwd:
        os.chdir(cwd)
    if not os.environ.get(TRACKING_ENV):  # the sweep had none: the job's config or the workspace's store
        os.environ.pop(TRACKING_ENV, None)

"""Shared fixtures: the real MNIST mirror, a temporary copy of the repository as its own git
repo, and an environment in which `dvc`, `python` and `mnist-pipeline` are this venv's."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mnist_pipeline.config import DataConfig
from mnist_pipeline.data.download import Transfer, download_mnist

# process_leaks: the suite fails if a test leaves a process; teamstack: the team stack's
# fixture (PostgreSQL, S3, mlflow server), for tests/team/.
pytest_plugins = ["process_leaks", "pytester", "teamstack"]

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# Downloads from a local folder: no retries to wait for.
LOCAL_TRANSFER = Transfer(timeout=10, retries=0, backoff=0)


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    """The offline MNIST copy: $MNIST_MIRROR, else ../shared/mnist beside the repository."""
    mirror = Path(os.environ.get("MNIST_MIRROR") or REPO.parent / "shared" / "mnist")
    if not (mirror / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"no MNIST mirror at {mirror}: set MNIST_MIRROR to a folder with the four *-ubyte.gz files")
    return mirror


def pipeline_env(mirror: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MNIST_MIRROR"] = str(mirror)
    return env


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rest(url: str, endpoint: str, body: dict | None = None) -> dict:
    """One call to a tracking server's REST API, as any MLflow client in any language makes it."""
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{endpoint}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def stage_command(stage: str) -> list[str]:
    """The command dvc.yaml runs for `stage` (run it at a repository root, as DVC does)."""
    import shlex

    import yaml

    return shlex.split(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"])


def copy_repo(dest: Path) -> Path:
    """The project's tracked and unignored files, committed into a fresh git repo at `dest`."""
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def set_conf(repo: Path, group_file: str, **values: object) -> None:
    """Edit one conf/ file in a repo copy, as a user would by hand."""
    import yaml

    path = repo / "conf" / group_file
    data = yaml.safe_load(path.read_text())
    data.update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def small_repo(dest: Path, mirror: Path, subset: int, epochs: int) -> tuple[Path, dict[str, str]]:
    """A repo copy that trains on the first `subset` images for `epochs` epochs, with params.yaml
    regenerated, and the environment to run its commands in."""
    repo, env = copy_repo(dest), pipeline_env(mirror)
    set_conf(repo, "data/mnist.yaml", subset=subset)
    set_conf(repo, "train/default.yaml", epochs=epochs)
    run(["mnist-pipeline", "params"], repo, env)
    return repo, env


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> Path:
    """The four verified raw IDX files, downloaded once per session from the mirror."""
    dest = tmp_path_factory.mktemp("raw")
    download_mnist(dest, [str(mnist_mirror)], LOCAL_TRANSFER)
    return dest


def data_config(**changes: object) -> DataConfig:
    """A valid `data` config for tests that call library functions directly."""
    values = {
        "mirror": None,
        "mirrors": [],
        "download_timeout": 10.0,
        "download_retries": 0,
        "download_backoff": 0.0,
        "val_fraction": 0.2,
        "subset": None,
        "subset_strategy": "first",
    }
    return DataConfig(**{**values, **changes})  # type: ignore[arg-type]


@pytest.fixture
def tracking_store(tmp_path: Path) -> str:
    """A fresh SQLite MLflow store for one test."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@dataclass(frozen=True)
class TrainedModel:
    """What the pipeline leaves behind after training and evaluating one model."""

    config: Any  # PipelineConfig
    root: Path  # where the MLflow store lives
    data_dir: Path
    model_file: Path
    run_id: str
    metrics: dict[str, Any]

    @property
    def tracking_uri(self) -> str:
        return str(self.config.tracking.uri)

    def logged_model_id(self, name: str = "model") -> str:
        """The id of the model the train stage logged as `name` (`model`: Keras, `model_onnx`: its
        ONNX export): `models:/<id>` loads it."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.tracking_uri)
        experiment = client.get_experiment_by_name(self.config.tracking.experiment)
        found = client.search_logged_models([experiment.experiment_id], filter_string=f"name = '{name}'")
        return found[0].model_id

    @property
    def champion_uri(self) -> str:
        """The registry's champion: the evaluate stage registered this model and, being the
        first in its store, made it the champion."""
        return f"models:/{self.config.registry.model_name}@champion"


@pytest.fixture(scope="session")
def small_cnn(tmp_path_factory: pytest.TempPathFactory, raw_dir: Path) -> Iterator[TrainedModel]:
    """The CNN experiment (`+experiment=cnn`) trained by the real train and evaluate stages on
    6,000 MNIST images for 3 epochs (about 97% test accuracy), logged to its own MLflow store;
    shared by the tests of prediction, serving and model behaviour."""
    from mnist_pipeline.config import validate
    from mnist_pipeline.plumbing.workspace import MODEL_FILE, Workspace
    from mnist_pipeline.stages import params
    from mnist_pipeline.stages.evaluate import evaluate_stage
    from mnist_pipeline.stages.preprocess import preprocess_stage
    from mnist_pipeline.stages.train import train_stage

    root = tmp_path_factory.mktemp("small_cnn")
    shutil.copytree(REPO / "conf", root / "conf")  # run names are measured against conf/
    config = validate(
        params.compose(
            Workspace(REPO),
            [
                "+experiment=cnn",
                "data.subset=6000",
                "data.subset_strategy=stratified",
                "train.epochs=3",
                "train.batch_size=64",
                "train.onednn=null",  # the test process's TensorFlow, loaded once (learn/onednn.py)
                f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
                "tracking.experiment=test",
            ],
        )
    )
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        preprocess_stage(config, raw_dir, root / "processed")
        workspace = Workspace(root)
        run_id = train_stage(config, root / "processed", root / "models", root / "history.csv", workspace)
        metrics = evaluate_stage(
            config, root / "processed", root / "models", root / "metrics.json", root / "predictions.csv", workspace
        )
        yield TrainedModel(config, root, root / "processed", root / "models" / MODEL_FILE, run_id, metrics)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """`small_disk("20m")` mounts a tmpfs of that size at `tmp_path/disk` (`small_disk("1m", name)`
    at `tmp_path/name`; again with a new size, as if space were freed) and returns its folder;
    unmounted at the end. Skips where mounting is not permitted."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "disk") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        options = f"remount,size={size}" if folder in mounted else f"size={size}"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
        if folder not in mounted:
            mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        # Lazily where this process still holds a file there (MLflow keeps its SQLite store open).
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


FILLER = "filler"


def fill_disk(folder: Path, leave_kib: int) -> Path:
    """Fill the file system of `folder` until `leave_kib` KiB are left (a file named FILLER
    there; delete it to free the space)."""
    filler = folder / FILLER
    filler.unlink(missing_ok=True)
    stats = os.statvfs(folder)
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave_kib * 1024))
    return filler

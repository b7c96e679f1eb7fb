"""What a trained run records about where it ran and what its model needs to be served: the
device tag (`CPU`, or the GPU's name where TensorFlow sees one), and the logged Keras model's
requirements, which name TensorFlow at the version that trained (tensorflow-cpu on x86-64 Linux,
`tensorflow` elsewhere, by environment markers), beside Keras, NumPy and MLflow as installed."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from packaging.requirements import Requirement

from conftest import REPO, data_config
from mnist_pipeline.config import validate
from mnist_pipeline.data.preprocess import preprocess
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
from mnist_pipeline.stages.train import train_stage

DEVICE_TAG = "mnist_pipeline.device"


@pytest.fixture(scope="module")
def trained(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The real train stage on 1,000 images for one epoch, in its own store: (store URI, run id)."""
    root = tmp_path_factory.mktemp("short_run")
    shutil.copytree(REPO / "conf", root / "conf")  # run names are measured against conf/
    uri = f"sqlite:///{root / 'mlflow.db'}"
    overrides = ["data.subset=1000", "train.epochs=1", f"tracking.uri={uri}", "tracking.experiment=test"]
    config = validate(params.compose(Workspace(REPO), overrides))
    preprocess(raw_dir, root / "processed", data_config(subset=1000))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        run_id = train_stage(config, root / "processed", root / "models", root / "history.csv", Workspace(root))
    return uri, run_id


def visible_gpus() -> list[str]:
    """The GPUs' names as the driver gives them (nvidia-smi), else as TensorFlow does."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return []
    if shutil.which("nvidia-smi"):
        listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True)
        if listed.returncode == 0 and listed.stdout.strip():
            return listed.stdout.decode().strip().splitlines()
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return [str(details.get("device_name", "GPU"))]


def device_tag(trained: tuple[str, str]) -> str:
    uri, run_id = trained
    return MlflowClient(uri).get_run(run_id).data.tags[DEVICE_TAG]


def test_a_run_on_the_cpu_is_tagged_cpu(trained: tuple[str, str]) -> None:
    if visible_gpus():
        pytest.skip("a GPU is visible to TensorFlow: this machine trains on it")
    assert device_tag(trained) == "CPU"


def test_a_run_on_a_gpu_is_tagged_with_the_gpu_name(trained: tuple[str, str]) -> None:
    gpus = visible_gpus()
    if not gpus:
        pytest.skip("no GPU visible to TensorFlow (CPU-only build or machine)")
    tag = device_tag(trained)
    assert tag != "CPU" and any(tag.startswith(name.strip()) for name in gpus), (tag, gpus)


def logged_files(trained: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    uri, run_id = trained
    client = MlflowClient(uri)
    model = client.search_logged_models([client.get_run(run_id).info.experiment_id], filter_string="name = 'model'")[0]
    folder = Path(
        mlflow.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp_path), tracking_uri=uri)
    )
    return {name: (folder / name).read_text() for name in ("requirements.txt", "conda.yaml", "python_env.yaml")}


def test_the_logged_model_requires_tensorflow_by_its_portable_name(trained: tuple[str, str], tmp_path: Path) -> None:
    """tensorflow-cpu where it trains (x86-64 Linux), `tensorflow` at the same version wherever
    else the model is served (macOS, ARM), chosen by environment markers."""
    files = logged_files(trained, tmp_path)
    version = installed_tensorflow()
    expected = {
        f'tensorflow-cpu=={version}; sys_platform == "linux" and platform_machine == "x86_64"',
        f'tensorflow=={version}; sys_platform != "linux" or platform_machine != "x86_64"',
        f"keras=={keras.__version__}",
        f"numpy=={np.__version__}",
        f"mlflow=={mlflow.__version__}",
    }
    assert set(files["requirements.txt"].splitlines()) == expected
    conda_pip = next(dep["pip"] for dep in yaml.safe_load(files["conda.yaml"])["dependencies"] if isinstance(dep, dict))
    assert set(conda_pip) == expected
    python_env = yaml.safe_load(files["python_env.yaml"])
    assert python_env["dependencies"] == ["-r requirements.txt"]
    for platform, machine, wanted in [
        ("linux", "x86_64", "tensorflow-cpu"),
        ("darwin", "arm64", "tensorflow"),
        ("linux", "aarch64", "tensorflow"),
    ]:
        there = {"sys_platform": platform, "platform_machine": machine}
        tensorflow = [
            r.name for r in map(Requirement, expected) if r.name.startswith("tensorflow") and r.marker.evaluate(there)
        ]
        assert tensorflow == [wanted], platform


def installed_tensorflow() -> str:
    """The version of the TensorFlow that trained, whichever build: tensorflow-cpu, or tensorflow."""
    for distribution in ("tensorflow-cpu", "tensorflow"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    raise AssertionError("no TensorFlow installed")

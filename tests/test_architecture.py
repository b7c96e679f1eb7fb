"""The package's layering (the import contracts in pyproject.toml) holds, and breaks on the
imports it exists to stop: each case copies the package, adds one wrong import, and runs
the real `lint-imports` on the copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_copy(tmp_path: Path, module: str | None = None, line: str = "") -> subprocess.CompletedProcess[str]:
    """`lint-imports` on a copy of src/ (with `line` added at the top of `module`, a path in the package)."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    if module is not None:
        path = tmp_path / "src" / "mnist_pipeline" / module
        path.write_text(f"{line}\n{path.read_text()}")
    # The copy wins over the installed package; wide lines keep each contract on one line.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    done = lint_copy(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("data/download.py", "from mnist_pipeline.tracking import naming", "Layers"),
        ("learn/model.py", "from mnist_pipeline.stages import params", "Layers"),
        ("tracking/store.py", "from mnist_pipeline.learn import evaluation", "Layers"),
        ("predict/imageprep.py", "import mlflow", "Only tracking/ imports mlflow"),
        ("stages/evaluate.py", "import mlflow", "Only tracking/ imports mlflow"),
        ("data/preprocess.py", "import tensorflow", "Only learn/ imports TensorFlow"),
        ("predict/imageprep.py", "import keras", "Only learn/ imports TensorFlow"),
        ("learn/fused_loop.py", "from mnist_pipeline.learn import training", "No import cycles"),
    ],
    ids=[
        "data imports tracking",
        "learn imports stages",
        "tracking imports learn",
        "predict imports mlflow",
        "a stage imports mlflow",
        "data imports tensorflow",
        "predict imports keras",
        "training <-> fused_loop cycle",
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    done = lint_copy(tmp_path, module, line)
    assert done.returncode == 1, done.stdout[-3000:]
    broken = [text for text in done.stdout.splitlines() if " BROKEN" in text]
    assert any(text.startswith(contract) for text in broken), done.stdout[-3000:]

"""dvc.yaml lists, for each stage script, the modules it runs: a stage re-runs when its code
changes, and only then. The truth is the import graph (grimp, import-linter's engine) from
the stage script's own imports; a folder dep stands for every module in it."""

from __future__ import annotations

import ast
import dataclasses
import shlex
from pathlib import Path

import grimp
import pytest
import yaml

from conftest import REPO
from mnist_pipeline.config import TrainConfig

PACKAGE = "mnist_pipeline"
SOURCE = Path("src") / PACKAGE
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
# Stages whose command is a script in pipelines/ (check_params runs the CLI, listed by hand).
SCRIPTS = {name: shlex.split(stage["cmd"])[1] for name, stage in STAGES.items() if stage["cmd"].startswith("python ")}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Imports under `if TYPE_CHECKING:` never run, so they do not make a stage depend on a module.
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True)


def modules_run_by(script: Path, graph: grimp.ImportGraph) -> set[str]:
    """The package's modules that `script` imports, directly or not, with the packages above them."""
    imports = [node for node in ast.walk(ast.parse(script.read_text())) if isinstance(node, ast.ImportFrom)]
    direct = {node.module for node in imports if (node.module or "").startswith(PACKAGE)}
    modules = set(direct).union(*(graph.find_upstream_modules(m) for m in direct))
    return modules | {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}


def source_file(module: str) -> str:
    path = SOURCE.joinpath(*module.split(".")[1:])
    return str(path / "__init__.py") if (REPO / path).is_dir() else f"{path}.py"


@pytest.mark.parametrize("stage", sorted(SCRIPTS))
def test_each_stage_lists_exactly_the_modules_it_runs(stage: str, graph: grimp.ImportGraph) -> None:
    deps = [str(d) for d in STAGES[stage]["deps"]]
    run = {source_file(m) for m in modules_run_by(REPO / SCRIPTS[stage], graph)}
    folders = [d for d in deps if d.startswith(str(SOURCE)) and (REPO / d).is_dir()]
    files = {d for d in deps if d.startswith(str(SOURCE)) and d.endswith(".py")}
    assert SCRIPTS[stage] in deps
    missing = sorted(f for f in run if f not in files and not any(f.startswith(f"{d}/") for d in folders))
    assert not missing, f"{stage} runs these modules, but dvc.yaml does not list them: {missing}"
    assert not files - run, f"{stage} lists modules it does not run: {sorted(files - run)}"


def test_the_train_stage_reruns_for_every_train_key_that_can_change_the_weights() -> None:
    """Every `train` key but the loop's speed knobs, which give the same weights bit for bit
    (tests/learn/test_fused_loop.py), is a param of the train stage: a new value trains anew.
    The thread counts are among them: on some CPUs they change the order of float sums."""
    speed_only = {"train.loop", "train.steps_per_execution"}
    keys = {f"train.{field.name}" for field in dataclasses.fields(TrainConfig)}
    assert keys - speed_only <= set(STAGES["train"]["params"])
    assert not speed_only & set(STAGES["train"]["params"])

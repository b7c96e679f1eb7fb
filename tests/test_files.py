"""Atomic folder writes whose temporary folder stays out of the repository's sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_pipeline.plumbing.files import atomic_dir
from mnist_pipeline.plumbing.workspace import Workspace


def test_a_stage_output_is_built_in_the_scratch_folder_and_appears_whole(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    with atomic_dir(tmp_path / "models", workspace.scratch_dir) as tmp:
        (tmp / "model.keras").write_bytes(b"weights")
        assert sorted(p.name for p in tmp_path.iterdir()) == [".dvc"]  # nothing at the root while it runs
        assert tmp.parent == workspace.scratch_dir
    assert (tmp_path / "models" / "model.keras").read_bytes() == b"weights"
    assert list(workspace.scratch_dir.iterdir()) == []


def test_a_failed_build_leaves_neither_output_nor_scratch(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "models", workspace.scratch_dir) as tmp:
        (tmp / "model.keras").write_bytes(b"half")
        raise RuntimeError("cut")
    assert not (tmp_path / "models").exists()
    assert list(workspace.scratch_dir.iterdir()) == []

"""`mnist-pipeline plots-page` writes the page `dvc plots` fills in, with the libraries inline
(no script loaded from elsewhere), ignored by git, only when it is missing or stale, and names
it in this clone's .dvc/config.local (a clone that never wrote it keeps DVC's own page)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import copy_repo, pipeline_env, run

PAGE = Path(".dvc/offline_plots.html")


def test_the_page_is_written_once_ignored_by_git_and_rewritten_when_stale(tmp_path: Path, mnist_mirror: Path) -> None:
    repo, env = copy_repo(tmp_path / "repo"), pipeline_env(mnist_mirror)
    template = ["dvc", "config", "plots.html_template"]
    assert run(template, repo, env).stdout.strip() == ""  # DVC's own page
    assert run(["mnist-pipeline", "plots-page"], repo, env).stdout.startswith(f"wrote {PAGE}: Vega ")
    page = (repo / PAGE).read_text()
    assert "{plot_divs}" in page and "window.vegaEmbed" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing fetched: DVC's CDN tags come with {scripts}
    assert "{scripts}" not in page
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    assert run(template, repo, env).stdout.strip() == PAGE.name
    assert run(["mnist-pipeline", "plots-page"], repo, env).stdout.startswith(f"up to date: {PAGE}: ")
    (repo / PAGE).write_text(page.replace("Vega-Embed", "Vega-Embed 0", 1))  # as if from another vl-convert
    assert run(["mnist-pipeline", "plots-page"], repo, env).stdout.startswith(f"wrote {PAGE}: ")
    assert (repo / PAGE).read_text() == page

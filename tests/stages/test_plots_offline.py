"""`dvc plots show` and `dvc plots diff` on a real pipeline's outputs give a page whose charts
draw in a real browser with no network: every Vega plot DVC lists is drawn (Vega-Embed's
<svg class="marks"> or <canvas class="marks">), and every picture is on the page and on disk.
The pipeline: a repository copy, 2,000 MNIST images, 2 epochs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from dvc_render.base import Renderer
from PIL import Image

from browser import rendered_dom
from conftest import run, small_repo

pytestmark = pytest.mark.slow
CHARTS = {"Loss", "Accuracy", "reports/predictions.csv", "reports/per_class_metrics.csv"}
PICTURES = {
    "reports/figures/train/training_curves.png",
    "reports/figures/evaluate/confusion_matrix.png",
    "reports/figures/evaluate/misclassified.png",
    "reports/figures/evaluate/sample_predictions.png",
    "reports/figures/evaluate/robustness.png",
}


class Page(HTMLParser):
    """What a page shows, per plot (the outermost <div> with an id, which DVC writes for each):
    how many drawn Vega views and which pictures it holds. Script text is not parsed as tags."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: dict[str, int] = {}
        self.pictures: dict[str, list[str]] = {}
        self._plot: str | None = None
        self._depth = 0  # open <div>s inside the current plot's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and self._plot is None and found.get("id"):
            self._plot, self._depth = found["id"], 0
            self.drawn[self._plot], self.pictures[self._plot] = 0, []
        elif self._plot is None:
            return
        if tag == "div":
            self._depth += 1
        elif tag in ("svg", "canvas") and "marks" in (found.get("class") or "").split():
            self.drawn[self._plot] += 1
        elif tag == "img":
            self.pictures[self._plot].append(found.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if self._plot is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._plot = None


@pytest.fixture(scope="module")
def repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A pipeline run, committed (so that `dvc plots diff HEAD` has a revision to load), with
    the offline page written as `make plots` writes it. Its 140 MB go when the tests passed."""
    failed = request.session.testsfailed
    path, env = small_repo(tmp_path_factory.mktemp("plots"), mnist_mirror, subset=2000, epochs=2)
    run(["dvc", "repro"], path, env)
    run(["mnist-pipeline", "plots-page"], path, env)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run([*git, "add", "-A"], path, env)
    run([*git, "commit", "-qm", "pipeline run"], path, env)
    yield path, env
    if request.session.testsfailed == failed:
        shutil.rmtree(path, ignore_errors=True)


def listed(repo: tuple[Path, dict[str, str]], command: list[str]) -> dict[str, list[dict]]:
    """The plots DVC lists for `dvc plots <command>`: name -> its entries (type, revisions, ...)."""
    path, env = repo
    return json.loads(run(["dvc", "plots", *command, "--json"], path, env).stdout)["data"]


def shown(repo: tuple[Path, dict[str, str]], command: list[str]) -> tuple[Page, Path]:
    """The page `dvc plots <command>` writes (the file:// address it prints), as a browser shows it."""
    path, env = repo
    printed = run(["dvc", "plots", *command], path, env).stdout.split()
    page_file = Path(unquote(next(word for word in printed if word.startswith("file://")).removeprefix("file://")))
    page = Page()
    page.feed(rendered_dom(page_file))
    return page, page_file


def check_every_plot_drew(plots: dict[str, list[dict]], page: Page, page_file: Path, revisions: int) -> None:
    charts = {name for name, entries in plots.items() if entries[0]["type"] == "vega"}
    pictures = {name for name, entries in plots.items() if entries[0]["type"] == "image"}
    assert charts == CHARTS  # train_history.csv appears only as Loss and Accuracy
    assert pictures == PICTURES
    ids = {name: Renderer.remove_special_chars(name) for name in plots}
    assert {name: page.drawn.get(ids[name]) for name in charts} == dict.fromkeys(charts, 1), "a chart did not draw"
    for name in pictures:
        sources = page.pictures.get(ids[name], [])
        assert len(sources) == revisions, name
        for source in sources:
            with Image.open(page_file.parent / unquote(source)) as image:
                assert image.format == "PNG" and min(image.size) > 100, name


def test_plots_show_draws_every_chart_offline(repo: tuple[Path, dict[str, str]]) -> None:
    page, page_file = shown(repo, ["show"])
    check_every_plot_drew(listed(repo, ["show"]), page, page_file, revisions=1)


def test_plots_diff_draws_every_chart_offline(repo: tuple[Path, dict[str, str]]) -> None:
    page, page_file = shown(repo, ["diff", "HEAD", "-o", "plots_diff"])
    check_every_plot_drew(listed(repo, ["diff", "HEAD"]), page, page_file, revisions=2)

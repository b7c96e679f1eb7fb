"""The page `dvc plots show` and `dvc plots diff` fill in (`plots.html_template` in .dvc/config).

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline its charts stay
blank. This page carries the three libraries inline, bundled by the installed vl-convert-python
(the Vega project's own package, pinned in requirements.lock), so the page DVC writes draws
from disk, with no network, wherever the repository or the page is moved. It is generated
(about 0.9 MB), not committed: `make plots` and `make pipeline` write it when it is missing
or stale, and only then name it in .dvc/config.local (this clone's own DVC settings, never
committed), so that a clone that never wrote it keeps DVC's own page instead of failing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mnist_pipeline.plumbing.files import atomic_file
from mnist_pipeline.plumbing.workspace import Workspace

# DVC's plot templates are Vega-Lite 5 specs: the newest 5.x that vl-convert-python bundles.
VEGA_LITE = "5.21"

# DVC's default page (dvc_render.html.PAGE_HTML) with the libraries inline instead of its
# `{scripts}` placeholder, which DVC would fill with the CDN tags. The bundle sets
# window.vegaEmbed; a classic script (not a module) runs before the plots' inline scripts.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- STAMP -->
    <script>(function () {
BUNDLE
})();</script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


# Where the page goes, relative to .dvc/ (as DVC reads `plots.html_template`).
PAGE_NAME = "offline_plots.html"


def template_path(workspace: Workspace) -> Path:
    return workspace.root / ".dvc" / PAGE_NAME


def use_page(workspace: Workspace) -> None:
    """Name the page as this clone's `plots.html_template` (.dvc/config.local), unless it already is."""
    from dvc.config import Config

    config = Config(dvc_dir=os.fspath(workspace.root / ".dvc"))
    if config.get("plots", {}).get("html_template") == PAGE_NAME:
        return
    with config.edit("local") as local:
        local.setdefault("plots", {})["html_template"] = PAGE_NAME


def stamp() -> str:
    """What the page is made of (library versions and this page's layout): a page with another
    stamp is stale."""
    import vl_convert

    layout = hashlib.sha256(PAGE.encode()).hexdigest()[:12]
    return (
        f"Vega {vl_convert.get_vega_version()}, Vega-Lite {VEGA_LITE}, Vega-Embed {vl_convert.get_vega_embed_version()}"
        f" (vl-convert-python {vl_convert.__version__}, page {layout})"
    )


def write(workspace: Workspace) -> tuple[Path, bool]:
    """Write the page unless it is already current, and have DVC use it; returns its path and
    whether it was written."""
    import vl_convert

    path, current = template_path(workspace), stamp()
    written = not (path.is_file() and f"<!-- {current} -->" in path.read_text(encoding="utf8"))
    if written:
        page = PAGE.replace("STAMP", current).replace("BUNDLE", vl_convert.javascript_bundle(vl_version=VEGA_LITE))
        with atomic_file(path) as tmp:
            tmp.write_text(page, encoding="utf8")
    use_page(workspace)
    return path, written

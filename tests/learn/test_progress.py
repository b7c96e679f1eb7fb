"""Progress within an epoch: on a terminal a short real training shows a bar that counts the
epoch's steps (and leaves only the epoch lines behind); with output to a pipe or a file, as
under CI or a log, it prints no bar, only one line per epoch. The bar changes nothing trained."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, data_config
from mnist_pipeline.config import validate
from mnist_pipeline.data.preprocess import load_split, preprocess
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params

pytestmark = pytest.mark.slow
EPOCHS = 2
# 1,600 training images: 25 steps of 64 per epoch.
STEPS = 25
# What a user runs: the library's fit on real MNIST, the bar decided by where its output goes.
TRAIN = f"""
import sys
from pathlib import Path
from mnist_pipeline.config import validate
from mnist_pipeline.data.preprocess import load_split
from mnist_pipeline.learn.training import fit
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages import params
config = validate(params.compose(Workspace(Path({str(REPO)!r})), ["train.epochs={EPOCHS}"]))
data = Path(sys.argv[1])
fit(config.model, config.train, load_split(data, "train"), load_split(data, "val"))
"""
EPOCH_LINE = re.compile(rf"^Epoch (\d)/{EPOCHS} - [\d.]+s - loss: ", re.MULTILINE)
BAR = re.compile(rf"Epoch (\d)/{EPOCHS}: +\d+%\|.*\| *\d+/{STEPS} \[")


@pytest.fixture(scope="module")
def processed(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    preprocess(raw_dir, out, data_config(subset=2000))
    return out


def on_terminal(processed: Path) -> str:
    """Everything the training printed to a pseudo-terminal of 24 rows and 100 columns."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    command = [sys.executable, "-c", TRAIN, str(processed)]
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output = b""
    try:
        while select.select([leader], [], [], 300)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has ended
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
        assert process.wait(timeout=60) == 0, output.decode(errors="replace")[-3000:]
    return output.decode(errors="replace")


def screen(output: str) -> list[str]:
    """The lines a terminal is left showing: on each line, what follows its last carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in output.replace("\r\n", "\n").split("\n")]


def test_a_terminal_shows_a_bar_within_each_epoch_then_the_epoch_line(processed: Path) -> None:
    output = on_terminal(processed)
    assert {int(epoch) for epoch in BAR.findall(output)} == {1, 2}, output
    # Drawn in place and then wiped: what stays on screen is the line per epoch, as without a terminal.
    shown = "\n".join(screen(output))
    assert [int(epoch) for epoch in EPOCH_LINE.findall(shown)] == [1, 2], output
    assert "%|" not in shown


def test_without_a_terminal_there_is_no_bar_only_the_epoch_lines(processed: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(processed)], capture_output=True, text=True, timeout=300, check=True
    )
    assert [int(epoch) for epoch in EPOCH_LINE.findall(done.stdout)] == [1, 2]
    assert len(done.stdout.splitlines()) == EPOCHS
    for text in (done.stdout, done.stderr):
        assert not BAR.search(text) and "%|" not in text and "\r" not in text


@pytest.mark.parametrize("loop", ["fused", "keras"])
def test_the_bar_changes_nothing_trained(processed: Path, loop: str) -> None:
    from mnist_pipeline.learn.training import fit

    config = validate(params.compose(Workspace(REPO), [f"train.loop={loop}", f"train.epochs={EPOCHS}"]))
    train, val = load_split(processed, "train"), load_split(processed, "val")
    with_bar, with_history = fit(config.model, config.train, train, val, show_progress=True)
    without_bar, without_history = fit(config.model, config.train, train, val, show_progress=False)
    assert with_history == without_history
    for shown, hidden in zip(with_bar.get_weights(), without_bar.get_weights(), strict=True):
        np.testing.assert_array_equal(shown, hidden)

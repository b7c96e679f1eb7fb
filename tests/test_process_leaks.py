"""The suite's own check (tests/process_leaks.py): a test that leaves a process behind fails the run."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = """
import subprocess, sys

def test_waits_for_its_child():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""
LEAKY_TEST = """
def test_leaves_a_sleeper():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A test folder whose conftest loads the plugin, as tests/conftest.py does."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    pytester.makeconftest('pytest_plugins = ["process_leaks"]')
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-workers"])
def test_a_test_that_leaves_a_process_fails_the_suite(suite: pytest.Pytester, workers: list[str]) -> None:
    suite.makepyfile(test_leaky=TESTS + LEAKY_TEST)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 passed*"])
    assert result.stderr.lines[-2] == "error: tests left processes running (now killed):"
    result.stderr.fnmatch_lines(
        ["  pid * (* -c import time; time.sleep(600)), first seen after test_leaky.py::test_leaves_a_sleeper"]
    )


def test_a_suite_whose_tests_wait_for_their_children_passes(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_tidy=TESTS)
    assert suite.runpytest_subprocess("-p", "no:cacheprovider").ret == pytest.ExitCode.OK

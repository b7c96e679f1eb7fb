#!/usr/bin/env python3
"""A small mutation check: deliberate one-line breakages of src/ that the fast tests must catch.

    python scripts/mutants.py            # or: make mutants (a few minutes; not part of `make test`)
    python scripts/mutants.py --list     # the mutants, without running anything

Each mutant replaces one line of a module in a temporary copy of the repository (never in
this checkout), then runs the tests named for it there; the mutant is caught when at least
one of them fails. The unmutated copy must pass the same tests first. Exits 1 if a mutant
survives: a blind spot of the test suite, to close with a test that fails on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str  # under src/mnist_pipeline/
    line: str  # the line's text (stripped), unique in the module
    becomes: str  # what the stripped text is replaced with (the indentation is kept)
    tests: tuple[str, ...]  # pytest node ids that must catch it


REPORTS = "tests/learn/test_reports_and_pictures.py"
CONF_ERRORS = "tests/stages/test_conf_errors.py"
MUTANTS = (
    Mutant(
        "per-class accuracy computed as precision",
        "learn/evaluation.py",
        'str(digit): float(np.mean(predicted[actual == digit] == digit)) if np.any(actual == digit) else float("nan")',
        'str(digit): float(np.mean(actual[predicted == digit] == digit)) if np.any(actual == digit) else float("nan")',
        (f"{REPORTS}::test_evaluation_matches_scikit_learn",),
    ),
    Mutant(
        "test loss in base 10",
        "learn/evaluation.py",
        "test_loss=float(np.mean(-np.log(true_probability))),",
        "test_loss=float(np.mean(-np.log10(true_probability))),",
        (f"{REPORTS}::test_evaluation_matches_scikit_learn",),
    ),
    Mutant(
        "macro F1 averaged over one digit too few",
        "learn/evaluation.py",
        'return sum(row["f1"] for row in report) / len(report)',
        'return sum(row["f1"] for row in report) / (len(report) - 1)',
        (f"{REPORTS}::test_evaluation_matches_scikit_learn",),
    ),
    Mutant(
        "one-hot labels smoothed (argmax and row sums unchanged)",
        "data/preprocess.py",
        'return np.eye(NUM_CLASSES, dtype="float32")[labels]',
        'return np.eye(NUM_CLASSES, dtype="float32")[labels] * 0.9 + 0.01',
        ("tests/data/test_data.py::test_scaling_and_one_hot_match_the_reference_math",),
    ),
    Mutant(
        "misclassified digits drawn least confident first",
        "learn/plots.py",
        'worst = wrong[np.argsort(-confidence[wrong], kind="stable")][: GRID * GRID]',
        'worst = wrong[np.argsort(confidence[wrong], kind="stable")][: GRID * GRID]',
        (f"{REPORTS}::test_pictures_show_the_counts_and_the_mistakes_computed_independently",),
    ),
    Mutant(
        "stale runs of dead processes left RUNNING",
        "tracking/store.py",
        "if owner_host != host or not pid.isdigit() or _alive(int(pid)):",
        "if owner_host != host or not pid.isdigit() or not _alive(int(pid)):",
        (
            "tests/tracking/test_run_lifecycle.py::test_a_run_left_running_by_a_killed_process_is_closed_by_the_next_run",
        ),
    ),
    Mutant(
        "YAML error one line off",
        "config.py",
        'where += f" line {mark.line + 1}, column {mark.column + 1}"',
        'where += f" line {mark.line}, column {mark.column + 1}"',
        (f"{CONF_ERRORS}::test_params_names_the_file_and_line_of_a_yaml_error",),
    ),
    Mutant(
        "unknown option without the folder of its choices",
        "stages/hydra_errors.py",
        'where = "" if group.startswith("hydra/") else f" (conf/{group}/*.yaml)"'
        "  # Hydra's own groups live in plugins",
        'where = ""',
        (f"{CONF_ERRORS}::test_params_and_sweep_list_the_models_for_an_unknown_one",),
    ),
)


def apply(copy: Path, mutant: Mutant) -> str:
    """Write the mutant into the copy; returns the module's original text."""
    path = copy / "src" / "mnist_pipeline" / mutant.module
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == mutant.line]
    if len(hits) != 1:
        raise SystemExit(f"error: mutant {mutant.name!r}: its line is {len(hits)} times in {mutant.module}, not once")
    line = lines[hits[0]]
    lines[hits[0]] = line[: len(line) - len(line.lstrip())] + mutant.becomes + "\n"
    path.write_text("".join(lines))
    return original


def copy_env(copy: Path) -> dict[str, str]:
    """The environment in which the copy's src/ is the package imported (before the installed one)."""
    return {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1"}


def run_python(copy: Path, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=copy, env=copy_env(copy), capture_output=True, text=True)
    return done.stdout.strip()


def run_tests(copy: Path, tests: tuple[str, ...], basetemp: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *tests]
    return subprocess.run(command, cwd=copy, env=copy_env(copy), capture_output=True, text=True, check=False)


def copy_checkout(dest: Path) -> Path:
    """This checkout's tracked and unignored files in a fresh git repository (tests copy it again)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import copy_repo

    return copy_repo(dest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = parser.parse_args()
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.module}: {mutant.name}\n    - {mutant.line}\n    + {mutant.becomes}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        copy = copy_checkout(Path(tmp) / "repo")
        imported = run_python(copy, "import mnist_pipeline; print(mnist_pipeline.__file__)")
        if not imported.startswith(str(copy)):
            print(f"error: the tests would import mnist_pipeline from {imported}, not the copy", file=sys.stderr)
            return 1
        every_test = tuple(dict.fromkeys(t for m in MUTANTS for t in m.tests))
        baseline = run_tests(copy, every_test, Path(tmp) / "pytest")
        if baseline.returncode != 0:
            print(baseline.stdout[-3000:], baseline.stderr[-2000:], sep="\n")
            print("error: the mutants' tests fail without any mutant; fix them first", file=sys.stderr)
            return 1
        survived = []
        for mutant in MUTANTS:
            started = time.monotonic()
            original = apply(copy, mutant)
            try:
                done = run_tests(copy, mutant.tests, Path(tmp) / "pytest")
            finally:
                (copy / "src" / "mnist_pipeline" / mutant.module).write_text(original)
            caught = done.returncode == 1  # tests failed (other codes: errors, no tests collected)
            seconds = time.monotonic() - started
            verdict = "caught  " if caught else "SURVIVED"
            print(f"{verdict} {mutant.module}: {mutant.name} ({seconds:.0f} s)", flush=True)
            if not caught:
                survived.append(mutant)
                print(done.stdout[-2000:])
    if survived:
        print(
            f"error: {len(survived)} of {len(MUTANTS)} mutants survived; add a test that fails on each", file=sys.stderr
        )
        return 1
    print(f"all {len(MUTANTS)} mutants caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())

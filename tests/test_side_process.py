"""The side process: its tasks run in order in one child; a process that runs job after job (a
sweep) keeps that child from one block to the next instead of starting one a block, and a
block that fails still ends its child. Each scenario runs in a fresh interpreter, since
`keep_between_blocks` holds for the rest of the process that calls it."""

from __future__ import annotations

import json
import subprocess
import sys

# Three blocks (the train and evaluate stages of one job, then the next job's train stage),
# the second one failing; prints the child's PID that each block's tasks ran in, and whether
# each PID is still alive at the end.
BLOCKS = """
import json, os, sys
from mnist_pipeline.plumbing import side_process

if sys.argv[1] == "keep":
    side_process.keep_between_blocks()
pids = []
for failing in (False, True, False):
    try:
        with side_process.SideProcess(int) as side:  # int(): a warm-up that imports nothing
            first = side.start("first", os.getpid)
            second = side.start("second", os.getppid)
            pids.append(first.wait())
            assert second.wait() == os.getpid()  # a child of this process
            if failing:
                raise RuntimeError("the block fails")
    except RuntimeError:
        pass

def alive(pid):
    try:
        os.waitpid(pid, os.WNOHANG)  # a child that ended is reaped, not counted
        os.kill(pid, 0)
        return True
    except (ChildProcessError, ProcessLookupError):
        return False

print(json.dumps({"pids": pids, "alive": [alive(pid) for pid in pids]}))
"""


def blocks(mode: str) -> dict[str, list]:
    done = subprocess.run([sys.executable, "-c", BLOCKS, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_each_block_has_a_child_of_its_own_and_leaves_none_running() -> None:
    seen = blocks("each")
    assert len(set(seen["pids"])) == 3
    assert seen["alive"] == [False, False, False]


def test_kept_the_next_block_takes_over_the_child_unless_its_block_failed() -> None:
    first, second, third = (seen := blocks("keep"))["pids"]
    assert first == second  # the evaluate stage's pictures in the child the train stage started
    assert third != second  # the failed block ended its child; the next block started another
    assert seen["alive"] == [False, False, True]  # the kept one ends with the process


# A worker that is itself a multiprocessing child, as a joblib sweep's are: it keeps its side
# child between jobs, then returns. Python 3.11 and 3.12 join a child's own children before
# running the exit hooks that shut a pool down, so a kept child left to those would hang the
# worker's exit, and the sweep with it.
WORKER = """
import multiprocessing, os
from mnist_pipeline.plumbing import side_process

def job():
    side_process.keep_between_blocks()
    for _ in range(2):
        with side_process.SideProcess(int) as side:
            side.start("pid", os.getpid).wait()

if __name__ == "__main__":
    worker = multiprocessing.get_context("spawn").Process(target=job)
    worker.start()
    worker.join(60)
    print("ended" if worker.exitcode == 0 else f"still running: {worker.is_alive()}")
    if worker.is_alive():
        worker.kill()
"""


def test_a_worker_process_that_kept_its_child_still_ends(tmp_path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "ended"

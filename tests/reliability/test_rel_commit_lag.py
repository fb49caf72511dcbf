"""R21: what a run of small, CPU-bound tasks finished is durable within a bounded time, not at its end.

The recorder commits from a background thread, which needs the GIL for its Python work and gets
it back after every SQLite statement. A chain of small tasks keeps the runner's thread running
Python (it runs each task itself) and lets the GIL go only for moments, and CPython handed it
back to the runner nearly every time: the recorder of a 10,000-task chain committed once in two
seconds, each batch bigger than the last, and a longer chain was committed only at its end. A
crash then lost every record, and a resume redid all the work. Now the runner waits for the
commit once a batch is two intervals old (``Recorder._wait_for_commit``).

The run is killed mid-way (after 10,000 tasks and 2 s of them); each task body wrote its index
and the time it ended to a ledger first. Every task that ended well before the kill must be
recorded ``success``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from reliability.rel_harness import rows

#: Tasks in the chain: more than it can finish before the kill.
LINKS = 45_000
#: Ledger lines, and seconds of running tasks, to wait for before the kill (both: on a fast machine
#: 10,000 tasks take under a second, and the margin below must leave tasks to check).
BEFORE_KILL = 10_000
RUNNING_FOR = 2.0
#: A task that ended this long before the kill must be committed (the bound is 2 intervals of
#: 50 ms plus one commit; the rest is room for a loaded machine).
MARGIN = 1.0

CHAIN = f"""
import sys, time
import suiro
from suiro import pipeline, task

ledger = open(sys.argv[1], "a", buffering=1)

@task
def link(i: int) -> int:
    ledger.write(f"{{i}} {{time.time()}}\\n")
    return i + 1

@pipeline
def chain():
    ref = link(0)
    for _ in range({LINKS} - 1):
        ref = link(ref)
    return ref

suiro.run(chain, home=sys.argv[2])
"""


def test_a_chain_of_small_tasks_is_committed_as_it_runs_not_at_its_end(tmp_path):
    ledger, home = tmp_path / "ledger.txt", tmp_path / "home"
    ledger.touch()
    proc = subprocess.Popen([sys.executable, "-c", CHAIN, str(ledger), str(home)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        first = None  # when the first task ended
        while True:
            count = _lines(ledger)
            if count and first is None:
                first = time.monotonic()
            if count >= BEFORE_KILL and first is not None and time.monotonic() - first >= RUNNING_FOR:
                break
            assert proc.poll() is None, f"the chain ended early ({proc.returncode})"
            assert time.monotonic() < deadline, "the chain did not reach its kill point in 120 s"
            time.sleep(0.05)
        killed_at = time.time()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    ended = {}
    for line in ledger.read_text().splitlines():
        index, at = line.split()
        ended[int(index)] = float(at)
    done_early = {i for i, at in ended.items() if at < killed_at - MARGIN}
    assert len(done_early) > BEFORE_KILL // 3, "too few tasks ended before the margin to tell anything"
    recorded = {  # task keys link, link_2, link_3, ... for indexes 0, 1, 2, ...
        int(row["task_key"].removeprefix("link").removeprefix("_") or 1) - 1
        for row in rows(home, "SELECT task_key FROM task_runs WHERE state = 'success'")
    }
    lost = sorted(done_early - recorded)
    assert not lost, (
        f"{len(lost)} of {len(done_early)} tasks that ended more than {MARGIN} s before the kill were "
        f"not committed (first: link #{lost[0]})"
    )


def _lines(path) -> int:
    with open(path, "rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 16), b""))

"""Fault points (``suiro.faults``): the switch every crash and disk-error test relies on.

A point does nothing unless ``SUIRO_FAULTPOINTS`` arms it; armed, it fires once, on its nth hit
in the process: SIGKILL, an ``OSError`` with the named errno, a sleep, or SIGSTOP.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import timeit
from pathlib import Path

import pytest

from suiro import faults
from suiro.faults import POINTS, FaultSpecError


@pytest.fixture(autouse=True)
def disarmed():
    faults.configure(None)
    yield
    faults.configure(None)


def test_every_point_named_in_the_spec_exists():
    assert set(POINTS) == {
        "artifact.tmp_written",
        "artifact.fsynced",
        "artifact.renamed",
        "artifact.dir_fsynced",
        "db.before_commit",
        "db.after_commit",
        "runner.task_done",
        "gc.listed",
        "scheduler.tick_created",
        "scheduler.tick_claimed",
    }


def test_points_do_nothing_when_unarmed():
    for point in POINTS:
        faults.fault(point)
    assert faults._faults is None


def test_an_unarmed_point_costs_about_a_function_call():
    per_call = min(timeit.repeat(lambda: faults.fault("db.before_commit"), number=100_000, repeat=3)) / 1e5
    assert per_call < 2e-6, f"{per_call * 1e9:.0f} ns per unarmed fault point"


@pytest.mark.parametrize(("code", "name"), [(errno.ENOSPC, "ENOSPC"), (errno.EIO, "EIO")])
def test_raise_fires_once_on_the_nth_hit(code, name):
    faults.configure(f"db.before_commit:raise:{name}:3")
    faults.fault("db.before_commit")
    faults.fault("db.before_commit")
    faults.fault("db.after_commit")  # another point does not count
    with pytest.raises(OSError) as caught:
        faults.fault("db.before_commit")
    assert caught.value.errno == code
    assert "fault point db.before_commit" in str(caught.value)
    faults.fault("db.before_commit")  # fired once; later hits pass


def test_several_points_and_actions_in_one_spec():
    faults.configure("runner.task_done:sleep:0.2, artifact.renamed:raise:EIO")
    start = time.perf_counter()
    faults.fault("runner.task_done")
    assert time.perf_counter() - start >= 0.2
    with pytest.raises(OSError, match="Input/output error"):
        faults.fault("artifact.renamed")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("artifact.fsyncd:kill", 'unknown fault point .*did you mean "artifact.fsynced"'),
        ("db.before_commit:explode", "unknown action 'explode'"),
        ("db.before_commit:raise:ENOPE", "'ENOPE' is not an errno name"),
        ("db.before_commit:sleep:soon", "sleep seconds must be a number"),
        ("db.before_commit:kill:0", "nth must be 1 or more"),
        ("db.before_commit:kill:x", "nth must be a number"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_item(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        faults.configure(spec)


def test_kill_sigkills_the_process_from_the_environment():
    code = "from suiro.faults import fault; fault('runner.task_done'); print('survived')"
    env = {"SUIRO_FAULTPOINTS": "runner.task_done:kill:2", "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "survived" in first.stdout  # the first hit is not the nth
    twice = code.replace("print", "fault('runner.task_done'); print")
    second = subprocess.run(
        [sys.executable, "-c", twice], env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == -signal.SIGKILL
    assert "survived" not in second.stdout


def test_stop_sigstops_the_process_until_it_is_continued():
    code = "from suiro.faults import fault; fault('gc.listed'); print('continued')"
    src = str(Path(faults.__file__).parents[1])  # this checkout's suiro, not an installed one
    env = {"SUIRO_FAULTPOINTS": "gc.listed:stop", "PATH": "/usr/bin:/bin", "PYTHONPATH": src}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _state(proc.pid) != "T":
            assert proc.poll() is None and time.monotonic() < deadline, "never stopped at the point"
            time.sleep(0.01)
        time.sleep(0.2)
        assert proc.poll() is None and _state(proc.pid) == "T", "it stays stopped until continued"
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.communicate(timeout=30)[0] == "continued\n"
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

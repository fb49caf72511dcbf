"""Named fault points: kill, fail or stall suiro at a chosen place, to test what survives.

``SUIRO_FAULTPOINTS="name:action[:nth],..."`` switches points on, e.g.
``artifact.fsynced:kill``, ``db.before_commit:raise:ENOSPC:2``, ``runner.task_done:sleep:0.5``.
Actions: ``kill`` (SIGKILL this process), ``raise:ERRNO`` (``OSError`` with that errno, e.g.
``ENOSPC`` or ``EIO``), ``sleep:SECONDS``, ``stop`` (SIGSTOP this process: a test sees it stopped,
does what must happen in the gap, then sends SIGCONT, so an interleaving is exact, not timed).
A point fires once, on its ``nth`` hit in the process (default 1); hits are counted per process,
so a worker process counts its own. The variable is read once, at import: with it unset
``fault()`` is one global lookup and a ``None`` test.

Owns the spec and the counters only; the points themselves are one-line calls in the artifact
store, the database, the runner and gc. Imports nothing from suiro but its errors.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from dataclasses import dataclass

from suiro.errors import SuiroError, did_you_mean

ENV = "SUIRO_FAULTPOINTS"
#: Every fault point, in the order a task's output travels through them.
POINTS = (
    "artifact.tmp_written",
    "artifact.fsynced",
    "artifact.renamed",
    "artifact.dir_fsynced",
    "runner.task_done",
    "db.before_commit",
    "db.after_commit",
    "gc.listed",
    "scheduler.tick_created",
    "scheduler.tick_claimed",
)
ACTIONS = ("kill", "raise", "sleep", "stop")


class FaultSpecError(SuiroError, ValueError):
    """``SUIRO_FAULTPOINTS`` names an unknown point or action, or a bad argument."""


@dataclass
class Fault:
    """One armed fault: what to do at a point, and on which hit."""

    point: str
    action: str
    arg: float | int | None = None
    nth: int = 1
    hits: int = 0


def parse(spec: str) -> dict[str, list[Fault]]:
    """Read a ``name:action[:nth],...`` spec into faults by point.

    Raises:
        FaultSpecError: an unknown point, action or errno name, or a bad number.
    """
    faults: dict[str, list[Fault]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        found = _parse_one(item)
        faults.setdefault(found.point, []).append(found)
    return faults


def _parse_one(item: str) -> Fault:
    point, _, rest = item.partition(":")
    action, _, rest = rest.partition(":")
    where = f"{ENV} item {item!r}"
    if point not in POINTS:
        raise FaultSpecError(
            f"{where}: unknown fault point {point!r}{did_you_mean(point, POINTS)}; "
            f"points are {', '.join(POINTS)}."
        )
    if action not in ACTIONS:
        raise FaultSpecError(
            f"{where}: unknown action {action!r}; use kill, raise:ERRNO, sleep:SECONDS or stop."
        )
    arg: float | int | None = None
    if action in ("raise", "sleep"):
        text, _, rest = rest.partition(":")
        arg = _errno(text, where) if action == "raise" else _number(text, where, "sleep seconds", float)
    nth = int(_number(rest, where, "nth", int)) if rest else 1
    if nth < 1:
        raise FaultSpecError(f"{where}: nth must be 1 or more, got {nth}.")
    return Fault(point, action, arg, nth)


def _errno(name: str, where: str) -> int:
    code = getattr(errno, name, None) if name.startswith("E") else None
    if not isinstance(code, int):
        raise FaultSpecError(f"{where}: {name!r} is not an errno name; use e.g. raise:ENOSPC or raise:EIO.")
    return code


def _number(text: str, where: str, what: str, kind: type) -> float:
    try:
        return kind(text)
    except ValueError:
        raise FaultSpecError(f"{where}: {what} must be a number, got {text!r}.") from None


_lock = threading.Lock()
_faults: dict[str, list[Fault]] | None = parse(os.environ[ENV]) if os.environ.get(ENV) else None


def configure(spec: str | None) -> None:
    """Arm the faults of ``spec`` in this process (None disarms all); for in-process tests.

    Raises:
        FaultSpecError: as for ``parse``.
    """
    global _faults
    _faults = parse(spec) if spec else None


def fault(name: str) -> None:
    """Fault point ``name``: does nothing unless ``SUIRO_FAULTPOINTS`` armed it.

    Raises:
        OSError: when armed with ``raise:ERRNO`` and this is its ``nth`` hit.
    """
    if _faults is None:
        return
    _hit(name, _faults)


def _hit(name: str, faults: dict[str, list[Fault]]) -> None:
    due = []
    with _lock:
        for armed in faults.get(name, ()):
            armed.hits += 1
            if armed.hits == armed.nth:
                due.append(armed)
    for armed in due:
        if armed.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # SIGKILL is delivered at once; never go on past the point
        elif armed.action == "sleep":
            time.sleep(float(armed.arg or 0))
        elif armed.action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)  # returns once the test sends SIGCONT
        else:
            code = int(armed.arg or errno.EIO)
            raise OSError(code, os.strerror(code), f"fault point {name}")

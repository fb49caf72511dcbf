"""Python's cyclic garbage collector while suiro traces or runs a pipeline: what it may skip.

Why it exists: a run holds objects that live as long as it does (the traced graph, each task's
result and output record, events waiting up to one commit interval), and with Python's default
thresholds (700, 10, 10) they were promoted to the oldest generation and, each time that grew
by a quarter, a full collection walked every object of the process again. Needing 100 young
collections before a promotion (the recorder's earlier setting) still left 18 full collections
(16 s) in a 1,000,000-task fan-out and 27 (23 s) in tracing, starting and running a
1,000,000-task chain (``bench/scale.py``). They find little to free: the cycles a task drops
(tracebacks) die young.

While ``held`` (nested and concurrent holders count; the first sets, the last restores):

- the objects alive when it began are frozen (``gc.freeze``): never walked until it ends;
- an object must survive ``YOUNG_COLLECTIONS`` young collections (not 10) before it is promoted,
  so a buffered event dies young instead of growing the oldest generation;
- a full collection needs ``OLD_COLLECTIONS`` middle ones (not 10): one per ~70 million
  allocations instead of one per growth by a quarter.

Young and middle collections run as often as before. Only cyclic garbage that outlived 100
young collections waits longer (until the hold ends, or ~70 million allocations). At the end
the thresholds are restored and the frozen objects unfrozen; the next full collection walks
everything once. A process forked while held starts with Python's thresholds (see
``_forget_in_child``). Imports nothing from suiro.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

#: Young collections an object must survive, while held, before it is promoted.
YOUNG_COLLECTIONS = 100
#: Middle collections between two full ones while held (Python's default: 10).
OLD_COLLECTIONS = 1000

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, ...] = ()


def hold() -> None:
    """Start holding (see the module docstring); pair every call with ``release``."""
    global _holders, _saved
    with _lock:
        _holders += 1
        if _holders == 1:
            _saved = gc.get_threshold()
            young, middle, old = _saved
            gc.freeze()
            gc.set_threshold(young, max(middle, YOUNG_COLLECTIONS), max(old, OLD_COLLECTIONS))


def release() -> None:
    """End one ``hold``; the last one restores the thresholds and unfreezes."""
    global _holders
    with _lock:
        if _holders == 0:
            return  # a forked child leaving its parent's hold: it has none of its own
        _holders -= 1
        if _holders == 0:
            gc.set_threshold(*_saved)
            gc.unfreeze()


def _forget_in_child() -> None:
    """A process forked while held (a process executor's worker) collects its own garbage as
    usual: the thresholds are Python's again, the holders are the parent's and none of its own.
    What was frozen stays frozen there, as Python advises for forked workers (``gc.freeze``):
    the child never walks, nor copies by writing to them, the pages of its parent's objects."""
    global _holders, _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    if _holders:
        _holders = 0
        gc.set_threshold(*_saved)


os.register_at_fork(after_in_child=_forget_in_child)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """``hold`` for the duration of the ``with`` block."""
    hold()
    try:
        yield
    finally:
        release()

"""Reporting from ML tasks whether or not suiro is running them.

Owns the one check "is a suiro task running now?", so ML tasks log metrics and decisions
inside a run and stay plain, silent functions when called directly (``log_metric``
raises outside a running task).
"""

from __future__ import annotations

from collections.abc import Mapping

from suiro.context import context, get_logger, log_metric
from suiro.errors import SuiroError


def in_task() -> bool:
    """True while suiro runs a task on this thread (so metrics and logs are recorded)."""
    try:
        context()
    except SuiroError:
        return False
    return True


def record_metrics(prefix: str, metrics: Mapping[str, float]) -> None:
    """Log each metric as ``prefix.name`` when inside a running task; do nothing otherwise."""
    if in_task():
        for name, value in metrics.items():
            log_metric(f"{prefix}.{name}", value)


def record_line(message: str, *args: object) -> None:
    """Write one info line to the running task's log; do nothing outside a task."""
    if in_task():
        get_logger().info(message, *args)

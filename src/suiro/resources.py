"""What a task may ask of the machine that runs it: ``@task(resources={"gpu": 1, "memory": "4GB"})``.

Owns the known resource names, the check of their values at decoration and reading a memory size
as bytes. Knows nothing of executors: the Dask executor turns these into worker resources (a task
waits for a worker that offers them); the executors of this machine run tasks without them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from suiro.errors import did_you_mean

#: The resource names ``@task(resources=...)`` accepts. ``gpu_type`` names the accelerator
#: (``nvidia-tesla-t4``) a compile target asks for; the others are amounts.
KNOWN_RESOURCES = ("cpu", "gpu", "gpu_type", "memory")

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(i?)b?\s*", re.IGNORECASE)
_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def memory_bytes(value: Any) -> int | None:
    """``value`` as a number of bytes: an int, or text such as ``4GB`` (10^9) or ``512MiB`` (2^20).

    Returns None when it is not a size, so the caller names the problem.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) and value > 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE.fullmatch(value)
    if match is None:
        return None
    number, prefix, binary = match.groups()
    base = 1024 if binary else 1000
    size = int(float(number) * base ** _POWER[prefix.lower()])
    return size if size > 0 else None


def cpu_amount(value: Any) -> float | None:
    """``value`` as a number of CPUs: a number, or Kubernetes' text (``"2"``, ``"500m"`` = 0.5).

    Returns None when it is not an amount > 0, so the caller names the problem.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)(m?)\s*", value)
        if match is None:
            return None
        value = float(match.group(1)) / (1000 if match.group(2) else 1)
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def resource_problems(resources: Any) -> list[str]:
    """What is wrong with a task's ``resources``, one phrase each (none: it is fine)."""
    if not isinstance(resources, Mapping):
        return [f"resources must be a dict such as {{'gpu': 1, 'memory': '4GB'}}, got {resources!r}"]
    problems = []
    for key in sorted(resources, key=str):
        value = resources[key]
        if key not in KNOWN_RESOURCES:
            problems.append(
                f"unknown resource {key!r}{did_you_mean(str(key), KNOWN_RESOURCES)}; "
                f"known resources are {', '.join(KNOWN_RESOURCES)}"
            )
        elif key == "gpu_type":
            if not isinstance(value, str) or not value.strip():
                problems.append(f"resource gpu_type must be an accelerator's name as text, got {value!r}")
        elif key == "cpu":
            if cpu_amount(value) is None:
                problems.append(
                    f"resource cpu must be a number > 0 or a count such as '2' or '500m', got {value!r}"
                )
        elif key == "memory":
            if memory_bytes(value) is None:
                problems.append(
                    f"resource memory must be bytes or a size such as '4GB' or '512MiB', got {value!r}"
                )
        elif isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            problems.append(f"resource {key} must be a number > 0, got {value!r}")
    return problems

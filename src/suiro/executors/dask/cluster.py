"""Where the Dask executor's attempts run, and what a task's resources ask of a worker.

Owns reaching ``dask.distributed`` (one sentence when it is not installed), the ``LocalCluster``
suiro starts itself (worker processes on 127.0.0.1, no dashboard, Dask's own re-runs off),
connecting to an existing scheduler (one sentence when it cannot be reached, before anything
runs), and turning ``@task(resources=...)`` into Dask worker resources. Runs no attempt.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from suiro import envvar
from suiro.errors import ClusterError
from suiro.resources import cpu_amount, memory_bytes

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

#: Dask's names for suiro's resources: a worker started with ``--resources "GPU=1"`` offers a GPU.
DASK_NAMES = {"cpu": "CPU", "gpu": "GPU", "memory": "MEMORY"}
#: Seconds to wait for a scheduler that accepts the connection to answer.
CONNECT_TIMEOUT = 10.0
#: What suiro sets on the schedulers it starts. ``allowed-failures`` 0: a task whose worker died
#: fails at once (``KilledWorker``), so suiro's ``infra_retries`` decide what runs again, not Dask.
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 0}
_INSTALL = "pip install 'suiro[dask]'"
#: The scheduler's HTTP server (health, metrics; the dashboard is off): on loopback, any free port.
_HTTP = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


def require_distributed() -> None:
    """Import ``dask.distributed`` or say, in one sentence, how to install it.

    Raises:
        ClusterError: it is not installed.
    """
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ClusterError(
            f"the dask executor needs dask.distributed, which is not installed here; run {_INSTALL}."
        ) from exc


def address_from_env() -> str | None:
    """``$SUIRO_DASK_ADDRESS``, or None when unset or empty."""
    return os.environ.get(envvar.DASK_ADDRESS, "").strip() or None


def start_local_cluster(
    n_workers: int, *, resources: Iterable[Mapping[str, float]] | None = None
) -> LocalCluster:
    """A ``LocalCluster`` of ``n_workers`` worker processes (one thread each) bound to 127.0.0.1.

    No dashboard (nothing else listens) and Dask's own re-runs off (``SCHEDULER_CONFIG``). Each
    worker offers ``CPU`` 1 and its share of this machine's memory as ``MEMORY``, so a task asking
    for more than one worker has is refused at once instead of waiting forever.

    Args:
        n_workers: worker processes.
        resources: per worker, the resources it offers instead (tests give one a ``GPU``).
    """
    import logging

    import dask
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster
    from distributed.system import MEMORY_LIMIT

    share = {"CPU": 1, "MEMORY": MEMORY_LIMIT // max(n_workers, 1)}
    offers = list(resources) if resources is not None else [share] * n_workers
    with dask.config.set(SCHEDULER_CONFIG):
        if resources is None:
            return LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs=_HTTP,
                silence_logs=logging.ERROR,
                resources=share,
            )
        workers = {
            i: {"cls": Nanny, "options": {"nthreads": 1, "host": "127.0.0.1", "resources": dict(offer)}}
            for i, offer in enumerate(offers)
        }
        scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", **_HTTP}}
        return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)


def connect(address: str) -> Client:
    """A client of the scheduler at ``address``.

    Raises:
        ClusterError: the address is not one, or nothing answers there.
    """
    from distributed import Client

    fix = f"start a scheduler there (dask scheduler) or fix --dask-address/{envvar.DASK_ADDRESS}"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme in ("tcp", "tls") and (not host or port is None):
        raise ClusterError(
            f"the Dask scheduler address {address!r} is not HOST:PORT or tcp://HOST:PORT; {fix}."
        )
    if parts.scheme in ("tcp", "tls"):
        try:  # a refused port answers at once; Dask's own connect would retry it until its timeout
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} ({_reason(exc)}); {fix}."
            ) from exc
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({_reason(exc)}); {fix}.") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def dask_resources(resources: Mapping[str, Any]) -> dict[str, float] | None:
    """A task's ``resources`` as Dask worker resources (None: it asks for none)."""
    if not resources:
        return None
    out: dict[str, float] = {}
    for key, value in resources.items():
        if key in DASK_NAMES:  # gpu_type names an accelerator for compile targets: no Dask amount
            amount = memory_bytes(value) if key == "memory" else cpu_amount(value) if key == "cpu" else value
            out[DASK_NAMES[key]] = float(amount or 0)
    return out or None


def unmet(
    needed: Mapping[str, float],
    offers: Iterable[Mapping[str, float]],
    *,
    asked: Mapping[str, Any] | None = None,
) -> str | None:
    """Why no worker offering ``offers`` can ever run a task needing ``needed``; None if one can.

    Named in suiro's words: what the task asked as its ``resources`` spell it (``asked``:
    ``memory 4GB``, ``gpu 1``), what the workers offer readable (``memory 2.1 GB``), never Dask's
    ``MEMORY=4e+09``.
    """
    offers = list(offers)
    for offer in offers:
        if all(offer.get(name, 0) >= amount for name, amount in needed.items()):
            return None
    written = {DASK_NAMES[key]: value for key, value in (asked or {}).items() if key in DASK_NAMES}
    wants = ", ".join(_shown(name, amount, written.get(name)) for name, amount in sorted(needed.items()))
    best = {name: max((o.get(name, 0) for o in offers), default=0) for name in needed}
    has = ", ".join(_shown(name, amount) for name, amount in sorted(best.items()))
    return f"it needs {wants} and no worker of the cluster's {len(offers)} offers that (at most {has})"


_SUIRO_NAMES = {dask: suiro for suiro, dask in DASK_NAMES.items()}


def _shown(name: str, amount: float, written: Any = None) -> str:
    """``memory 4GB``: a resource by suiro's name, as the task wrote it, else readable."""
    label = _SUIRO_NAMES.get(name, name)
    if written is not None:
        return f"{label} {written}"
    if name != "MEMORY":
        return f"{label} {amount:g}"
    size, unit = float(amount), "B"
    for bigger in ("kB", "MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{label} {f'{size:.1f}'.rstrip('0').rstrip('.')} {unit}"

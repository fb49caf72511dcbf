"""Shared fixtures: every test gets its own SUIRO_HOME in a temporary folder; ``manual_clock``
gives a test suiro's injectable clock."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from suiro import clock
from suiro.clock import ManualClock


def pytest_configure(config):
    """Python's own Ctrl-C handling for the suite and every process it starts.

    A suite started in the background of a non-interactive shell (``bash .ci/run &``) inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt: the Ctrl-C tests failed as if
    suiro ignored Ctrl-C (it was the shell). Runs in each xdist worker too.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def suiro_home(tmp_path, monkeypatch):
    home = tmp_path / "suiro-home"
    monkeypatch.setenv("SUIRO_HOME", str(home))
    return home


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """Time that moves only when suiro sleeps on it (a retry's delay) or the test advances it.

    Everything suiro times in this process follows it: retry delays are slept on it at once
    (``manual_clock.sleeps`` lists them), and events and records are stamped with its time.
    """
    with clock.use(ManualClock(start=1_000_000.0)) as manual:
        yield manual


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """One Dask cluster for the whole session (starting one takes seconds), in a process of its own:
    two worker processes on 127.0.0.1, one thread each; the first offers a ``GPU`` as well.
    Skipped without ``suiro[dask]``. Tests reach it through ``dask_address``, as a user's cluster.
    """
    pytest.importorskip("distributed")
    from pipelines.dask_cluster import start_shared_cluster

    cluster = start_shared_cluster()
    yield cluster
    cluster.close()


@pytest.fixture
def dask_address(dask_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session's Dask scheduler, set as ``SUIRO_DASK_ADDRESS`` for the test."""
    from pipelines.dask_cluster import release_threads

    monkeypatch.setenv("SUIRO_DASK_ADDRESS", dask_cluster.scheduler_address)
    yield dask_cluster.scheduler_address
    release_threads()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """One S3-compatible server (moto) on 127.0.0.1 for the session; see ``pipelines.s3server``."""
    from pipelines.s3server import start_s3_server

    yield from start_s3_server()


@pytest.fixture(scope="session")
def s3_checked_server() -> Iterator[Any]:
    """A second moto server that checks credentials as AWS does (``S3Server.env`` has the valid key)."""
    from pipelines.s3server import start_s3_server

    yield from start_s3_server(authenticated=True)


@pytest.fixture
def s3_url(s3_server, monkeypatch, request) -> str:
    """A new, empty bucket on ``s3_server``, this process's S3 settings pointing at it; its URL
    with a prefix (``s3://bucket/suiro``), as a user would set ``SUIRO_ARTIFACTS``."""
    import re
    import uuid

    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"{name}-{uuid.uuid4().hex[:8]}"
    s3_server.make_bucket(bucket)
    return f"s3://{bucket}/suiro"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL server on 127.0.0.1 for the session; see ``pipelines.pgserver``."""
    from pipelines.pgserver import start_postgres_server

    yield from start_postgres_server()


@pytest.fixture(scope="module")
def postgres_url(postgres_server, request) -> str:
    """A new, empty database on ``postgres_server`` for the test module: its URL, as a user would
    set ``SUIRO_DB`` (``postgresql+psycopg://suiro@127.0.0.1:PORT/NAME``)."""
    return postgres_server.new_database(request.module.__name__.rsplit(".", 1)[-1])

"""R10(a): no database connection crosses fork; R16: webhook faults stay bounded and visible."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time

import pytest

from suiro.alerts import AlertDeliveryError, send_alert
from suiro.store.db import Database


def test_a_forked_child_never_uses_the_parents_connection(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    parent_conn = db._sqlite()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got its own connection, then write through it
        try:
            own = db._sqlite() is not parent_conn
            with db.write() as tx:
                tx.execute(
                    "INSERT INTO pipelines (name, code_digest, graph, created) VALUES ('c', 'd', '{}', 0)"
                )
            os.write(write, b"own" if own else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"own"
    os.close(read)
    assert db._sqlite() is parent_conn  # the parent keeps its own
    assert [r["name"] for r in db.query("SELECT name FROM pipelines")] == ["c"]
    check = sqlite3.connect(tmp_path / "suiro.db")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


class _Silent:
    """A TCP server on 127.0.0.1 that accepts and then hangs, or closes at once."""

    def __init__(self, *, hang: bool):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = 0
        self.hang = hang
        self.conns: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.hang:
                self.conns.append(conn)  # read nothing, answer nothing
            else:
                conn.close()

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.mark.parametrize("hang", [True, False], ids=["hanging", "closing"])
def test_a_hanging_or_closing_webhook_is_retried_a_bounded_number_of_times_within_its_timeouts(hang):
    server = _Silent(hang=hang)
    started = time.monotonic()
    try:
        with pytest.raises(AlertDeliveryError, match="could not be delivered"):
            send_alert("model failed", webhook=server.url, retries=2, retry_delay=0.05, timeout=0.5)
    finally:
        server.close()
    elapsed = time.monotonic() - started
    assert server.accepted == 3  # the first attempt and two retries, no more
    assert elapsed < 3 * 0.5 + 0.05 + 0.1 + 5  # each attempt ends at its timeout (generous slack for load)

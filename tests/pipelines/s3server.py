"""A real S3-compatible HTTP server on 127.0.0.1 for the object-storage tests: moto's server mode,
in a process of its own, reached through the same settings a user gives suiro (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``). Skipped without ``moto[server]`` and ``s3fs``.

By default moto accepts any credentials. ``start_s3_server(authenticated=True)`` makes a server
that checks them, as AWS does: an IAM user allowed ``s3:*`` is created and its key becomes the
server's ``env``, then moto is told to authenticate every request from then on (its
``/moto-api/reset-auth``, the server-mode ``INITIAL_NO_AUTH_ACTION_COUNT=0``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the environment a client (or a ``suiro`` process) needs."""

    endpoint: str
    access_key: str = "suiro-test"
    secret_key: str = "suiro-test-secret"
    #: Whether the server checks credentials (then ``make_bucket`` must sign its request).
    authenticated: bool = False

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def make_bucket(self, name: str) -> None:
        """Create bucket ``name`` (as an administrator would, before suiro is pointed at it)."""
        if self.authenticated:
            _client(self, "s3").create_bucket(Bucket=name)
            return
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()


def _client(server: S3Server, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )


def _require_credentials(server: S3Server) -> S3Server:
    """An IAM user allowed ``s3:*`` and its key; then every request must be signed with a valid key."""
    iam = _client(server, "iam")
    iam.create_user(UserName="suiro")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="suiro", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="suiro")["AccessKey"]
    request = urllib.request.Request(
        f"{server.endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    return S3Server(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"], authenticated=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_s3_server(*, authenticated: bool = False) -> Iterator[S3Server]:
    """Start ``python -m moto.server`` on a free port; yield it once it answers; stop it after.

    ``authenticated``: the server refuses requests not signed with its user's key (see above).
    """
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield _require_credentials(S3Server(endpoint)) if authenticated else S3Server(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)

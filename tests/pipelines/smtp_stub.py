"""An SMTP server on 127.0.0.1 for the tests: aiosmtpd (a real server, its own thread), recording
each message it takes; a variant that refuses recipients, and a socket that never answers."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd's handler: keeps every message taken; ``refuse`` answers 550 to every recipient."""

    def __init__(self, refuse: bool = False):
        self.refuse = refuse
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """A running aiosmtpd on a free port of 127.0.0.1 (``host``, ``port``, ``mailbox``)."""

    def __init__(self, refuse: bool = False):
        self.mailbox = Mailbox(refuse)
        self.host, self.port = "127.0.0.1", free_port()
        self.controller = Controller(
            self.mailbox,
            hostname=self.host,
            port=self.port,
            authenticator=self.mailbox.authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    def env(self) -> dict[str, str]:
        return {"SUIRO_SMTP_HOST": self.host, "SUIRO_SMTP_PORT": str(self.port)}

    def close(self) -> None:
        self.controller.stop()


class Silent:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()

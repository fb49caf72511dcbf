"""E-mail over SMTP with the standard library: the settings (``SmtpConfig``) and one send.

Settings come from suiro.yaml's ``smtp:`` (``SmtpConfig.parse``) or ``SUIRO_SMTP_HOST``,
``SUIRO_SMTP_PORT``, ``SUIRO_SMTP_USER``, ``SUIRO_SMTP_PASSWORD_SECRET``, ``SUIRO_SMTP_SENDER``
and ``SUIRO_SMTP_STARTTLS`` (``1``/``0``). The password is never a setting: only the *name* of a
suiro secret (``password_secret``), read with ``suiro.secret`` when a message is sent, so it is in
no file suiro writes, no record and no message. ``smtplib`` is imported when a message is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suiro import secrets
from suiro.errors import SuiroError, did_you_mean
from suiro.notify import EMAIL_ADDRESS

ENV_PREFIX = "SUIRO_SMTP_"
_KEYS = ("host", "port", "user", "password_secret", "sender", "starttls", "ssl")


class MailError(SuiroError, ConnectionError):
    """An e-mail could not be sent; ``permanent`` when retrying cannot help (refused recipient)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send e-mail.

    Attributes:
        host: the SMTP server.
        port: its port (25; 587 with STARTTLS; 465 with ``ssl``).
        user: the login, if the server wants one.
        password_secret: the name of the suiro secret holding the password (never the password).
        sender: the From address (default ``suiro@<host>``).
        starttls: upgrade the connection with STARTTLS before logging in.
        ssl: connect with TLS from the start (port 465).
    """

    host: str
    port: int = 25
    user: str | None = None
    password_secret: str | None = None
    sender: str | None = None
    starttls: bool = False
    ssl: bool = False

    @classmethod
    def parse(cls, value: Mapping[str, Any] | SmtpConfig | None, *, where: str = "smtp") -> SmtpConfig | None:
        """Settings from a mapping (suiro.yaml ``smtp:``).

        Raises:
            MailError: an unknown key (with the closest one), no host, or a bad port.
        """
        if value is None or isinstance(value, SmtpConfig):
            return value
        if not isinstance(value, Mapping):
            raise MailError(
                f"{where} must be a mapping with keys {', '.join(_KEYS)}, got {type(value).__name__}."
            )
        if "password" in value:
            raise MailError(
                f"{where}: give the password as password_secret: NAME (a suiro secret), not in the file."
            )
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise MailError(
                f"{where} has an unknown key {unknown[0]!r}{did_you_mean(unknown[0], _KEYS)}; "
                f"its keys are {', '.join(_KEYS)}."
            )
        if not value.get("host"):
            raise MailError(f"{where} needs a host; add host: smtp.example.com.")
        port = value.get("port", 465 if value.get("ssl") else 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise MailError(f"{where}: port must be a number from 1 to 65535, got {port!r}.")
        sender = value.get("sender")
        if sender is not None and not EMAIL_ADDRESS.fullmatch(str(sender)):  # it was sent as MAIL FROM
            raise MailError(
                f"{where}: sender {sender!r} is not an e-mail address; write it as name@example.com."
            )
        if value.get("starttls") and value.get("ssl"):  # every send then failed, after its retries
            raise MailError(
                f"{where}: starttls and ssl are both on; use ssl for a TLS port (465) or starttls to "
                "upgrade a plain one (587), not both."
            )
        return cls(
            host=str(value["host"]),
            port=port,
            user=value.get("user"),
            password_secret=value.get("password_secret"),
            sender=value.get("sender"),
            starttls=bool(value.get("starttls", False)),
            ssl=bool(value.get("ssl", False)),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpConfig | None:
        """Settings from ``SUIRO_SMTP_*`` (None when ``SUIRO_SMTP_HOST`` is unset).

        Raises:
            MailError: a variable holds a value that cannot work, naming it.
        """
        env = os.environ if environ is None else environ
        if not env.get(ENV_PREFIX + "HOST", "").strip():
            return None
        port = env.get(ENV_PREFIX + "PORT", "").strip()
        if port and not port.isdigit():
            raise MailError(f"{ENV_PREFIX}PORT={port!r} is not a port number; fix it or unset it.")
        mapping: dict[str, Any] = {k: env.get(ENV_PREFIX + k.upper(), "").strip() or None for k in _KEYS}
        mapping["port"] = int(port) if port else None
        for flag in ("starttls", "ssl"):
            value = mapping[flag]
            if value not in (None, "0", "1"):
                raise MailError(
                    f"{ENV_PREFIX}{flag.upper()}={value!r} takes 1 (on) or 0 (off); fix it or unset it."
                )
            mapping[flag] = value == "1"
        return cls.parse(
            {k: v for k, v in mapping.items() if v is not None}, where="the SUIRO_SMTP_* variables"
        )


def send(config: SmtpConfig, to: str, subject: str, body: str, *, timeout: float) -> None:
    """Send one plain-text message to ``to``; every network wait is bounded by ``timeout`` seconds.

    Raises:
        MailError: not sent (``permanent`` when the server refused the message or recipient).
    """
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["From"] = config.sender or f"suiro@{config.host}"
    message["To"] = to
    message["Subject"] = secrets.mask(subject)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="suiro")
    message.set_content(secrets.mask(body))
    password = secrets.secret(config.password_secret) if config.password_secret else None
    try:
        if config.ssl:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(config.host, config.port, timeout=timeout)
        with server:
            if config.starttls:
                server.starttls(context=ssl.create_default_context())
            if config.user:
                server.login(config.user, password or "")
            server.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:  # STARTTLS or AUTH asked of a server without it
        raise MailError(
            f"the SMTP server {config.host}:{config.port} cannot do that: {exc}", permanent=True
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"the SMTP server refused {to}: {_first(exc.recipients)}", permanent=True) from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise MailError(
            f"SMTP {exc.smtp_code} {secrets.mask(text)}", permanent=exc.smtp_code >= 500
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {secrets.mask(str(exc)) or 'no answer'}") from None


def _first(recipients: dict[str, Any]) -> str:
    for code, text in recipients.values():
        return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
    return "refused"


def config(mapping: Mapping[str, Any] | None = None) -> SmtpConfig | None:
    """The SMTP settings in force: suiro.yaml's ``smtp:`` (``mapping``) over ``SUIRO_SMTP_*``.

    Raises:
        MailError: either source holds a value that cannot work.
    """
    return SmtpConfig.parse(mapping) if mapping else SmtpConfig.from_env()

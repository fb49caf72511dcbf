"""Alerts: a message that is always logged and, when a webhook is configured, posted to it.

The webhook gets a Slack-compatible JSON body (``{"text": ...}`` plus a ``suiro``
object with the details), an ``Idempotency-Key`` header that is the same on every
retry, and bounded retries with exponential backoff on connection errors and 5xx
answers. A delivery that still fails raises, so the failure is never silent.
Standard library only: an alert must not need a dependency to leave the machine.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from suiro import clock, envvar
from suiro.context import current_context, get_logger
from suiro.errors import SuiroError
from suiro.secrets import mask, mask_values

ENV_WEBHOOK = "SUIRO_ALERT_WEBHOOK"


class AlertDeliveryError(SuiroError, ConnectionError):
    """An alert could not be delivered to its webhook after every retry."""


@dataclass(frozen=True)
class AlertResult:
    """What happened to one alert: logged always, delivered if a webhook was set."""

    message: str
    delivered: bool
    webhook: str | None
    attempts: int
    status: int | None = None


def send_alert(
    message: str,
    *,
    details: dict[str, Any] | None = None,
    webhook: str | None = None,
    level: str = "warning",
    retries: int = 3,
    retry_delay: float = 0.5,
    timeout: float = 5.0,
    idempotency_key: str | None = None,
) -> AlertResult:
    """Log ``message`` and post it to ``webhook`` (or ``$SUIRO_ALERT_WEBHOOK``) if one is set.

    Raises:
        AlertDeliveryError: the webhook refused or could not be reached after all retries.
    """
    message = mask(message)
    _log(level, message)
    try:
        url = webhook or envvar.webhook()
    except envvar.EnvVarError as exc:
        raise AlertDeliveryError(str(exc)) from exc  # a URL that cannot work: no retries
    if url is None:
        return AlertResult(message, delivered=False, webhook=None, attempts=0)
    ctx = current_context()
    key = idempotency_key or (ctx.task_run_key if ctx else uuid.uuid4().hex)
    payload = {"text": message, "suiro": {"level": level, **mask_values(details or {})}}
    body = mask(json.dumps(payload, default=lambda value: mask(str(value)))).encode()
    last = ""
    for attempt in range(1, retries + 2):
        status, last = _post(url, body, key, timeout)
        if status is not None and status < 300:
            return AlertResult(message, delivered=True, webhook=_redact(url), attempts=attempt, status=status)
        if status is not None and 400 <= status < 500 and status != 429:
            break  # the webhook rejects this payload: retrying will not help
        if attempt <= retries:
            clock.get().sleep(retry_delay * 2 ** (attempt - 1))
    raise AlertDeliveryError(
        f"alert could not be delivered to {_redact(url)} ({last}); "
        f"check {ENV_WEBHOOK} or the webhook parameter."
    )


def post_json(url: str, payload: dict[str, Any], *, key: str, timeout: float) -> tuple[int | None, str]:
    """POST ``payload`` (masked) to ``url`` once: the HTTP status (None: no answer) and a short why.

    For ``suiro.delivery``, which does its own retries within its own time bound.
    """
    body = mask(json.dumps(payload, default=lambda value: mask(str(value)))).encode()
    return _post(url, body, key, timeout)


def _post(url: str, body: bytes, key: str, timeout: float) -> tuple[int | None, str]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "suiro-alert"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(reason).__name__}: {reason}"


def _log(level: str, message: str) -> None:
    logger: Any = get_logger() if current_context() is not None else logging.getLogger("suiro.alerts")
    logger.log(logging.getLevelName(level.upper()) if isinstance(level, str) else logging.WARNING, message)


def _redact(url: str) -> str:
    """The URL without its path and query, which often carry the webhook's secret token."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..." if rest else url

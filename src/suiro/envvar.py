"""The ``SUIRO_*`` environment variables suiro reads: each parsed here, with a one-sentence error.

A typo in a variable (``SUIRO_FLUSH_INTERVAL=abc``, ``SUIRO_HOME`` naming a file) used to reach
a ``float()`` or ``mkdir`` deep inside a command and come out as a traceback, or be silently
taken for the default (``SUIRO_FORK=off`` forked). Readers call ``seconds`` and ``flag`` here;
``check`` looks at every variable at once and is what the command line runs before any command,
so a bad one is one line (the variable, its value, what it accepts) and nothing has started.
``SUIRO_PARAM_*`` (pipeline parameters, checked against their annotations by ``config``),
``SUIRO_SECRET_*`` (any text) and the contents of ``SUIRO_SECRETS_FILE`` and
``SUIRO_FAULTPOINTS`` are checked by the modules that own them.

Imports nothing from suiro but its errors: the store, executors and alerts read through it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NoReturn

from suiro.errors import SuiroError

HOME = "SUIRO_HOME"
DB = "SUIRO_DB"
FLUSH_INTERVAL = "SUIRO_FLUSH_INTERVAL"
FORK = "SUIRO_FORK"
ALLOW_NETWORK_FS = "SUIRO_ALLOW_NETWORK_FS"
ALERT_WEBHOOK = "SUIRO_ALERT_WEBHOOK"
#: The Dask scheduler the dask executor connects to (unset: it starts a LocalCluster).
DASK_ADDRESS = "SUIRO_DASK_ADDRESS"
#: Bounds of ``SUIRO_FLUSH_INTERVAL``, in seconds: from a busy loop's worth to an hour of records.
FLUSH_BOUNDS = (0.001, 3600.0)
#: Database URL schemes suiro opens: SQLite by path, PostgreSQL through SQLAlchemy.
DB_SCHEMES = ("sqlite:///", "postgresql://", "postgresql+")


class EnvVarError(SuiroError, ValueError):
    """A ``SUIRO_*`` environment variable holds a value suiro cannot use; ``variable`` names it."""

    def __init__(self, message: str, *, variable: str):
        super().__init__(message)
        self.variable = variable


def _refuse(name: str, value: str, accepts: str, shown: str | None = None) -> NoReturn:
    raise EnvVarError(
        f"{name}={shown if shown is not None else repr(value)} is not usable: {accepts}; "
        f"fix it or unset {name}.",
        variable=name,
    )


def seconds(name: str, default: float, bounds: tuple[float, float]) -> float:
    """``$name`` as a number of seconds within ``bounds`` (inclusive), or ``default`` if unset or empty.

    Raises:
        EnvVarError: not a number, or outside the bounds.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    low, high = bounds
    if not low <= value <= high:  # also NaN
        _refuse(name, text, f"it takes a number of seconds from {low:g} to {high:g} (default {default:g})")
    return value


def flag(name: str, default: bool) -> bool:
    """``$name`` as on (``1``) or off (``0``); ``default`` if unset or empty.

    Only the two documented values: ``off``, ``no`` or ``false`` used to be read as whatever the
    code compared against, silently.

    Raises:
        EnvVarError: any other value.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if text not in ("0", "1"):
        _refuse(name, text, "it takes 1 (on) or 0 (off)")
    return text == "1"


def check() -> None:
    """Check every variable this module knows, as they are now; the first bad one raises.

    Raises:
        EnvVarError: a variable that is set holds a value suiro cannot use.
    """
    seconds(FLUSH_INTERVAL, 0.05, FLUSH_BOUNDS)
    flag(FORK, True)
    flag(ALLOW_NETWORK_FS, False)
    _check_database_url()
    webhook()
    check_home(Path(os.environ.get(HOME) or ".suiro"), named=bool(os.environ.get(HOME)))


def _check_database_url() -> None:
    url = os.environ.get(DB, "")
    if url and not url.startswith(DB_SCHEMES):
        shown = repr(_redact(url))
        _refuse(DB, url, "it takes sqlite:///PATH or postgresql[+DRIVER]://USER@HOST/NAME", shown)


def webhook() -> str | None:
    """``$SUIRO_ALERT_WEBHOOK``, or None if unset or empty.

    Raises:
        EnvVarError: not an http:// or https:// URL.
    """
    url = os.environ.get(ALERT_WEBHOOK, "").strip()
    if url and not url.startswith(("http://", "https://")):
        _refuse(ALERT_WEBHOOK, url, "it takes an http:// or https:// URL", repr(_redact(url)))
    return url or None


def _redact(url: str) -> str:
    """A URL without what may be a password or token (after ``scheme://``, before ``@``; a query)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url.split("?", 1)[0] + ("?***" if "?" in url else "")


def check_home(home: Path, *, named: bool = True) -> None:
    """Raise if ``home`` is not a folder suiro can use or create; nothing is created.

    An existing folder passes even if it is read-only: reading commands can still work there.

    Raises:
        EnvVarError: ``home`` is a file, lies under a file, or cannot be created where it is.
    """
    what = f"{HOME}={str(home)!r}" if named else f"the suiro home {home} (SUIRO_HOME is not set)"
    fix = f"point {HOME} at a folder you can write to (suiro creates it if it is missing)"
    if home.is_dir():
        return
    if home.exists():
        raise EnvVarError(f"{what} is a file, not a folder; {fix}.", variable=HOME)
    parent = home.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise EnvVarError(
            f"{what} cannot be created: {parent} is a file, not a folder; {fix}.", variable=HOME
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EnvVarError(f"{what} cannot be created: {parent} is not writable; {fix}.", variable=HOME)

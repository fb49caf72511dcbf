"""Secrets: values a task may use but no record may show.

Secrets come from environment variables ``SUIRO_SECRET_<NAME>`` and, if
``SUIRO_SECRETS_FILE`` names one, a YAML mapping of name to value. Tasks read them
with ``suiro.secret(name)``. Every sink suiro writes to (task logs, errors and
tracebacks, recorded parameters, alerts, the command line's output) passes text
through ``mask``, which replaces each secret value, and its URL-quoted form, with
``***``. Leaf module: imports nothing from suiro but errors; loaded once per process
(worker processes inherit the environment and load the same secrets).
"""

from __future__ import annotations

import os
import urllib.parse
from functools import cache
from pathlib import Path

from suiro.errors import SuiroError, did_you_mean

ENV_PREFIX = "SUIRO_SECRET_"
MASK = "***"
#: Shorter values are not masked: replacing every "ab" in every log would hide everything.
MIN_LENGTH = 4


@cache
def _secrets() -> dict[str, str]:
    found: dict[str, str] = {}
    path = os.environ.get("SUIRO_SECRETS_FILE")
    if path:
        found.update(_read_file(Path(path)))
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX) and value:
            found[key[len(ENV_PREFIX) :].lower()] = value
    return found


def _read_file(path: Path) -> dict[str, str]:
    import yaml

    from suiro import yamltext

    try:
        data = yamltext.load(path.read_text(encoding="utf-8")) or {}
    except yamltext.YamlAliasError as exc:
        raise SuiroError(
            f"secrets file {path} (SUIRO_SECRETS_FILE) is refused: {exc}; write the values out."
        ) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        why = " ".join(str(exc).split())
        raise SuiroError(
            f"secrets file {path} cannot be read ({why}); fix it or unset SUIRO_SECRETS_FILE."
        ) from exc
    if not isinstance(data, dict):
        raise SuiroError(f"secrets file {path} must be a mapping of name: value; fix its top level.")
    return {str(k).lower(): str(v) for k, v in data.items() if v is not None}


@cache
def _needles() -> tuple[str, ...]:
    values = {v for v in _secrets().values() if len(v) >= MIN_LENGTH}
    quoted = {urllib.parse.quote(v, safe="") for v in values} | {urllib.parse.quote_plus(v) for v in values}
    values |= quoted
    return tuple(
        sorted(values, key=len, reverse=True)
    )  # longest first: a quoted form may contain the plain one


def secret(name: str) -> str:
    """The value of secret ``name`` (from ``SUIRO_SECRET_<NAME>`` or the secrets file).

    Raises:
        SuiroError: no such secret.
    """
    found = _secrets()
    key = name.lower()
    if key not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SuiroError(
            f"no secret {name!r}{did_you_mean(key, found)}; set {ENV_PREFIX}{name.upper()} or add it to "
            f"SUIRO_SECRETS_FILE (known secrets: {known})."
        )
    return found[key]


def mask(text: str) -> str:
    """``text`` with every secret value (and its URL-quoted forms) replaced by ``***``."""
    needles = _needles()
    if not needles or not text:
        return text
    for needle in needles:
        if needle in text:
            text = text.replace(needle, MASK)
    return text


def check() -> None:
    """Read the secrets now, so a bad ``SUIRO_SECRETS_FILE`` is reported before anything runs.

    Costs nothing when the variable is unset (the environment's secrets need no reading).

    Raises:
        SuiroError: the secrets file cannot be read or is refused.
    """
    if os.environ.get("SUIRO_SECRETS_FILE"):
        _secrets()


def reload() -> None:
    """Forget the loaded secrets (after the environment changed, e.g. in tests)."""
    _secrets.cache_clear()
    _needles.cache_clear()

"""Secrets: values a task may use but no record may show.

Secrets come from environment variables ``SUIRO_SECRET_<NAME>`` and, if
``SUIRO_SECRETS_FILE`` names one, a YAML mapping of name to value. Tasks read them
with ``suiro.secret(name)``. Every sink suiro writes to (task logs, errors and
tracebacks, recorded parameters and metric names, alerts, the command line's output)
passes text through ``mask``, which replaces each secret with ``***`` in every form a
program commonly writes it in (``encodings``: ``repr``, JSON, ``ascii``, URL-quoted,
each line of a multi-line value...). All forms of all secrets make one regular
expression, longest first; a few substring tests keep it off the lines that hold no
secret, so masking a log line costs about what it did when only the value was masked.

Values shorter than ``MIN_LENGTH`` are not masked; ``warn_short`` says so when a run
starts. Leaf module: imports nothing from suiro but errors; loaded once per process
(worker processes inherit the environment and load the same secrets).
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from suiro.errors import SuiroError, did_you_mean

ENV_PREFIX = "SUIRO_SECRET_"
MASK = "***"
#: Shorter values (and shorter lines of a multi-line value) are not masked: replacing
#: every "ab" in every log would hide everything.
MIN_LENGTH = 4

#: How a program shows a str: ``repr``/``%r``/``!r`` and ``ascii`` in their own quoting and in
#: the other one (a str with both quotes escapes ``'``), JSON with and without
#: ``ensure_ascii``, and ``unicode_escape``; each without its quotes.
_ESCAPES: tuple[Callable[[str], str], ...] = (
    lambda v: repr(v)[1:-1],
    lambda v: repr(v + '"')[1:-2],
    lambda v: ascii(v)[1:-1],
    lambda v: ascii(v + '"')[1:-2],
    lambda v: json.dumps(v)[1:-1],
    lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    lambda v: v.encode("unicode_escape").decode("ascii"),
)


@dataclass(frozen=True)
class _Declared:
    """A secret's value and where it was declared."""

    value: str
    #: Where it was declared, for messages: ``SUIRO_SECRET_X`` or the secrets file.
    source: str


@cache
def _declared() -> dict[str, _Declared]:
    found: dict[str, _Declared] = {}
    path = os.environ.get("SUIRO_SECRETS_FILE")
    if path:
        found.update({k: _Declared(v, path) for k, v in _read_file(Path(path)).items()})
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX) and value:
            found[key[len(ENV_PREFIX) :].lower()] = _Declared(value, key)
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


def encodings(value: str) -> set[str]:
    """Every form of ``value`` that ``mask`` replaces, none shorter than ``MIN_LENGTH``.

    The value; escaped once (``print(repr(v))``, ``KeyError(v)``, ``json.dumps(v)``) or twice
    (a ``%r`` inside a message that is itself shown with ``repr`` or stored as JSON);
    URL-quoted; and the same for each of its parts (see ``_parts``).
    """
    return {form for part in _parts(value) for form in _forms(part)}


def _forms(value: str) -> set[str]:
    once = {escape(value) for escape in _ESCAPES}
    forms = {value, *once, *(escape(form) for form in once for escape in _ESCAPES)}
    try:
        forms |= {
            urllib.parse.quote(value),
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
        }
    except UnicodeEncodeError:  # a lone surrogate (undecodable environment bytes): no URL form
        pass
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _parts(value: str, depth: int = 2) -> set[str]:
    """``value`` and what can be shown of it alone, each at least ``MIN_LENGTH`` long.

    Each line of a multi-line value (a PEM key printed as it is) and each string inside
    a JSON value (the private key a task reads out of a service-account file), down to
    the lines of those; lines stripped of surrounding blanks.
    """
    parts = {value}
    if depth:
        pieces = {line.strip() for line in value.splitlines()} if len(value.splitlines()) > 1 else set()
        if value.lstrip()[:1] in ("{", "["):
            try:
                pieces |= {f for s in _strings(json.loads(value)) for f in (s, s.strip())}
            except ValueError:
                pass
        for piece in pieces - {value}:
            parts |= _parts(piece, depth - 1)
    return {part for part in parts if len(part) >= MIN_LENGTH}


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for item in data.values():
            yield from _strings(item)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)


#: Characters that no escape and no URL quoting changes: a run of them in a value is in every form.
_KEPT = re.compile(r"[A-Za-z0-9_.~-]+")
#: Shorter anchors would be found in nearly every line: a value without a longer run is always searched.
_ANCHOR_LENGTH = 3


class _Masker:
    """One regular expression over every form of every secret, and a cheap test before it.

    Every form of a value contains that value's longest run of ``_KEPT`` characters (its
    anchor), so a text that holds no anchor holds no form: a few substring tests (a fast
    C search each) settle most lines, where the alternation of a hundred forms is ten
    times slower. The expression is compiled on the first text that holds an anchor
    (100 ms for a service-account key's forms): most processes never need it. Forms are
    sorted longest first: at one position the longest wins (a quoted form may contain
    the plain one).
    """

    def __init__(self, forms: set[str], anchors: set[str]):
        self.forms = sorted(forms, key=lambda f: (-len(f), f))
        #: Empty when some value has no anchor: then every text is searched.
        self.anchors = tuple(sorted(anchors))

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(map(re.escape, self.forms)))


@cache
def _masker() -> _Masker | None:
    values = {p for d in _declared().values() if len(d.value) >= MIN_LENGTH for p in _parts(d.value)}
    forms = {form for value in values for form in _forms(value)}
    if not forms:
        return None
    anchors = {max(_KEPT.findall(value) or [""], key=len) for value in values}
    if min(map(len, anchors)) < _ANCHOR_LENGTH:
        anchors = set()
    return _Masker(forms, {a for a in anchors if not any(b != a and b in a for b in anchors)})


def secret(name: str) -> str:
    """The value of secret ``name`` (from ``SUIRO_SECRET_<NAME>`` or the secrets file).

    Raises:
        SuiroError: no such secret.
    """
    found = _declared()
    key = name.lower()
    if key not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SuiroError(
            f"no secret {name!r}{did_you_mean(key, found)}; set {ENV_PREFIX}{name.upper()} or add it to "
            f"SUIRO_SECRETS_FILE (known secrets: {known})."
        )
    return found[key].value


def names() -> list[str]:
    """The names of the declared secrets (never their values), sorted.

    For code that must keep a reference to a secret instead of its value (a webhook URL that
    carries a token is recorded as ``{secret:NAME}`` and filled in only when it is used).
    """
    return sorted(_declared())


def mask(text: str) -> str:
    """``text`` with every form of every secret (see ``encodings``) replaced by ``***``."""
    masker = _masker()
    if masker is None or not text:
        return text
    if masker.anchors:  # a loop, not any(): this runs for every line a task prints
        for anchor in masker.anchors:
            if anchor in text:
                break
        else:
            return text
    return masker.pattern.sub(MASK, text)


def mask_values(data: Any) -> Any:
    """``data`` with every string in it masked, dict keys included.

    For data about to be encoded (JSON): masking each string before keeps the encoding
    valid, where masking the encoded text could cut an escape sequence in two.
    """
    if isinstance(data, str):
        return mask(data)
    if isinstance(data, dict):
        return {mask_values(key): mask_values(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_values(item) for item in data]
    return data


@cache  # once per process
def warn_short() -> None:
    """Warn on stderr, once per process, of each declared secret too short to be masked.

    The warning names the secret and where it was declared, never its value. Called when
    a run starts, not by ``mask``: a worker process must not repeat it into a task's log.

    Raises:
        SuiroError: the secrets file cannot be read.
    """
    for name, declared in sorted(_declared().items()):
        if len(declared.value) < MIN_LENGTH:
            print(
                f"warning: secret {name!r} ({declared.source}) is shorter than {MIN_LENGTH} characters, "
                "so suiro does not mask it; give it a longer value.",
                file=sys.stderr,
            )


def check() -> None:
    """Read the secrets now, so a bad ``SUIRO_SECRETS_FILE`` is reported before anything runs.

    Costs nothing when the variable is unset (the environment's secrets need no reading).

    Raises:
        SuiroError: the secrets file cannot be read or is refused.
    """
    if os.environ.get("SUIRO_SECRETS_FILE"):
        _declared()


def reload() -> None:
    """Forget the loaded secrets (after the environment changed, e.g. in tests)."""
    _declared.cache_clear()
    _masker.cache_clear()
    warn_short.cache_clear()

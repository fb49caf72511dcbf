"""Masking: every common encoding of a secret, its lines and the strings of a JSON secret."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from suiro import secrets

HOSTILE = [
    r"C:\Users\canary\tok\n-BK7",
    """it's a "QUOTED" canary-QT9""",
    "o'canary-SQ42",
    "pässwörd-ÜNI-秘密-canary",
    "秘密のパスワードです",  # no ASCII at all: no cheap pre-test, always searched
]

#: How a task shows a value; masking was only of the value itself and its URL-quoted forms.
SHOWN = {
    "repr": repr,
    "%r": lambda v: "%r" % v,  # noqa: UP031 - the form under test
    "ascii": ascii,
    "json": json.dumps,
    "json, not ASCII": lambda v: json.dumps(v, ensure_ascii=False),
    "unicode-escape": lambda v: v.encode("unicode_escape").decode("ascii"),
    "KeyError": lambda v: str(KeyError(v)),
    "repr in a message with both quotes": lambda v: repr(f"""'"{v}"'"""),
    "a %r inside a KeyError": lambda v: str(KeyError(f"no key {v!r}")),
    "a repr inside JSON": lambda v: json.dumps({"k": repr(v)}),
    "URL-quoted": urllib.parse.quote,
}


def _leftovers(value: str) -> set[str]:
    """What must not remain of ``value`` after masking (computed here, not by suiro)."""
    once = {
        value,
        repr(value)[1:-1],
        repr(value + '"')[1:-2],
        ascii(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    return once | {repr(form)[1:-1] for form in once} | {json.dumps(form)[1:-1] for form in once}


@pytest.fixture
def declare(monkeypatch):
    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"SUIRO_SECRET_{name.upper()}", value)
        secrets.reload()

    yield set_
    monkeypatch.undo()
    secrets.reload()


@pytest.mark.parametrize("value", HOSTILE)
def test_a_secret_is_masked_however_a_task_showed_it(declare, value):
    declare(token=value)
    leaks = []
    for how, show in SHOWN.items():
        masked = secrets.mask(f"calling with {show(value)} now")
        if "***" not in masked or any(form in masked for form in _leftovers(value)):
            leaks.append(f"{how}: {masked}")
    assert not leaks


def test_each_line_of_a_multi_line_secret_is_masked_alone_but_not_its_short_lines(declare):
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nab\nxq9TzLINEtwo==\n-----END KEY-----\n"
    declare(pem=pem)
    assert secrets.mask("MIIEvQIBADANBgkqhkiG9w0") == "***"
    assert secrets.mask("  xq9TzLINEtwo==  ") == "  ***  "
    assert secrets.mask("ab") == "ab", f"lines shorter than {secrets.MIN_LENGTH} characters are left"
    assert secrets.mask(pem) == "***" and secrets.mask(repr(pem)) == "'***'"


def test_the_strings_inside_a_json_secret_and_their_lines_are_masked(declare):
    key = "-----BEGIN KEY-----\nMIIBVgIBADANsaCANARY03kq\n-----END KEY-----\n"
    declare(service_account=json.dumps({"private_key": key, "client_email": "robot@canary-42.example"}))
    assert secrets.mask(str({"private_key": key})) == "{'private_key': '***'}"
    assert secrets.mask("MIIBVgIBADANsaCANARY03kq") == "***"
    assert secrets.mask("signing as robot@canary-42.example") == "signing as ***"


def test_the_longest_form_wins_where_forms_overlap(declare):
    declare(short="abcd-1234", long="abcd-1234\\xyz")
    assert secrets.mask(json.dumps("abcd-1234\\xyz")) == '"***"'
    assert secrets.mask("abcd-1234 and abcd-1234\\xyz") == "*** and ***"


def test_masked_values_stay_valid_json(declare):
    declare(token="tok-ab\\")  # ends with a backslash: masking the encoded text could eat the quote
    masked = json.dumps(secrets.mask_values({"token": "tok-ab\\", "list": ["x tok-ab\\", 3]}))
    assert json.loads(masked) == {"token": "***", "list": ["x ***", 3]}


def test_text_without_a_secret_never_compiles_the_expression(declare):
    declare(token="hunter2-CANARY-7f3a9b")
    assert secrets.mask("epoch 17 loss=0.0123") == "epoch 17 loss=0.0123"
    assert "pattern" not in vars(secrets._masker()), "the regular expression is built on the first hit"
    assert secrets.mask("token hunter2-CANARY-7f3a9b") == "token ***"

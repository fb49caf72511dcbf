"""The JSON API's documentation page, read from the app's own OpenAPI description.

Swagger UI and ReDoc load their scripts from a CDN, which the UI refuses (no CDN, nothing
fetched at run time), so ``/api/v1/docs`` is a plain page rendered on the server from
``app.openapi()``: it cannot drift from the routes, because it is made from them. This module
turns that description into rows for the template: each operation's method, path, summary,
description, parameters (type, default, constraints), request body fields and answer. It only
reads the description; every text it returns is escaped by the template (``code`` escapes a
docstring's text, then shows its double-backquoted spans as ``<code>``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

#: Constraints shown after a type, with the words they are shown with.
_CONSTRAINTS = {
    "pattern": "pattern",
    "maxLength": "max length",
    "minLength": "min length",
    "maximum": "at most",
    "minimum": "at least",
    "maxProperties": "at most {} keys",
    "maxItems": "at most {} items",
}
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation in an OpenAPI ``schema``, in its order, as the docs page shows it."""
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            found.append(
                {
                    "id": f"{method}-{re.sub(r'[^a-z0-9]+', '-', path.lower()).strip('-')}",
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [_parameter(p) for p in op.get("parameters", [])],
                    "body": _body(op.get("requestBody"), components),
                    "answers": _answers(op.get("responses", {})),
                }
            )
    return found


def code(text: str | None) -> Markup:
    """``text`` escaped, with its double-backquoted spans (as docstrings mark names) as ``<code>``."""
    parts = _LITERAL.split(str(text or ""))
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part) for i, part in enumerate(parts)
    )


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    schema = param.get("schema", {})
    return {
        "name": param["name"],
        "in": param.get("in", ""),
        "type": type_name(schema),
        "required": param.get("required", False),
        "default": _default(schema),
        "notes": _notes(schema),
        "description": param.get("description") or schema.get("description", ""),
    }


def _body(body: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any] | None:
    """A request body's content type, model name and fields (one level: the UI's bodies are flat)."""
    if not body:
        return None
    kind, content = next(iter(body.get("content", {}).items()), ("", {}))
    schema = _resolve(content.get("schema", {}), components)
    required = set(schema.get("required", []))
    return {
        "content_type": kind,
        "name": schema.get("title", ""),
        "description": schema.get("description", ""),
        "fields": [
            {
                "name": name,
                "type": type_name(field),
                "required": name in required,
                "default": _default(field),
                "notes": _notes(field),
                "description": field.get("description", ""),
            }
            for name, field in schema.get("properties", {}).items()
        ],
    }


def _answers(responses: dict[str, Any]) -> list[dict[str, str]]:
    return [{"status": status, "description": r.get("description", "")} for status, r in responses.items()]


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def type_name(schema: dict[str, Any]) -> str:
    """A schema's type in words: ``string``, ``array of string``, ``object of string``, a model's
    name, or alternatives joined with ``|`` (``null`` left out: optional is said elsewhere)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        kinds = [type_name(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " | ".join(dict.fromkeys(kinds)) or "null"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_name(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_name(schema['additionalProperties'])}"
    return str(kind)


def _default(schema: dict[str, Any]) -> str | None:
    """The default as JSON text (None when there is none, or it is null)."""
    default = schema.get("default")
    return None if default is None else json.dumps(default)


def _notes(schema: dict[str, Any]) -> str:
    """The constraints of a schema (and of its non-null alternatives), in words."""
    notes = []
    for part in [schema, *schema.get("anyOf", [])]:
        for key, words in _CONSTRAINTS.items():
            if key in part:
                notes.append(words.format(part[key]) if "{}" in words else f"{words} {part[key]}")
    return ", ".join(dict.fromkeys(notes))

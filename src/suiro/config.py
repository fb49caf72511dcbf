"""Pipeline parameters resolved from layered sources and validated with pydantic.

Owns where a parameter's value comes from (signature default < YAML config file <
``SUIRO_PARAM_*`` environment < values given in Python < ``--set``) and how text becomes
a typed value. Must not run, trace or record anything. Every problem found becomes part
of one ``ParameterError`` naming the pipeline, parameter, value and source.
"""

from __future__ import annotations

import copy
import math
import os
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from suiro import clock
from suiro.annotations import as_fields, matches, misplaced_bool, unknown_field
from suiro.errors import ParameterError, did_you_mean
from suiro.graph import EMPTY, Param
from suiro.logical import is_marker

if TYPE_CHECKING:
    from suiro.runinfo import Scheduled

ENV_PREFIX = "SUIRO_PARAM_"
#: Deepest nesting of lists and dicts a parameter value may have (records and cache keys recurse).
MAX_DEPTH = 100
_ADAPTERS: dict[Any, Any] = {}  # annotation -> pydantic TypeAdapter, built on first need
_NOTHING = object()
_SHORT_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother, _SHORT_REPR.maxlong = 3, 60, 60, 60


def resolve_params(
    params: Sequence[Param],
    *,
    pipeline: str,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    scheduled: Scheduled | None = None,
    overrides_from: str = "--set",
) -> dict[str, Any]:
    """Resolve and validate every parameter of a pipeline from its layered sources.

    One function decides precedence so the CLI, the API and the UI agree on what a run got:
    default < config_file < environ < values < overrides. Dotted keys (``grid.depth=3``,
    ``SUIRO_PARAM_GRID__DEPTH``) merge into a dict-valued parameter. Text from env or --set
    stays text only where the annotation needs text, else is read as YAML (``[a, b]``, ``3``).

    Args:
        params: the pipeline's parameters, from its signature.
        pipeline: the pipeline's name, used in messages.
        config_file: YAML mapping parameter names to values (or ``params:`` to such a mapping).
        environ: where ``SUIRO_PARAM_*`` are read (``None``: ``os.environ``); unknown names
            there are ignored because the environment is shared.
        overrides: ``--set`` items such as ``name=value`` or ``grid.depth=3``.
        values: typed values given in Python; the ``--set`` layer, just below ``overrides``.
        scheduled: the deployment and logical time of the run; a default that is a
            ``suiro.logical`` marker becomes that time (None: now, in the machine's time zone).
        overrides_from: where the ``overrides`` were typed, as messages name it (``the form``
            in the UI: a user who never typed ``--set`` is not told about it).

    Returns:
        Parameter name to validated value, in signature order.

    Raises:
        ParameterError: all problems found, joined with '; '; its ``parameter`` and
            ``source`` are the first problem's.
    """
    resolution = _Resolution(params, pipeline)
    try:
        resolution.add_logical(scheduled)
        if config_file is not None:
            try:
                resolution.add_file(Path(config_file), str(config_file))
            except RecursionError:
                raise ParameterError(
                    f"pipeline {pipeline}: config file {config_file} is nested too deeply to read; "
                    f"give values at most {MAX_DEPTH} levels deep.",
                    source=str(config_file),
                ) from None
        resolution.add_environ(os.environ if environ is None else environ)
        for key, value in (values or {}).items():
            resolution.assign(_Setting(tuple(str(key).split(".")), value, "params"))
        resolution.add_overrides(overrides, overrides_from)
        resolved = resolution.finish()
    except RecursionError:
        raise ParameterError(
            f"pipeline {pipeline}: a parameter value is nested too deeply to read or check; "
            f"give values at most {MAX_DEPTH} levels deep."
        ) from None
    for name, value in resolved.items():
        if _too_deep(value):
            raise ParameterError(
                f"pipeline {pipeline}: parameter {name} is nested more than {MAX_DEPTH} levels deep; "
                "give a flatter value (lists and dicts a few levels deep).",
                parameter=name,
            )
        odd = _not_finite(value)
        if odd is not None:
            where = "" if odd is value else f", which holds {odd!r}"
            raise ParameterError(
                f"pipeline {pipeline}: parameter {name} is {_show(value)}{where}; a run's parameters are"
                " kept as JSON, which has no NaN or infinity: give a finite number (or None for no limit).",
                parameter=name,
            )
    return resolved


def _copied(value: Any) -> Any:
    """A deep copy of a default, or the default itself when it cannot be copied (a lock, a client)."""
    try:
        return copy.deepcopy(value)
    except Exception:  # whatever its __deepcopy__ or __reduce__ raises: shared, as before
        return value


def _not_finite(value: Any) -> float | None:
    """The first NaN or infinite float in ``value`` (walked like ``_too_deep``), or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return None


def _too_deep(value: Any) -> bool:
    """Whether lists/tuples/dicts nest deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_override(item: str) -> tuple[list[str], str]:
    """Split a ``--set`` item such as ``grid.depth=3`` into its key path and raw text.

    The value stays text because only the parameter's annotation can say how to read it;
    it may itself contain ``=`` (the first one separates key from value).

    Raises:
        ParameterError: the item has no ``=`` or has an empty name or key.
    """
    key, sep, value = item.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep:
        raise ParameterError(f"--set item {item!r} has no '='; write it as name=value.", source="--set")
    if "" in path:
        raise ParameterError(
            f"--set item {item!r} has an empty name or key; write it as name=value or name.key=value.",
            parameter=key.strip() or None,
            source="--set",
        )
    return path, value


def _load_file(path: Path, label: str) -> Mapping[Any, Any]:
    """The top-level mapping of a YAML config file, read with ``safe_load`` (no Python tags)."""
    import yaml  # here, not at the top: a run without a config file or text settings never loads it

    from suiro import yamltext

    try:
        data = yamltext.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParameterError(f"config file {label} does not exist; check the path.", source=label) from exc
    except yamltext.YamlAliasError as exc:
        raise ParameterError(
            f"config file {label} is refused: {exc}; write the values out instead of nesting aliases.",
            source=label,
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        raise ParameterError(
            f"config file {where} is not valid YAML ({_one_line(getattr(exc, 'problem', None) or exc)}); "
            "fix it, keeping to plain YAML without Python tags.",
            source=label,
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        why = _one_line(getattr(exc, "strerror", None) or exc)
        raise ParameterError(
            f"config file {label} cannot be read ({why}); give a readable UTF-8 YAML file.", source=label
        ) from exc
    if data is not None and not isinstance(data, Mapping):
        raise ParameterError(
            f"config file {label} has a top level of type {type(data).__name__}, not a mapping of "
            'parameter names to values; write one "name: value" line per parameter.',
            source=label,
        )
    return data or {}


@dataclass(frozen=True, slots=True)
class _Setting:
    """One value from one source, aimed at a parameter or at a key path inside it."""

    path: tuple[str, ...]
    value: Any
    source: str
    is_text: bool = False  # from env or --set: may need reading as YAML


class _Resolution:
    """Values resolved and problems found so far, for one pipeline; layers are added in order."""

    def __init__(self, params: Sequence[Param], pipeline: str):
        self.pipeline = pipeline
        self.params = {p.name: p for p in params}
        # Copies: a task that appends to a list parameter must not change the default of later runs
        self.values: dict[str, Any] = {p.name: _copied(p.default) for p in params if not p.required}
        self.failed: set[str] = set()  # given but invalid: not reported as missing too
        self.file_failed = False  # an unreadable file may hold the missing ones: don't guess
        self.problems: list[ParameterError] = []

    def add_file(self, path: Path, label: str) -> None:
        try:
            data = _load_file(path, label)
        except ParameterError as exc:
            self._note(f"pipeline {self.pipeline}: {exc}", None, label)
            self.file_failed = True
            return
        if list(data) == ["params"] and "params" not in self.params and isinstance(data["params"], Mapping):
            data = data["params"]  # the documented wrapper; a parameter called "params" wins
        for key, value in data.items():
            self.assign(_Setting(tuple(str(key).split(".")), value, label))

    def add_logical(self, scheduled: Scheduled | None) -> None:
        """Replace each ``suiro.logical`` default by the run's logical time (the lowest layer).

        A run by hand reads the clock once, so its markers agree (its interval is one instant)."""
        now = clock.now()
        for name, param in self.params.items():
            if is_marker(param.default):
                value = param.default.value(scheduled, now)
                self.assign(_Setting((name,), value, repr(param.default)))

    def add_environ(self, environ: Mapping[str, str]) -> None:
        by_upper = {name.upper(): name for name in self.params}
        for key in sorted(environ):
            head, *rest = key.removeprefix(ENV_PREFIX).split("__")
            if key.startswith(ENV_PREFIX) and head.upper() in by_upper:  # others: not ours to judge
                self.assign(
                    _Setting((by_upper[head.upper()], *rest), environ[key], f"env {key}", is_text=True)
                )

    def add_overrides(self, overrides: Sequence[str], source: str = "--set") -> None:
        for item in overrides:
            try:
                path, text = parse_override(item)
            except ParameterError as exc:
                self._note(f"pipeline {self.pipeline}: {exc}", exc.parameter, "--set")
                continue
            self.assign(_Setting(tuple(path), text, source, is_text=True))

    def assign(self, setting: _Setting) -> None:
        """Validate one setting; its value replaces (or merges into) the lower layers' value."""
        name = setting.path[0]
        if name not in self.params:
            known = (
                f"known parameters are {', '.join(sorted(self.params))}" if self.params else "it takes none"
            )
            text = f"has no parameter {name!r}{did_you_mean(name, self.params)}, given in {setting.source}"
            self._note(f"pipeline {self.pipeline} {text}; {known}.", name, setting.source)
            return
        try:
            self.values[name] = self._validated(self.params[name], setting)
        except ParameterError as exc:
            self.failed.add(name)
            self.problems.append(exc)

    def _validated(self, param: Param, setting: _Setting) -> Any:
        """The parameter's whole new value, from the first reading of the setting that validates."""
        from suiro import yamltext

        try:
            readings, as_text = _readings(setting, param.annotation), _NOTHING
        except yamltext.YamlAliasError as exc:
            self._fail(setting, f"is refused as YAML: {exc}; write the value out instead of nesting aliases.")
        if param.annotation is EMPTY:
            return self._place(setting, readings[0])
        boolean = None  # (path, value) where a reading put a bool for a number: pydantic would make it 1
        for leaf in readings:
            whole = self._place(setting, leaf)
            self._check_fields(param, setting, whole)
            if (at := misplaced_bool(param.annotation, whole)) is not None:
                boolean = (at, whole)
                continue
            from pydantic import ValidationError

            try:
                value = self._check(param, setting, whole)
            except ValidationError as exc:
                first, rejected = exc.errors()[0], whole
                continue
            if leaf is readings[-1] or not _same(value, whole):
                return value
            as_text = value  # the text passed only by staying text: the YAML reading wins if it fits
        if as_text is not _NOTHING:
            return as_text
        if boolean is not None:
            self._fail_boolean(param, setting, *boolean)
        if first["type"] == "missing":  # a dataclass or model field without a value and without a default
            field = param.name + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in first["loc"])
            self._fail(setting, f"leaves required field {field} unset; give a value for it too.")
        where = _where(param.name, first["loc"], rejected)
        want = _wanted(first["msg"]) + (f" for {where}" if where else "")
        self._fail(setting, f"is not a valid {_type_name(param.annotation)}; give {want}.")

    def _check_fields(self, param: Param, setting: _Setting, whole: Any) -> None:
        """A key naming no field of a dataclass or pydantic model fails, with the closest field."""
        unknown = unknown_field(param.annotation, whole)
        if unknown is not None:
            path, fields, owner = unknown
            self._fail(
                setting,
                f"names an unknown field {'.'.join((param.name, *path))}{did_you_mean(path[-1], fields)}; "
                f"the fields of {owner} are {', '.join(fields)}.",
            )

    def _fail_boolean(self, param: Param, setting: _Setting, path: tuple[Any, ...], whole: Any) -> NoReturn:
        where = _where(param.name, path, whole)
        at = f" at {where}" if where else ""
        read = "is read as" if setting.is_text else "is"
        self._fail(
            setting,
            f"{read} a boolean{at}, not a number as {_type_name(param.annotation)} wants; give a number "
            "(YAML reads true/false, yes/no and on/off as booleans).",
        )

    def _check(self, param: Param, setting: _Setting, whole: Any) -> Any:
        """Validate in lax mode; an annotation pydantic cannot handle is the setting's problem."""
        if matches(param.annotation, whole):
            return whole
        from pydantic.errors import PydanticUndefinedAnnotation, PydanticUserError

        try:
            return _adapter(param.annotation).validate_python(whole, strict=False)
        except (PydanticUserError, PydanticUndefinedAnnotation) as exc:
            kind = f"{_type_name(param.annotation)} ({_one_line(exc.message)})"
            self._fail(setting, f"cannot be checked as {kind}; annotate it with a type pydantic knows.")

    def _place(self, setting: _Setting, leaf: Any) -> Any:
        """The parameter's whole value with ``leaf`` at the setting's key path; copies, never mutates."""
        path, fold = setting.path, setting.source.startswith("env ")
        if len(path) == 1:
            return leaf
        if "" in path:
            self._fail(setting, "has an empty key; write nested keys as name.key (NAME__KEY in env).")
        root = node = self._open(setting, path[0], self.values.get(path[0]))
        for depth, key in enumerate(path[1:-1], start=2):
            key = _match_key(node, key, fold=fold)
            child = node[key] = self._open(setting, ".".join(path[:depth]), node.get(key))
            node = child
        node[_match_key(node, path[-1], fold=fold)] = leaf
        return root

    def _open(self, setting: _Setting, prefix: str, value: Any) -> dict[Any, Any]:
        if value is None:
            return {}
        fields = as_fields(value)  # a dataclass or pydantic model: set one field, keep the others
        if fields is not None:
            return fields
        if not isinstance(value, Mapping):
            inside = f"{prefix} = {_show(value)}"
            self._fail(setting, f"goes inside {inside}, which is not a mapping; set {prefix} as a whole.")
        return dict(value)

    def _note(self, message: str, parameter: str | None, source: str | None) -> None:
        self.problems.append(ParameterError(message, parameter=parameter, source=source))

    def _fail(self, setting: _Setting, text: str) -> NoReturn:
        """Raise ``pipeline P: parameter <key> = <value> from <source> <text>``."""
        label, source = ".".join(setting.path), setting.source
        given = f"parameter {label} = {_show(setting.value)} from {source}"
        raise ParameterError(f"pipeline {self.pipeline}: {given} {text}", parameter=label, source=source)

    def finish(self) -> dict[str, Any]:
        """The values in signature order, or every problem found raised as one error."""
        missing = [n for n in self.params if n not in self.values and n not in self.failed]
        for name in [] if self.file_failed else missing:
            how = f"give it with --set {name}=..., in the config file, or as {ENV_PREFIX}{name.upper()}"
            self._note(f"pipeline {self.pipeline}: parameter {name} is required; {how}.", name, None)
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            first = self.problems[0]
            message = "; ".join(str(p).removesuffix(".") for p in self.problems) + "."
            raise ParameterError(message, parameter=first.parameter, source=first.source)
        return {name: self.values[name] for name in self.params}


def _readings(setting: _Setting, annotation: Any) -> list[Any]:
    """Candidate values: the text as is, then read as YAML; unannotated: the YAML reading only.

    A YAML reading that is itself a string is dropped: text stays verbatim (no unquoting).

    Raises:
        yamltext.YamlAliasError: the text's YAML aliases expand too far (or into themselves).
    """
    if not setting.is_text:
        return [setting.value]
    import yaml

    from suiro import yamltext

    try:
        parsed = yamltext.load(setting.value)
    except yaml.YAMLError:
        return [setting.value]
    if isinstance(parsed, str):
        return [setting.value]
    return [parsed] if annotation is EMPTY else [setting.value, parsed]


def _same(validated: Any, given: Any) -> bool:
    """True when validation returned the value unchanged (objects that cannot compare: False).

    A dataclass or pydantic model built from a dict is compared field by field with that dict.
    """
    try:
        return bool(_fields_deep(validated) == given)
    except Exception:  # e.g. arrays, whose == is elementwise
        return False


def _fields_deep(value: Any, depth: int = 0) -> Any:
    """``value`` with every dataclass or pydantic model in it turned into a dict of its fields."""
    fields = as_fields(value) if depth < MAX_DEPTH else None
    if fields is None:
        return value
    return {k: _fields_deep(v, depth + 1) for k, v in fields.items()}


def _adapter(annotation: Any) -> Any:
    """A validator for an annotation, cached when the annotation is hashable."""
    try:
        return _ADAPTERS[annotation]
    except KeyError:
        pass
    except TypeError:  # unhashable annotation: build it every time
        return _build_adapter(annotation)
    _ADAPTERS[annotation] = adapter = _build_adapter(annotation)
    return adapter


def _build_adapter(annotation: Any) -> Any:
    from pydantic import ConfigDict, TypeAdapter
    from pydantic.errors import PydanticSchemaGenerationError

    try:
        return TypeAdapter(annotation)
    except PydanticSchemaGenerationError:  # a plain class: accept its instances
        return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))


def _wanted(msg: str) -> str:
    """What to give, from pydantic's message: 'Input should be a valid number, ...' -> 'a number'."""
    match = re.match(r"Input should be (.+?)(?:, (?:unable|got|invalid)\b.*)?$", msg)
    if not match:
        return f"a valid value ({msg[:1].lower()}{msg[1:]})"
    want = re.sub(r"\ba valid (\w)", lambda m: ("an " if m[1].lower() in "aeiou" else "a ") + m[1], match[1])
    return f"a value {want}" if want.startswith(("greater", "less")) else want


def _where(name: str, loc: Sequence[Any], value: Any) -> str:
    """``name[1]['depth']`` for the part of ``value`` pydantic rejected; '' for the whole value.

    Steps that are not keys of the value (union member tags) are skipped.
    """
    steps = []
    for step in loc:
        is_index = isinstance(value, list | tuple) and isinstance(step, int) and abs(step) < len(value)
        if is_index or (isinstance(value, Mapping) and step in value):
            value = value[step]
            steps.append(f"[{step!r}]")
    return name + "".join(steps) if steps else ""


def _match_key(node: Mapping[Any, Any], key: str, *, fold: bool) -> str:
    """The existing key an environment key names (case-insensitively), else its lower case."""
    if not fold or key in node:
        return key
    return next((k for k in node if isinstance(k, str) and k.upper() == key.upper()), key.lower())


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _show(value: Any) -> str:
    """A short repr of a value for a message: bounded work and length however big the value is.

    ``reprlib`` looks at a few items per level and a few levels only, so a huge (or shared,
    or self-containing) value costs the same as a small one.
    """
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(value: object) -> str:
    return " ".join(str(value).split())

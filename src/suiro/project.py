"""The project file ``suiro.yaml``: its shape, read safely, every mistake named with its line.

Owns the *form* of a declared deployment (``Deployment``: its keys, their types and allowed
values) and of the file (``deployments:``, ``notify:``, ``smtp:``). The file is read with
``yamltext`` (``SafeLoader``: a ``!!python`` tag is refused, aliases are bounded) and checked
by pydantic with unknown keys forbidden; a problem is one sentence starting ``suiro.yaml:LINE:``
and naming the deployment and key. Whether a deployment's pipeline loads, its parameters fit
and its schedule parses is ``suiro.deployments``' job (it imports this module, never the
reverse). Must not touch the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from suiro.errors import DeploymentError, did_you_mean
from suiro.executors import EXECUTORS

#: The file ``suiro deploy`` reads when given no pipeline.
FILENAME = "suiro.yaml"
#: What a scheduler does with the ticks it missed while down.
CATCHUP = ("latest", "all", "none")
#: The run states an ``after`` trigger can wait for (``finished``: any of them).
AFTER_STATES = ("success", "failed", "crashed", "cancelled", "finished")
#: The events a ``notify:`` section can name (``suiro.notify`` owns what they mean).
NOTIFY_EVENTS = ("failed", "crashed", "gate_failed", "late", "success")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
_STRICT = ConfigDict(extra="forbid", frozen=True)
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


_URL = Annotated[str, Field(pattern=r"^(https?://\S+|secret:[A-Za-z0-9_.-]+)$")]
_ADDRESS = Annotated[str, Field(pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+$")]


class Notify(BaseModel):
    """Who hears about a run: ``on`` (events), ``email`` (addresses), ``webhook`` (URLs or
    ``secret:NAME``), and how hard delivery tries (``timeout``, ``retries``, ``retry_delay``).

    The form of ``suiro.notify.Notify`` (which decides what the keys mean and sends), checked
    here so a typo is named with its line. YAML 1.1 reads a bare ``on:`` key as ``true``, which
    is taken back here; one address or URL may be given without a list.
    """

    model_config = _STRICT
    on: list[Literal[NOTIFY_EVENTS]] | None = None  # type: ignore[valid-type]
    email: list[_ADDRESS] | None = None
    webhook: list[_URL] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    retry_delay: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = {("on" if key is True else key): value for key, value in data.items()}
        for key in ("email", "webhook"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
        return data

    def as_dict(self) -> dict[str, Any]:
        """The keys that were given, as JSON-ready values (what a deployment row stores)."""
        return self.model_dump(exclude_none=True)


class FileTrigger(BaseModel):
    """Start one run per new file matching ``on_file`` (a glob), its path as parameter ``param``."""

    model_config = _STRICT
    on_file: Annotated[str, Field(min_length=1)]
    param: Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")] = "path"

    @property
    def kind(self) -> str:
        return "file"


class AfterTrigger(BaseModel):
    """Start a run each time a run of the deployment ``after`` ends in ``state``."""

    model_config = _STRICT
    after: Annotated[str, Field(pattern=_NAME)]
    state: Literal[AFTER_STATES] = "success"  # type: ignore[valid-type]

    @property
    def kind(self) -> str:
        return "after"


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, Mapping | FileTrigger | AfterTrigger):
        keys = value if isinstance(value, Mapping) else type(value).model_fields
        return "file" if "on_file" in keys else "after" if "after" in keys else None
    return None


Trigger = Annotated[
    Annotated[FileTrigger, Tag("file")] | Annotated[AfterTrigger, Tag("after")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger",
        custom_error_message="{on_file: PATTERN, param: NAME} or {after: DEPLOYMENT, state: success}",
    ),
]
_When = str | float | datetime


class Deployment(BaseModel):
    """A deployment as declared, in ``suiro.yaml``, on the command line or in Python.

    Attributes:
        name: unique name (letters, digits, ``.``, ``_``, ``-``).
        pipeline: what to run: ``FILE.py:PIPELINE`` (relative to the project file's folder) or
            ``module:PIPELINE``.
        params: parameter values every run of it gets.
        cron, every: its schedule (at most one): a cron expression or alias, or an interval
            (``6h``, or seconds); neither: it runs only when triggered.
        timezone: the IANA zone its cron is read in (default UTC).
        start, end, anchor: when the schedule begins and ends; where intervals count from.
        catchup: ``latest``, ``all`` or ``none``: what runs after the scheduler was down.
        max_catchup_runs: with ``all``, at most this many missed ticks (the latest).
        max_active_runs: at most this many of its runs at once.
        executor: where its tasks run (default: the pipeline's own choice).
        sla: a duration (``2h``, or seconds) after the logical time; a run not done by then is late.
        notify: who hears of its runs, above the pipeline's and project's.
        triggers: file and after triggers.
    """

    model_config = _STRICT
    name: Annotated[str, Field(pattern=_NAME)]
    pipeline: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = Field(default_factory=dict)
    cron: Annotated[str, Field(min_length=1)] | None = None
    every: str | Annotated[int, Field(strict=True)] | Annotated[float, Field(strict=True)] | None = None
    timezone: Annotated[str, Field(min_length=1)] | None = None
    start: _When | None = None
    end: _When | None = None
    anchor: _When | None = None
    catchup: Literal[CATCHUP] = "latest"  # type: ignore[valid-type]
    max_catchup_runs: PositiveInt | None = None
    max_active_runs: PositiveInt | None = None
    executor: Literal[EXECUTORS] | None = None  # type: ignore[valid-type]
    sla: str | Annotated[float, Field(strict=True, gt=0)] | None = None
    notify: Notify | None = None
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("start", "end", "anchor", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        """YAML reads ``2026-11-01`` as a date: take it as that day's midnight in the zone."""
        return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _one_schedule(self) -> Deployment:
        if self.cron is not None and self.every is not None:
            raise PydanticCustomError("suiro", "has both cron and every; keep one")
        if self.max_catchup_runs is not None and self.catchup != "all":
            raise PydanticCustomError(
                "suiro", "sets max_catchup_runs, which applies only with catchup: all; set both or neither"
            )
        return self


class Smtp(BaseModel):
    """Where e-mail notifications go out (the password only by the name of a ``suiro.secret``;
    ``suiro.mail`` owns what the keys mean)."""

    model_config = _STRICT
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] | None = None
    user: str | None = None
    password_secret: str | None = None
    sender: str | None = None
    starttls: bool | None = None
    ssl: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """The keys that were given (``suiro.mail`` picks the defaults: port 25, or 465 with ssl)."""
        return self.model_dump(exclude_none=True)


class Project(BaseModel):
    """A read ``suiro.yaml``: its deployments, project-wide ``notify`` and ``smtp``."""

    model_config = _STRICT
    deployments: list[Deployment] = Field(default_factory=list)
    notify: Notify | None = None
    smtp: Smtp | None = None
    definitions: Any = (
        None  # free-form, for YAML anchors (&defaults) shared by deployments, as prefect.yaml's
    )
    _label: str = PrivateAttr(default=FILENAME)
    _base: Path = PrivateAttr(default_factory=Path.cwd)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def label(self) -> str:
        """The file as it was named (for messages)."""
        return self._label

    @property
    def base(self) -> Path:
        """The file's folder: relative pipeline files and file-trigger patterns start there."""
        return self._base

    def location(self, index: int, *path: Any) -> str:
        """``suiro.yaml:LINE`` of deployment ``index`` (or of a key inside it)."""
        return f"{self._label}:{_line(self._lines, ('deployments', index, *path))}"


def find(folder: Path | None = None) -> Path | None:
    """The ``suiro.yaml`` of ``folder`` (default: the current directory), or None."""
    path = (folder or Path.cwd()) / FILENAME
    return path if path.is_file() else None


def settings(folder: Path | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The project-wide ``notify:`` and ``smtp:`` of ``folder``'s ``suiro.yaml`` (default: the
    current directory), as plain mappings; ``(None, None)`` without a project file.

    Runs read these where they start (the scheduler's working directory), so a project's
    notification settings apply to every run started in its folder.

    Raises:
        DeploymentError: the file exists but is wrong.
    """
    path = find(folder)
    if path is None:
        return None, None
    found = load(path)
    return (
        found.notify.as_dict() if found.notify is not None else None,
        found.smtp.as_dict() if found.smtp is not None else None,
    )


def load(path: str | Path) -> Project:
    """Read and check the project file at ``path``.

    Raises:
        DeploymentError: the file is missing, unreadable, not plain YAML, or of the wrong form;
            every problem found, each naming its line, in one message.
    """
    path = Path(path)
    label = str(path)
    data, lines = _read(path, label)
    if data is not None and not isinstance(data, Mapping):
        raise DeploymentError(
            f"{label} has a top level of type {type(data).__name__}, not a mapping; "
            "start it with deployments: (see docs/scheduling.md).",
            location=label,
        )
    try:
        found = Project.model_validate(data or {})
    except ValidationError as exc:
        problems = sorted(_problem(error, data, lines, label) for error in _one_per_value(exc.errors(), data))
        raise _joined([text for _, text in problems], label) from None
    _refuse_twins(found, lines, label)
    found._label, found._base, found._lines = label, path.resolve().parent, lines
    return found


#: The command-line option of each deployment key (``suiro deploy``), for messages.
FLAGS = {
    "name": "--name", "cron": "--cron", "every": "--every", "timezone": "--tz", "start": "--start",
    "end": "--end", "catchup": "--catchup", "max_catchup_runs": "--max-catchup",
    "max_active_runs": "--max-active", "executor": "--executor", "sla": "--sla",
}  # fmt: skip


def deployment(fields: Mapping[str, Any], *, flags: bool = False) -> Deployment:
    """A ``Deployment`` from keyword values (the command line's, Python's), checked.

    A wrong value is named as the caller wrote it: ``--name 'x y'`` with ``flags`` (the command
    line's options), else ``name='x y'`` (Python's keywords); never by a file's index.

    Raises:
        DeploymentError: every problem with the values, each naming the deployment and key.
    """
    try:
        return Deployment.model_validate(dict(fields))
    except ValidationError as exc:
        data = {"deployments": [dict(fields)]}
        spelled = FLAGS if flags else {key: f"{key}=" for key in Deployment.model_fields}
        errors = _one_per_value(_under_deployments(exc.errors()), data)
        problems = [_problem(e, data, {}, None, spelled)[1] for e in errors]
        raise _joined(problems, None) from None


def _one_per_value(errors: list[Any], data: Any) -> list[Any]:
    """One error about each value: a union (``sla``: a duration text or a number above 0) fails
    once per member, and each said its own (``sla.str = -5 is not valid; give a string``). The
    member whose type the value has says most (``give a value greater than 0``): a failed
    constraint is kept over a type mismatch."""
    chosen: dict[tuple[Any, ...], Any] = {}
    for error in errors:
        where = _data_path(error["loc"], data)
        known = chosen.get(where)
        if known is None or (known["type"].endswith("_type") and not error["type"].endswith("_type")):
            chosen[where] = error
        elif known["type"].endswith("_type") and error["type"].endswith("_type"):  # of no member's type
            chosen[where] = {**known, "msg": f"{_wanted(known)} or {_wanted(error)}", "type": "either"}
    return list(chosen.values())


def _under_deployments(errors: list[Any]) -> list[dict[str, Any]]:
    return [{**error, "loc": ("deployments", 0, *error["loc"])} for error in errors]


def _read(path: Path, label: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    from suiro import yamltext

    try:
        return yamltext.load_with_lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeploymentError(
            f"no project file {label}; write one (see docs/scheduling.md) or deploy one pipeline with "
            "suiro deploy FILE.py:PIPELINE --cron '0 2 * * *'.",
            location=label,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = " ".join(str(getattr(exc, "strerror", None) or exc).split())
        raise DeploymentError(f"{label} cannot be read ({why}); give a readable UTF-8 YAML file.") from exc
    except yamltext.YamlAliasError as exc:
        raise DeploymentError(f"{label} is refused: {exc}; write the values out instead.") from exc
    except yaml.YAMLError as exc:
        raise DeploymentError(_yaml_problem(exc, label), location=label) from exc


def _yaml_problem(exc: Any, label: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{label}:{mark.line + 1}" if mark is not None else label
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    tag = re.search(r"for the tag '(?:tag:yaml\.org,2002:)?([^']+)'", problem)
    if tag:
        return (
            f"{where}: the tag !!{tag[1]} is refused: suiro reads its project file as plain YAML "
            "(safe_load); write a plain value instead."
        )
    context = str(getattr(exc, "context", None) or "")
    starred = "alias" in problem or "alias" in context
    hint = ' (quote a cron expression that starts with *, as cron: "*/5 * * * *")' if starred else ""
    return f"{where}: is not valid YAML ({problem}){hint}; fix it, keeping to plain YAML."


def _refuse_twins(found: Project, lines: dict[tuple[Any, ...], int], label: str) -> None:
    first: dict[str, int] = {}
    for index, deployment in enumerate(found.deployments):
        line = _line(lines, ("deployments", index))
        if deployment.name in first:
            raise DeploymentError(
                f"{label}:{line}: deployment {deployment.name} is declared twice (first at line "
                f"{first[deployment.name]}); give each deployment its own name.",
                deployment=deployment.name,
                location=f"{label}:{line}",
            )
        first[deployment.name] = line


# -- pydantic's errors as sentences ---------------------------------------------------------------

_MODELS: dict[str, type[BaseModel]] = {"deployments": Deployment, "notify": Notify, "smtp": Smtp}
_TAGS: dict[str, type[BaseModel]] = {"file": FileTrigger, "after": AfterTrigger}
_MISSING = {
    "name": "add name: NAME",
    "pipeline": "add pipeline: FILE.py:PIPELINE (or module:PIPELINE)",
    "on_file": "add on_file: PATTERN",
    "after": "add after: DEPLOYMENT",
    "host": "add host: HOST",
}


def _problem(
    error: Mapping[str, Any],
    data: Any,
    lines: dict[tuple[Any, ...], int],
    label: str | None,
    spelled: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """One pydantic error as ``(line, "suiro.yaml:LINE: <subject> <what>; <fix>")``; without a file
    (``label`` None) the key as ``spelled`` (``--name``, ``name=``) and no file index."""
    loc = _data_path(error["loc"], data)
    line = _line(lines, loc)
    subject, inner = _subject(loc, data)
    if label is None and subject.startswith("deployments["):
        subject = ""  # an index into suiro.yaml's list means nothing on the command line or in Python
    key = _dotted(inner)
    kind = error["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(error["loc"][:-1])
        close = did_you_mean(str(loc[-1]), fields)
        head = f"{subject} has an unknown key" if subject else "unknown key"
        text = f"{head} '{key}'{close}; remove it or fix its name"
    elif kind == "missing":
        fix = _MISSING.get(str(loc[-1]), f"add {loc[-1]}:")
        text = f"{subject or label or 'the deployment'} has no {key}; {fix}"
    elif kind == "suiro":
        text = f"{subject} {error['msg']}"
    else:
        option = (spelled or {}).get(key) if len(inner) == 1 else None
        value = _short(error.get("input"))
        given = (
            f"{key} = {value}" if option is None else f"{option}{'' if option.endswith('=') else ' '}{value}"
        )
        text = (
            f"{subject}: {given} is not valid; give {_wanted(error)}"
            if subject
            else f"{given} is not valid; give {_wanted(error)}"
        )
    return line, (f"{label}:{line}: {text}" if label else text)


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """``loc`` without pydantic's union tags: only the steps that are keys or indexes of the data."""
    path: list[Any] = []
    for step in loc:
        if step in _TAGS and len(path) >= 2 and path[-2] == "triggers" and isinstance(path[-1], int):
            continue  # the member of the trigger union pydantic tried
        if path and data is not None and not (isinstance(data, Mapping) or isinstance(step, int)):
            break  # past the value: the member of a union pydantic tried (sla's ``constrained-float``)
        if isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        elif isinstance(data, Mapping) and (step in data or (step == "on" and True in data)):
            data = data.get(step, data.get(True))
        else:
            data = None
        path.append(step)
    return tuple(path)


def _subject(loc: tuple[Any, ...], data: Any) -> tuple[str, tuple[Any, ...]]:
    """``("deployment nightly", rest of loc)`` for a problem inside a deployment; ``("", loc)`` else."""
    if len(loc) < 2 or loc[0] != "deployments" or not isinstance(loc[1], int):
        return "", loc
    entry = data["deployments"][loc[1]] if isinstance(data, Mapping) else None
    name = entry.get("name") if isinstance(entry, Mapping) else None
    named = isinstance(name, str) and re.match(_NAME, name) is not None
    return (f"deployment {name}" if named else f"deployments[{loc[1]}]"), loc[2:]


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where ``loc`` points (for "did you mean")."""
    model: type[BaseModel] = Project
    for step in loc:
        model = _MODELS.get(step, _TAGS.get(step, model)) if isinstance(step, str) else model
    return sorted(model.model_fields)


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _line(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int:
    """The line of ``path``, or of the nearest key above it that was written."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


def _wanted(error: Mapping[str, Any]) -> str:
    """What to give, from pydantic's message: 'Input should be a valid integer' -> 'an integer'."""
    msg = str(error["msg"])
    if error["type"] == "string_pattern_mismatch":
        if "A-Za-z0-9][" in msg:
            return "a name of letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit"
        if "https?" in msg:
            return "an http:// or https:// URL, or secret:NAME"
        if "@" in msg:
            return "an e-mail address such as ml-team@example.com"
        return "a parameter name (letters, digits and _, not starting with a digit)"
    match = re.match(r"(?:Input|String|List) should (?:be|have) (.+?)(?:, (?:unable|got|invalid)\b.*)?$", msg)
    if error["type"] in ("trigger", "either") or not match:
        return msg
    want = re.sub(r"\ba valid (\w)", lambda m: ("an " if m[1].lower() in "aeiou" else "a ") + m[1], match[1])
    return f"a value {want}" if want.startswith(("greater", "less", "at least", "at most")) else want


def _short(value: Any) -> str:
    """A short repr, in bounded work however big the value (``reprlib`` looks at a few items)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlevel = 60, 60, 3
    text = short.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _joined(problems: list[str], label: str | None) -> DeploymentError:
    message = "; ".join(p.removesuffix(".") for p in problems) + "."
    return DeploymentError(message, location=label)

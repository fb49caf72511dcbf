"""Who is told what about a run: ``Notify`` (events, e-mail addresses, webhooks), the hooks'
context, and how the layers of settings merge.

A run's channels come from three layers: its pipeline (``@pipeline(notify=...)``), its deployment
(``deployments.notify``) and the project (``SUIRO_NOTIFY_*`` variables, suiro.yaml ``notify:``).
``routes`` takes their union (each layer's addresses get that layer's events), so a project-wide
address hears about every pipeline and a pipeline's owner about their own. Sending is
``suiro.delivery``'s; this module only describes and checks, at definition time, so a typo in an
event name or an address fails where it is written, never at 2 a.m.

A webhook URL usually carries a token. One that contains a declared secret's value (e.g.
``webhook=suiro.secret("slack")``) is kept as ``{secret:NAME}`` and filled in only when it is used,
so no record holds the token; ``webhook="secret:NAME"`` says the same outright.

Low in the layers (imports errors, envvar, secrets): ``suiro.pipeline`` and ``suiro.task`` check
their ``notify=`` and hooks with it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suiro import secrets
from suiro.errors import SuiroError, did_you_mean

#: What a notification can be about.
EVENTS = ("failed", "crashed", "gate_failed", "late", "success")
#: The events a ``Notify`` covers unless told otherwise: everything that needs a person.
DEFAULT_ON = ("failed", "crashed", "gate_failed", "late")
#: Seconds one notification may take in all (every channel, every retry): the most a run's end waits.
DEFAULT_TIMEOUT = 10.0
ENV_EMAIL = "SUIRO_NOTIFY_EMAIL"
ENV_WEBHOOK = "SUIRO_NOTIFY_WEBHOOK"
ENV_ON = "SUIRO_NOTIFY_ON"
ENV_TIMEOUT = "SUIRO_NOTIFY_TIMEOUT"
#: Today's alert webhook: a project-wide webhook too.
ENV_ALERT_WEBHOOK = "SUIRO_ALERT_WEBHOOK"
_KEYS = ("on", "email", "webhook", "timeout", "retries", "retry_delay")
#: An e-mail address as suiro takes one (notify addresses, the SMTP sender).
EMAIL_ADDRESS = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_SECRET_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_TEMPLATE = re.compile(r"\{secret:([A-Za-z0-9_.-]+)\}")


class NotifyError(SuiroError, ValueError):
    """A notification setting cannot work (unknown event, bad address, bad number)."""


@dataclass(frozen=True)
class Notify:
    """Where to tell people about a run, and about which events.

    Attributes:
        on: events that notify: ``failed``, ``crashed``, ``gate_failed``, ``late``, ``success``
            (default: all but ``success``).
        email: addresses to e-mail (SMTP settings: ``SUIRO_SMTP_*`` or suiro.yaml ``smtp:``).
        webhook: URLs to post Slack-compatible JSON to, or ``secret:NAME`` (the URL is that secret).
        timeout: seconds one notification may take in all, every channel and retry included.
        retries: further attempts after a failed one (with exponential backoff).
        retry_delay: seconds before the first retry; doubled for each next one.
    """

    on: tuple[str, ...] = DEFAULT_ON
    email: tuple[str, ...] = ()
    webhook: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 3
    retry_delay: float = 0.5
    where: str = field(default="notify", compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "on", _events(self.on, self.where))
        set_(self, "email", tuple(_email(a, self.where) for a in _texts(self.email, "email", self.where)))
        set_(
            self,
            "webhook",
            tuple(_webhook(u, self.where) for u in _texts(self.webhook, "webhook", self.where)),
        )
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or self.timeout <= 0:
            raise NotifyError(f"{self.where}: timeout must be a number of seconds > 0, got {self.timeout!r}.")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            raise NotifyError(f"{self.where}: retries must be an integer from 0 to 10, got {self.retries!r}.")
        if not isinstance(self.retry_delay, int | float) or self.retry_delay < 0:
            raise NotifyError(f"{self.where}: retry_delay must be a number >= 0, got {self.retry_delay!r}.")

    @classmethod
    def parse(cls, value: Notify | Mapping[str, Any] | None, *, where: str = "notify") -> Notify | None:
        """A ``Notify`` from itself, a mapping (suiro.yaml, ``deployments.notify``) or None.

        Raises:
            NotifyError: an unknown key (with the closest one), event or bad value, naming ``where``.
        """
        if value is None or isinstance(value, Notify):
            return value
        if not isinstance(value, Mapping):
            raise NotifyError(
                f"{where} must be suiro.Notify(...) or a mapping with keys {', '.join(_KEYS)}, "
                f"got {type(value).__name__}."
            )
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise NotifyError(
                f"{where} has an unknown key {unknown[0]!r}{did_you_mean(unknown[0], _KEYS)}; "
                f"its keys are {', '.join(_KEYS)}."
            )
        return cls(**{k: v for k, v in value.items() if v is not None}, where=where)

    def to_json(self) -> dict[str, Any]:
        """As stored in ``deployments.notify`` (``parse`` reads it back)."""
        return {
            "on": list(self.on),
            "email": list(self.email),
            "webhook": list(self.webhook),
            "timeout": self.timeout,
            "retries": self.retries,
            "retry_delay": self.retry_delay,
        }


def _texts(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (
            tuple(v.strip() for v in re.split(r"[,\s]+", value) if v.strip())
            if key != "webhook"
            else (value,)
        )
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise NotifyError(f"{where}: {key} must be text or a list of text, got {value!r}.")


def _events(value: Any, where: str) -> tuple[str, ...]:
    found = _texts(value, "on", where)
    for event in found:
        if event not in EVENTS:
            raise NotifyError(
                f"{where}: unknown event {event!r}{did_you_mean(event, EVENTS)}; "
                f"events are {', '.join(EVENTS)}."
            )
    return tuple(dict.fromkeys(found))


def _email(address: str, where: str) -> str:
    if not EMAIL_ADDRESS.fullmatch(address):
        raise NotifyError(f"{where}: {address!r} is not an e-mail address; write it as name@example.com.")
    return address


def _webhook(url: str, where: str) -> str:
    if url.startswith("secret:"):
        if not _SECRET_NAME.fullmatch(url[len("secret:") :]):
            raise NotifyError(f"{where}: webhook {url!r} must name a secret as secret:NAME.")
        return url
    if not url.startswith(("http://", "https://")):
        shown = secrets.mask(url.split("?", 1)[0])
        raise NotifyError(f"{where}: webhook {shown!r} must be an http:// or https:// URL, or secret:NAME.")
    return reference(url)


def reference(text: str) -> str:
    """``text`` with each declared secret's value in it replaced by ``{secret:NAME}``
    (the whole text a secret: ``secret:NAME``); ``resolve`` puts them back."""
    for name in secrets.names():
        value = secrets.secret(name)
        if len(value) >= secrets.MIN_LENGTH and value in text:
            if text == value:
                return f"secret:{name}"
            text = text.replace(value, "{secret:" + name + "}")
    return text


def resolve(address: str) -> str:
    """An address with its secret references filled in: what is used, never recorded.

    Raises:
        SuiroError: a referenced secret is not declared.
    """
    if address.startswith("secret:"):
        return secrets.secret(address[len("secret:") :])
    return _TEMPLATE.sub(lambda m: secrets.secret(m.group(1)), address)


@dataclass(frozen=True)
class Route:
    """One address of one channel (``email``/``webhook``) and the events it hears about."""

    channel: str
    address: str
    on: frozenset[str]

    @property
    def target(self) -> str:
        """How records name this address: never a secret (a webhook by its host and a digest)."""
        if self.channel != "webhook" or self.address.startswith("secret:"):
            return self.address
        scheme, _, rest = self.address.partition("://")
        digest = hashlib.sha256(self.address.encode()).hexdigest()[:8]
        return f"{scheme}://{rest.split('/', 1)[0]}/...#{digest}"


@dataclass(frozen=True)
class Routes:
    """Every address a run notifies, merged from its layers, and how long delivery may take."""

    routes: tuple[Route, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 3
    retry_delay: float = 0.5

    def __bool__(self) -> bool:
        return bool(self.routes)

    def for_event(self, event: str) -> list[Route]:
        return [r for r in self.routes if event in r.on]

    def to_json(self) -> dict[str, Any]:
        """As kept in ``runs.notify`` (no secret: webhooks are references or plain URLs)."""
        return {
            "routes": [{"channel": r.channel, "address": r.address, "on": sorted(r.on)} for r in self.routes],
            "timeout": self.timeout,
            "retries": self.retries,
            "retry_delay": self.retry_delay,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Routes:
        if not data:
            return cls()
        routes = tuple(Route(r["channel"], r["address"], frozenset(r["on"])) for r in data.get("routes", ()))
        return cls(routes, data["timeout"], data["retries"], data["retry_delay"])


def routes(*layers: Notify | Routes | None) -> Routes:
    """The union of the layers' addresses, most specific first (pipeline, deployment, project).

    An address in two layers hears the union of their events; timeout and retries are the first
    layer's that has any.
    """
    merged: dict[tuple[str, str], set[str]] = {}
    settings: Notify | Routes | None = None
    for layer in layers:
        if layer is None:
            continue
        pairs = (
            [(r.channel, r.address, r.on) for r in layer.routes]
            if isinstance(layer, Routes)
            else [("email", a, frozenset(layer.on)) for a in layer.email]
            + [("webhook", u, frozenset(layer.on)) for u in layer.webhook]
        )
        if settings is None and pairs:  # the most specific layer with addresses sets the bounds
            settings = layer
        for channel, address, on in pairs:
            merged.setdefault((channel, address), set()).update(on)
    if settings is None:
        return Routes()
    return Routes(
        tuple(Route(c, a, frozenset(on)) for (c, a), on in merged.items() if on),
        settings.timeout,
        settings.retries,
        settings.retry_delay,
    )


def project_layer(
    mapping: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Notify | None:
    """The project's settings: suiro.yaml's ``notify:`` (``mapping``) and ``SUIRO_NOTIFY_*``
    (``SUIRO_NOTIFY_EMAIL`` and ``SUIRO_NOTIFY_WEBHOOK``, comma-separated; ``SUIRO_NOTIFY_ON``;
    ``SUIRO_NOTIFY_TIMEOUT``); ``SUIRO_ALERT_WEBHOOK`` counts as a project webhook.

    Raises:
        NotifyError: a variable or key holds a value that cannot work, naming it.
    """
    env = os.environ if environ is None else environ
    from_file = Notify.parse(mapping, where="suiro.yaml notify") if mapping else None
    email = [a for a in re.split(r"[,\s]+", env.get(ENV_EMAIL, "")) if a]
    hooks = [u for u in re.split(r"[,\s]+", env.get(ENV_WEBHOOK, "")) if u]
    hooks += [u for u in [env.get(ENV_ALERT_WEBHOOK, "").strip()] if u]
    if not (email or hooks):
        return from_file
    timeout = env.get(ENV_TIMEOUT, "").strip()
    try:
        seconds = float(timeout) if timeout else DEFAULT_TIMEOUT
    except ValueError:
        raise NotifyError(
            f"{ENV_TIMEOUT}={timeout!r} is not a number of seconds; fix it or unset it."
        ) from None
    from_env = Notify(
        on=env.get(ENV_ON, "").strip() or DEFAULT_ON,
        email=email,
        webhook=hooks,
        timeout=seconds,
        where=f"the {ENV_EMAIL}/{ENV_WEBHOOK}/{ENV_ON} variables",
    )
    return from_env if from_file is None else _union(from_file, from_env)


def _union(first: Notify, second: Notify) -> Notify:
    """Both layers' addresses with the union of their events (one project layer of two sources)."""
    return Notify(
        on=tuple(dict.fromkeys(first.on + second.on)),
        email=tuple(dict.fromkeys(first.email + second.email)),
        webhook=tuple(dict.fromkeys(first.webhook + second.webhook)),
        timeout=first.timeout,
        retries=first.retries,
        retry_delay=first.retry_delay,
    )


@dataclass(frozen=True, kw_only=True)
class HookContext:
    """What an ``on_failure``/``on_success``/``on_retry`` hook is told (frozen: it cannot change the run).

    Attributes:
        event: ``failure``, ``success`` or ``retry``.
        run_id: the run's id.
        pipeline: the pipeline's name.
        deployment: the deployment that started the run (None: started by hand).
        task: the task's key (for a pipeline's hook: the task that failed or is retried; None
            when the run succeeded or no task caused the failure).
        state: the run's or task's state: ``failed``, ``success`` or ``retrying``.
        error: the error's first line (masked), or None.
        attempt: the attempt that ended (0 for a pipeline's success/failure).
        logs: the command that shows the logs: ``suiro logs RUN TASK``.
        map_index: the mapped item retried (``on_retry`` of a mapped task), else -1.
    """

    event: str
    run_id: str
    pipeline: str
    deployment: str | None
    task: str | None
    state: str
    error: str | None
    attempt: int
    logs: str
    map_index: int = -1


Hook = Callable[[HookContext], Any]


def hooks_of(value: Any, *, label: str, owner: str) -> tuple[Hook, ...]:
    """A hook option (a callable, a list of them, or None) as a tuple, checked.

    Raises:
        NotifyError: something in it is not callable, naming the option and its owner.
    """
    if value is None:
        return ()
    found = tuple(value) if isinstance(value, list | tuple) else (value,)
    for hook in found:
        if not callable(hook):
            raise NotifyError(
                f"{owner}: {label} must be a function taking a suiro.HookContext (or a list of them), "
                f"got {hook!r}."
            )
    return found


def first_line(text: str | None, limit: int = 300) -> str | None:
    """The first non-empty line of ``text``, masked and at most ``limit`` characters."""
    if not text:
        return None
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    line = secrets.mask(line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def logs_command(run_id: str, task: str | None = None) -> str:
    """The exact command that shows a run's (or one task's) logs."""
    return f"suiro logs {run_id} {task}" if task else f"suiro logs {run_id}"

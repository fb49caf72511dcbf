"""The model registry: numbered versions of named models, their stages, and a log of every change.

The public API over the ``model_versions`` and ``model_transitions`` tables, whose statements
live in ``suiro.store.models`` (every write one transaction that reads the state it changes, so
concurrent registrations and promotions cannot produce duplicate versions or two production
versions). Model objects are stored like task outputs, in the content-addressed
``ArtifactStore`` (joblib for scikit-learn, LightGBM and XGBoost models), so ``load``
re-verifies the bytes before joblib or pickle runs them. Names are database keys only, never
paths, and are still held to a strict pattern. Reads go through a read-only connection. Must
not import pandas or scikit-learn at import time, nor Typer or FastAPI: the CLI and the server
are thin layers over this module.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import math
import re
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suiro.context import run_locations
from suiro.errors import ModelNotFoundError, RegistryError, did_you_mean
from suiro.states import ModelStage
from suiro.store import models
from suiro.store.artifacts import ArtifactMeta
from suiro.store.db import with_password
from suiro.store.home import Store

#: Stages a version can be in; at most one version per name is in ``production``.
STAGES = tuple(ModelStage)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_STAGE_LIST = ", ".join(STAGES)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model as recorded; ``Registry.load`` gives the model object.

    ``version`` counts from 1 per name; ``metrics`` values are None where not finite;
    ``input_schema`` is ``[{"name", "dtype"}]`` in column order (dtype ``any`` when unknown);
    ``artifact_digest``, ``serializer`` and ``size`` locate the stored model bytes.
    """

    name: str
    version: int
    stage: ModelStage
    metrics: dict[str, float | None]
    params: dict[str, Any]
    data_digest: str | None
    run_id: str | None
    task_key: str | None
    artifact_digest: str
    input_schema: list[dict[str, str]] | None
    task_type: str | None
    classes: list[Any] | None
    created: float
    description: str | None
    serializer: str = "joblib"
    size: int = 0

    @property
    def ref(self) -> str:
        """``name@version``, the form ``Registry.get`` and ``suiro serve`` accept."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able data."""
        return dataclasses.asdict(self)


def check_name(name: Any) -> str:
    """Return ``name`` if it is a valid model name.

    Raises:
        RegistryError: not 1-128 letters, digits, ``_``, ``.`` or ``-`` starting with a letter or digit.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise RegistryError(
            f"{shown} is not a valid model name; use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit.",
            name=name if isinstance(name, str) else None,
        )
    return name


def check_stage(stage: Any) -> ModelStage:
    """``stage`` as a ``ModelStage`` if it is one of ``STAGES``.

    Raises:
        RegistryError: any other value.
    """
    if stage not in STAGES:
        raise RegistryError(
            f"unknown stage {stage!r}{did_you_mean(str(stage), STAGES)}; use one of {_STAGE_LIST}."
        )
    return ModelStage(stage)


def parse_ref(ref: str) -> tuple[str, int | str | None]:
    """Split ``NAME``, ``NAME@7``, ``NAME@latest`` or ``NAME@production`` into name and selector.

    Raises:
        RegistryError: the name is invalid or the selector is neither a number, ``latest`` nor a stage.
    """
    name, sep, selector = str(ref).partition("@")
    check_name(name)
    return name, (_selector(name, selector) if sep else None)


def default_actor() -> str:
    """``user@host``, recorded with each change when no actor is given."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Registry:
    """Registered models in a suiro home (its database and artifact store).

    Args:
        home: the suiro home (default: inside a task, the home its run records into; else
            ``$SUIRO_HOME`` or ``./.suiro``).
        url: the database URL (default ``$SUIRO_DB`` or ``<home>/suiro.db``).
    """

    def __init__(self, home: str | Path | None = None, url: str | None = None):
        home, run_url, artifacts = run_locations(home)
        self.store = Store(home, url or (with_password(run_url) if run_url else None), artifacts=artifacts)
        #: Writes (register, promote, rollback) go through ``db``; reads through ``reader``.
        self.db = self.store.db
        self.reader = self.store.reader

    def close(self) -> None:
        """Close this thread's database connection."""
        self.store.close()

    def register(
        self,
        name: str,
        model: Any,
        *,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        data_digest: str | None = None,
        run_id: str | None = None,
        task_key: str | None = None,
        input_schema: Any = None,
        task_type: str | None = None,
        classes: Sequence[Any] | None = None,
        description: str | None = None,
        stage: str = ModelStage.NONE,
        reason: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Store ``model`` and record it as the next version of ``name`` (1 for a new name).

        The model bytes are durable before the row is written; the row, its version number
        (max + 1, computed inside the transaction) and, for ``stage != "none"``, the promotion
        are one transaction.

        Args:
            input_schema: a DataFrame (its columns and dtypes), ``{column: dtype}``,
                ``[{"name", "dtype"}]`` or column names; inferred from ``feature_names_in_``
                (dtype ``any``) when omitted.
            task_type, classes: inferred from scikit-learn-style models when omitted.

        Raises:
            RegistryError: an invalid name, stage, metric or schema.
            SerializerError, ArtifactError: the model cannot be stored.
        """
        check_name(name)
        stage = check_stage(stage)
        task_type = task_type or _infer_task_type(model)
        if classes is None and task_type == "classification":
            classes = getattr(model, "classes_", None)
        row = {
            "id": uuid.uuid4().hex,
            "name": name,
            "metrics": _dump(_metrics(name, metrics)),
            "params": _dump(dict(params or {})),
            "data_digest": data_digest,
            "run_id": run_id,
            "task_key": task_key,
            "input_schema": _dump(_schema(name, input_schema, model)),
            "task_type": task_type,
            "classes": _dump(classes),
            "created": time.time(),
            "description": description,
        }
        meta = self._store_model(model)
        row.update(artifact_digest=meta.digest, serializer=meta.serializer, size=meta.size)
        log = _log_params(row["id"], actor=actor, run_id=run_id, reason=reason)
        for _ in range(3):
            try:
                models.register(self.db, self.store.artifacts, row, log, meta=meta, stage=stage)
                break
            except models.ModelGoneError:
                self._store_model(model)  # gc removed it between the store and the transaction
        else:
            raise RegistryError(
                f"model {name}: its stored bytes were removed three times before they could be recorded "
                "(is `suiro gc` running in a loop?); register it again.",
                name=name,
            )
        return _version(models.version_by_id(self.db, row["id"]))

    def _store_model(self, model: Any) -> ArtifactMeta:
        """Store the model's bytes, durably, as an object in the artifact store."""
        meta = self.store.artifacts.put(model)
        if meta.inline is not None:  # small JSON "models" too live as files, so load finds them
            self.store.artifacts.put_bytes(meta.inline)
        return meta

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of ``name`` (of every model if None), by name then version.

        Raises:
            ModelNotFoundError: no model is registered under ``name``.
        """
        if name is None:
            return [_version(r) for r in models.all_versions(self.reader)]
        return [_version(r) for r in self._rows(name)]

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """One version: ``version`` is a number, ``"latest"`` (the default) or a stage name.

        ``name`` may carry the selector itself: ``"churn@7"``, ``"churn@production"``.

        Raises:
            ModelNotFoundError: no such model, or no version matches (the message lists them).
            RegistryError: the name or the selector is invalid.
        """
        return _version(self._row(name, version))

    def load(self, version: ModelVersion | str) -> Any:
        """The model object of ``version`` (or of a ref like ``"churn@production"``).

        The stored bytes are re-hashed before they are deserialized.

        Raises:
            ArtifactMissingError, ArtifactCorruptError: the stored model is gone or was changed.
            SerializerError: it cannot be deserialized (e.g. a library is missing).
        """
        if isinstance(version, str):
            version = self.get(version)
        kind = f"model {version.ref}"
        return self.store.artifacts.get(
            ArtifactMeta(version.artifact_digest, version.serializer, version.size, kind)
        )

    def promote(
        self,
        name: str,
        version: int | str,
        stage: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to ``stage``; into ``production``, the current production version is archived.

        Both changes are one transaction and both are logged. Promoting a version to the stage it
        is in changes and logs nothing.

        Raises:
            ModelNotFoundError, RegistryError: as for ``get``; an unknown stage.
        """
        stage = check_stage(stage)
        row = self._row(name, version)
        log = {**_log_params(row["id"], actor=actor, run_id=run_id, reason=reason), "action": "promote"}
        models.set_stage(self.db, row["id"], row["name"], stage, log)
        return self.get(row["name"], row["version"])

    def rollback(self, name: str, *, reason: str | None = None, actor: str | None = None) -> ModelVersion:
        """Put back the version that was in production before the current one, archiving the current one.

        Repeated rollbacks walk further back through the production history in the log.

        Raises:
            ModelNotFoundError: no such model.
            RegistryError: no version is in production, or none was before it.
        """
        rows = self._rows(name)
        current = next((r["version"] for r in rows if r["stage"] == ModelStage.PRODUCTION), None)
        if current is None:
            raise RegistryError(
                f"model {name} has no production version to roll back from; "
                f"promote one with: suiro models promote {name} VERSION --stage production.",
                name=name,
            )
        history = [t for t in self.transitions(name) if t["to_stage"] == ModelStage.PRODUCTION]
        earlier = [v for v in _production_stack(history)[:-1] if v != current]
        if not earlier:
            raise RegistryError(
                f"model {name} has no earlier production version than {current} to roll back to.", name=name
            )
        target = next(r for r in rows if r["version"] == earlier[-1])
        log = {**_log_params(target["id"], actor=actor, run_id=None, reason=reason), "action": "rollback"}
        models.set_stage(self.db, target["id"], name, ModelStage.PRODUCTION, log)
        return self.get(name, target["version"])

    def transitions(self, name: str) -> list[dict[str, Any]]:
        """The append-only log of ``name``'s registrations and stage changes, oldest first.

        Raises:
            ModelNotFoundError: no such model.
        """
        self._rows(name)
        return models.transitions(self.reader, name)

    def compare(self, name: str, v1: int | str, v2: int | str) -> dict[str, Any]:
        """Two versions side by side: every metric with its difference (v2 - v1), the params that differ.

        Raises:
            ModelNotFoundError, RegistryError: as for ``get``.
        """
        a, b = self.get(name, v1), self.get(name, v2)
        metrics = []
        for key in sorted(set(a.metrics) | set(b.metrics)):
            x, y = a.metrics.get(key), b.metrics.get(key)
            diff = y - x if x is not None and y is not None else None
            metrics.append({"metric": key, "v1": x, "v2": y, "difference": diff})
        params = [
            {"param": key, "v1": a.params.get(key), "v2": b.params.get(key)}
            for key in sorted(set(a.params) | set(b.params))
            if a.params.get(key, _MISSING) != b.params.get(key, _MISSING)
        ]
        same_data = a.data_digest == b.data_digest if a.data_digest and b.data_digest else None
        return {
            "name": a.name,
            "versions": [a.version, b.version],
            "stages": [a.stage, b.stage],
            "metrics": metrics,
            "params": params,
            "same_data": same_data,
            "same_artifact": a.artifact_digest == b.artifact_digest,
        }

    # -- internals ----------------------------------------------------------------------------

    def _rows(self, name: str) -> list[dict[str, Any]]:
        """All rows of ``name`` by version; raises ModelNotFoundError when there are none."""
        check_name(name)
        rows = models.versions_of(self.reader, name)
        if rows:
            return rows
        names = models.names(self.reader)
        known = f"registered models: {_listing(names)}" if names else "the registry is empty"
        raise ModelNotFoundError(
            f"no model named {name!r} is registered{did_you_mean(name, names)}; {known}.", name=name
        )

    def _row(self, name: str, version: int | str | None) -> dict[str, Any]:
        if version is None and "@" in str(name):
            name, version = parse_ref(name)
        rows = self._rows(name)
        selector = "latest" if version is None else _selector(name, version)
        if selector == "latest":
            return rows[-1]
        key = "version" if isinstance(selector, int) else "stage"
        found = [r for r in rows if r[key] == selector]
        if found:
            return found[-1]
        what = f"version {selector}" if key == "version" else f"version in stage {selector}"
        listed = _listing([f"{r['version']} ({r['stage']})" for r in rows])
        raise ModelNotFoundError(
            f"model {name} has no {what}; its versions are {listed}.",
            name=name,
            version=selector,
            versions=[r["version"] for r in rows],
        )


def _production_stack(history: list[dict[str, Any]]) -> list[int]:
    """The versions that held production, oldest first, with rolled-back ones removed."""
    stack: list[int] = []
    for t in history:
        if t["action"] == "rollback":
            while stack and stack[-1] != t["version"]:
                stack.pop()
            if stack:
                continue
        if not stack or stack[-1] != t["version"]:
            stack.append(t["version"])
    return stack


def _log_params(row_id: str, *, actor: str | None, run_id: str | None, reason: str | None) -> dict[str, Any]:
    return {
        "id": row_id,
        "time": time.time(),
        "actor": actor or default_actor(),
        "run_id": run_id,
        "reason": reason,
    }


def _selector(name: str, value: Any) -> int | str:
    """A version number, ``"latest"`` or a stage from what a user typed."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) < 10:
        return int(text)
    if text.lower() == "latest" or text in STAGES:
        return text.lower()
    raise RegistryError(
        f"{value!r} is not a version of model {name}; "
        f"use a version number, 'latest' or a stage ({_STAGE_LIST}).",
        name=name,
    )


def _version(row: Mapping[str, Any]) -> ModelVersion:
    fields = {f.name: row[f.name] for f in dataclasses.fields(ModelVersion)}
    for key in ("metrics", "params", "input_schema", "classes"):
        fields[key] = None if row[key] is None else json.loads(row[key])
    fields["stage"] = ModelStage(fields["stage"])
    return ModelVersion(**{**fields, "metrics": fields["metrics"] or {}, "params": fields["params"] or {}})


def _metrics(name: str, metrics: Mapping[str, Any] | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in (metrics or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RegistryError(
                f"metric {key!r} of model {name} is {value!r}, not a number; pass numbers only.", name=name
            ) from None
        out[str(key)] = number if math.isfinite(number) else None
    return out


def _schema(name: str, schema: Any, model: Any) -> list[dict[str, str]] | None:
    """``[{"name", "dtype"}]`` from a DataFrame, a mapping, a list, or the model's ``feature_names_in_``."""
    if schema is None:
        names = getattr(model, "feature_names_in_", None)
        return None if names is None else [{"name": str(n), "dtype": "any"} for n in names]
    if hasattr(schema, "dtypes") and hasattr(schema, "columns"):  # a DataFrame
        columns = [{"name": str(c), "dtype": str(t)} for c, t in schema.dtypes.items()]
    elif isinstance(schema, Mapping):
        columns = [{"name": str(c), "dtype": str(t)} for c, t in schema.items()]
    elif isinstance(schema, Sequence) and not isinstance(schema, str):
        columns = [_column(name, c) for c in schema]
    else:
        raise RegistryError(
            f"input_schema of model {name} is a {type(schema).__name__}; pass a DataFrame, "
            "{column: dtype} or [{'name': ..., 'dtype': ...}].",
            name=name,
        )
    seen = [c["name"] for c in columns]
    repeated = sorted({c for c in seen if seen.count(c) > 1})
    if repeated:
        raise RegistryError(
            f"input_schema of model {name} repeats columns {repeated}; name each once.", name=name
        )
    return columns


def _column(name: str, column: Any) -> dict[str, str]:
    if isinstance(column, str):
        return {"name": column, "dtype": "any"}
    if isinstance(column, Mapping) and isinstance(column.get("name"), str):
        return {"name": column["name"], "dtype": str(column.get("dtype") or "any")}
    raise RegistryError(
        f"input_schema of model {name} has the entry {column!r}; use {{'name': ..., 'dtype': ...}}.",
        name=name,
    )


def _infer_task_type(model: Any) -> str | None:
    """``classification`` or ``regression`` for scikit-learn-compatible models, else None."""
    if not hasattr(model, "get_params"):
        return None
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except Exception:  # a foreign object sklearn cannot tag: fall back to duck typing
        pass
    return "classification" if hasattr(model, "classes_") else None


def _dump(value: Any) -> str | None:
    """JSON text (numpy values as Python ones, anything else foreign as its repr), or None."""
    if value is None:
        return None
    default = lambda v: v.tolist() if hasattr(v, "tolist") else repr(v)  # noqa: E731
    return json.dumps(value, sort_keys=True, allow_nan=False, default=default)


def _listing(items: Sequence[str], limit: int = 20) -> str:
    """``items`` joined, only the last ``limit`` of them when there are more."""
    earlier = f"{len(items) - limit} earlier, " if len(items) > limit else ""
    return earlier + ", ".join(items[-limit:])


_MISSING = object()

"""The invariant checker behind ``suiro check``: what must hold in a store, and what does not.

Checks, reading only (nothing is repaired, no dead run is marked ``crashed``):

- every ``success``/``cached`` task run with an output digest points to a recorded artifact whose
  bytes are present and hash to that digest (inline bytes too; a manifest and each of its items);
- no task run has two successful attempts (its success is recorded exactly once);
- no ``running`` run without a live owner: its process is gone (on this host) or its heartbeat is
  older than the stale timeout, the same test ``reaper.reap`` applies; no ``running`` or
  ``retrying`` task run in a run that has ended;
- every registered model version's bytes are a file in the store that hashes to its digest;
- every file in ``artifacts/objects`` hashes to its name, and is a regular file;
- SQLite's ``PRAGMA integrity_check`` is ``ok`` and ``PRAGMA foreign_key_check`` finds nothing;
  on a damaged file, SQLite's words and each part of the record that could not be read;
- the database is not missing or empty while the home holds outputs or run logs.

Each problem is reported once, by the thing that is wrong (an artifact, a task run, a run).
Must not write to the database or the artifact store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from suiro import clock
from suiro.errors import ArtifactError, DatabaseDamagedError, RecordsMissingError
from suiro.labels import first_few, task_label
from suiro.store.content import FILES, ArtifactMeta, ContentStore, check_digest
from suiro.store.damage import integrity_lines, newest_backup
from suiro.store.db import Database, home_dir
from suiro.store.files import file_digests
from suiro.store.home import Store
from suiro.store.locations import artifacts_location, open_artifacts
from suiro.store.outputs import MANIFEST, manifest_digests, manifest_entries
from suiro.store.reaper import death_of

#: Task runs named in one artifact problem before the rest are counted.
_SHOWN = 3
#: Lines of SQLite's integrity check quoted in one problem before the rest are counted.
_SHOWN_LINES = 5
_OUTPUTS = (
    "SELECT run_id, task_key, map_index, output_digest, output_inline FROM task_runs"
    " WHERE state IN ('success', 'cached') AND output_digest IS NOT NULL ORDER BY id"
)


@dataclass(frozen=True)
class Problem:
    """One broken invariant.

    Attributes:
        kind: what is wrong, e.g. ``missing_artifact``, ``corrupt_artifact``, ``corrupt_object``,
            ``unrecorded_artifact``, ``missing_model``, ``corrupt_model``, ``double_success``,
            ``dead_run``, ``orphan_task_run``, ``integrity``, ``foreign_key``, ``records_missing``.
        subject: the artifact digest, run id or task run it is about.
        message: one sentence for people, naming the subject and what to do.
    """

    kind: str
    subject: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The fields as plain data."""
        return asdict(self)


def check_home(home: Path | None = None, *, now: float | None = None) -> list[Problem]:
    """Every invariant broken in the home (``suiro check``), even one whose database cannot be opened.

    A database damaged past opening gives ``integrity`` problems, a missing or empty one beside
    stored outputs gives ``records_missing``; the artifact store's objects are checked either way.
    Never creates a database over lost records, and never raises for a damaged one.
    """
    home = home_dir() if home is None else Path(home)
    try:
        store = Store(home, quick_check=False)
    except DatabaseDamagedError as exc:
        head = [_damaged(exc.path, integrity_lines(exc.path) or [exc.detail])]
    except RecordsMissingError as exc:
        head = [Problem("records_missing", str(exc.path), exc.detail + ".")]
    else:
        try:
            return check(store, now=now)
        finally:
            store.close()
    artifacts = open_artifacts(artifacts_location(home))
    return head + _objects(artifacts, _Verdicts(None, artifacts))


def check(store: Store, *, now: float | None = None, artifacts_only: bool = False) -> list[Problem]:
    """Every invariant broken in ``store`` (its database and artifact store), in a stable order.

    ``artifacts_only`` checks stored bytes alone (outputs, models, objects: ``suiro artifacts
    verify``), skipping the database's integrity check and the records' consistency. A part
    that cannot be read from a damaged database is one ``integrity`` problem that names it.
    """
    store.artifacts.check_reachable()  # a bucket that is not there: one sentence, not every output missing
    db = store.reader  # reading only: a check that wrote would be refused
    verdicts = _Verdicts(db, store.artifacts)
    when = clock.now() if now is None else now
    parts: list[tuple[str, Callable[[], list[Problem]]]] = [
        ("the database's integrity", lambda: _database(db)),
        ("the outputs of successful tasks", lambda: _outputs(db, verdicts)),
        ("the attempts", lambda: _double_successes(db)),
        ("the registered models", lambda: _models(db, store.artifacts)),
        ("the running runs", lambda: _dead_runs(db, when)),
        ("the scheduled runs", lambda: _double_scheduled(db)),
    ]
    if artifacts_only:
        parts = [parts[1], parts[3]]
    problems = []
    for what, part in parts:
        try:
            problems += part()
        except DatabaseDamagedError as exc:
            problems.append(
                Problem(
                    "integrity",
                    f"{exc.path}: {what}",
                    f"{what} could not be checked: reading the database {exc.path} failed ({exc.detail}).",
                )
            )
    return problems + _objects(store.artifacts, verdicts)


def _task_run(row: dict[str, Any]) -> str:
    """``run/task`` or ``run/task[i]`` for a mapped item."""
    return f"{row['run_id']}/{task_label(row['task_key'], row['map_index'])}"


def _damaged(path: Path, lines: list[str]) -> Problem:
    shown = "; ".join(lines[:_SHOWN_LINES]) + (
        f"; and {len(lines) - _SHOWN_LINES} more" if len(lines) > _SHOWN_LINES else ""
    )
    return Problem(
        "integrity",
        str(path),
        f"the database {path} is damaged: PRAGMA integrity_check says {shown}; restore a backup made "
        f"with `suiro backup`{newest_backup(path.parent)}, or move it aside to start a new one.",
    )


def _database(db: Database) -> list[Problem]:
    if not db.is_sqlite:
        return []
    assert db.path is not None
    lines = integrity_lines(db.path, immutable=db.read_only_because is not None)
    if lines:  # the foreign-key check would only stop at the same damage
        return [_damaged(db.path, lines)]
    problems = []
    for row in db.query("PRAGMA foreign_key_check"):
        table, rowid, parent = row.get("table"), row.get("rowid"), row.get("parent")
        problems.append(
            Problem(
                "foreign_key",
                f"{table}:{rowid}",
                f"row {rowid} of table {table} refers to a missing row of {parent}; the record is "
                "inconsistent, restore the database from a backup.",
            )
        )
    return problems


class _Verdicts:
    """What is wrong with each artifact digest (None: nothing), worked out once per digest."""

    def __init__(self, db: Database | None, artifacts: ContentStore):
        self.db = db
        self.artifacts = artifacts
        self.found: dict[str, tuple[str, str] | None] = {}

    def of(self, digest: str) -> tuple[str, str] | None:
        """``(kind, why)`` for a broken artifact, else None."""
        if digest not in self.found:
            self.found[digest] = None  # a manifest listing itself must not recurse forever
            self.found[digest] = self._judge(digest)
        return self.found[digest]

    def _judge(self, digest: str) -> tuple[str, str] | None:
        assert self.db is not None, "judged only for digests the records name"
        rows = self.db.query("SELECT * FROM artifacts WHERE digest = :d", {"d": digest})
        if not rows:
            return "unrecorded_artifact", "no row in the artifacts table"
        row = rows[0]
        meta = ArtifactMeta(row["digest"], row["serializer"], row["size"], row["kind"], row["inline"])
        try:
            check_digest(digest)  # a recorded digest that could escape the store is corrupt
            data = meta.inline if meta.inline is not None else self.artifacts.get_bytes(digest)
        except ArtifactError as exc:
            kind = "missing_artifact" if isinstance(exc, FileNotFoundError) else "corrupt_artifact"
            return kind, str(exc)
        if len(data) != meta.size or hashlib.sha256(data).hexdigest() != digest:
            where = "inline in the database" if meta.inline is not None else "in the store"
            return "corrupt_artifact", f"its bytes {where} do not match its digest and size"
        if meta.serializer == MANIFEST:
            return self._judge_manifest(data, row["items"])
        if meta.serializer == FILES:
            return self._judge_files(data)
        return None

    def _judge_files(self, data: bytes) -> tuple[str, str] | None:
        """A file record is broken when one of the files it lists is missing or changed."""
        for digest, _ in file_digests(data):
            if not self.artifacts.has(digest):
                return "missing_artifact", f"its file {digest} is not in the store"
            if not self.artifacts.verify(digest):
                return "corrupt_artifact", f"its file {digest} does not hash to its name"
        return None

    def _judge_manifest(self, data: bytes, kept: bytes | None) -> tuple[str, str] | None:
        """A manifest is broken when one of its items is; an item kept on a task run's row is
        judged by the bytes the manifest's ``items`` hold for it (migration 0007)."""
        items = manifest_digests(data)
        if items is None:
            return "corrupt_artifact", "a manifest that is not a JSON list of digests"
        entries = manifest_entries(kept, len(items))
        if entries is None:
            return "corrupt_artifact", "its record of the items kept on task runs' rows is damaged"
        for item, entry in zip(items, entries, strict=True):
            if entry is None:
                verdict = self.of(item)
            else:
                verdict = judge_bytes(item, entry[1].encode(), "kept with the manifest")
            if verdict is not None:
                return verdict[0], f"its item {item} is broken: {verdict[1]}"
        return None


def judge_bytes(digest: str, data: bytes, where: str) -> tuple[str, str] | None:
    """``(kind, why)`` when ``data``, an output kept in the database ``where``, is not ``digest``'s."""
    try:
        check_digest(digest)
    except ArtifactError as exc:
        return "corrupt_artifact", str(exc)
    if hashlib.sha256(data).hexdigest() != digest:
        return "corrupt_artifact", f"its bytes {where} do not match its digest"
    return None


def _outputs(db: Database, verdicts: _Verdicts) -> list[Problem]:
    """One problem per broken artifact that a successful task run points to."""
    users: dict[str, list[str]] = {}
    on_rows: dict[str, tuple[str, str] | None] = {}  # outputs kept on their rows: the first bad one's verdict
    by_digest: set[str] = set()  # outputs with an ``artifacts`` row (rows older than 0007, stored objects)
    for row in db.query(_OUTPUTS):
        digest = row["output_digest"]
        users.setdefault(digest, []).append(_task_run(row))
        if row["output_inline"] is None:
            by_digest.add(digest)
        elif on_rows.get(digest) is None:
            on_rows[digest] = judge_bytes(digest, bytes(row["output_inline"]), "on its task run's row")
    problems = []
    for digest, names in users.items():
        verdict = on_rows.get(digest) or (verdicts.of(digest) if digest in by_digest else None)
        if verdict is None:
            continue
        kind, why = verdict
        shown = first_few(names, _SHOWN)
        problems.append(
            Problem(
                kind,
                digest,
                f"{kind.replace('_', ' ')} {digest} is the recorded output of successful task run "
                f"{shown} ({why}); resume or rerun the producing task.",
            )
        )
    return problems


def _double_successes(db: Database) -> list[Problem]:
    rows = db.query(
        "SELECT run_id, task_key, map_index, COUNT(*) AS n FROM attempts WHERE state = 'success'"
        " GROUP BY run_id, task_key, map_index HAVING COUNT(*) > 1 ORDER BY run_id, task_key, map_index"
    )
    problems = []
    for row in rows:
        name = _task_run(row)
        problems.append(
            Problem(
                "double_success",
                name,
                f"task run {name} has {row['n']} successful attempts, where one success may be recorded; "
                "report this as a suiro bug.",
            )
        )
    return problems


def _double_scheduled(db: Database) -> list[Problem]:
    """G6: at most one run per (deployment, logical time); resumes (a parent run) excepted."""
    rows = db.query(
        "SELECT deployment, logical_time, COUNT(*) AS n FROM runs WHERE deployment IS NOT NULL"
        " AND parent_run_id IS NULL GROUP BY deployment, logical_time HAVING COUNT(*) > 1"
        " ORDER BY deployment, logical_time"
    )
    return [
        Problem(
            "double_run",
            f"{row['deployment']}@{row['logical_time']}",
            f"deployment {row['deployment']} has {row['n']} runs for logical time {row['logical_time']}, "
            "where one may be recorded; report this as a suiro bug.",
        )
        for row in rows
    ]


def _models(db: Database, artifacts: ContentStore) -> list[Problem]:
    """Each registered model version's bytes are a file in the store that hashes to its digest."""
    problems = []
    rows = db.query("SELECT name, version, artifact_digest, size FROM model_versions ORDER BY name, version")
    for row in rows:
        ref, digest = f"{row['name']}@{row['version']}", row["artifact_digest"]
        try:
            data = artifacts.get_bytes(digest)
        except ArtifactError as exc:
            kind = "missing_model" if isinstance(exc, FileNotFoundError) else "corrupt_model"
            why = str(exc)
        else:
            if len(data) == row["size"]:
                continue
            kind, why = "corrupt_model", f"{len(data)} bytes instead of {row['size']}"
        problems.append(
            Problem(kind, ref, f"model {ref} cannot be loaded ({why}); register it again from its run.")
        )
    return problems


def _dead_runs(db: Database, now: float) -> list[Problem]:
    problems = []
    for run in db.query(
        "SELECT id, host, pid, heartbeat, started FROM runs WHERE state = 'running' ORDER BY started"
    ):
        why = death_of(run, now)  # the reaper's verdict, without writing it
        if why is not None:
            problems.append(
                Problem(
                    "dead_run",
                    run["id"],
                    f"run {run['id']} is recorded as running but {why}; `suiro runs` marks it crashed, "
                    f"then `suiro resume {run['id']}` finishes it.",
                )
            )
    for row in db.query(
        "SELECT t.run_id, t.task_key, t.map_index, t.state, r.state AS run_state FROM task_runs t"
        " JOIN runs r ON r.id = t.run_id WHERE t.state IN ('running', 'retrying')"
        " AND r.state NOT IN ('running', 'queued', 'starting', 'cancelling') ORDER BY t.id"
    ):
        name = _task_run(row)
        problems.append(
            Problem(
                "orphan_task_run",
                name,
                f"task run {name} is still {row['state']} although its run ended {row['run_state']}; "
                "report this as a suiro bug.",
            )
        )
    return problems


def _objects(artifacts: ContentStore, verdicts: _Verdicts) -> list[Problem]:
    """Objects whose bytes do not hash to their name, unless already reported through a task run."""
    problems = []
    for digest in artifacts.iter_digests():
        if verdicts.found.get(digest) is not None or artifacts.verify(digest):
            continue
        path = artifacts.where(digest)
        problems.append(
            Problem(
                "corrupt_object",
                digest,
                f"corrupt object {digest}: {path} is not a stored object whose bytes hash to its name; "
                "delete it (`suiro gc` keeps nothing unreferenced) or rerun its producer.",
            )
        )
    return problems

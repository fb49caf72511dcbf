"""A stored output's preview for the run page: a DataFrame's head, a dict's first items, a value.

An output is read from the artifact store only when it is at most ``MAX_BYTES``, and its bytes
are checked against its digest (``ArtifactStore.get``/``get_bytes``) before anything decodes
them. Nothing heavy or foreign is loaded into the server for a look (``store.peek``): a
DataFrame's head is read from its Parquet file with pyarrow alone (pandas would add ~100 MB),
and a pickle only when it holds builtin values, so a task's own modules are never imported.
An output that fails the check, is missing, or cannot be shown so is a sentence saying why.
What is returned is plain JSON-able text (every value through ``repr``, cut to ``MAX_TEXT``),
so the page escapes it like any other text.
Nothing is written: the store's files are opened to read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from suiro.errors import ArtifactCorruptError, ArtifactMissingError, SuiroError
from suiro.store import peek, search
from suiro.store.artifacts import ArtifactMeta
from suiro.store.outputs import MANIFEST, manifest_digests, manifest_entries

if TYPE_CHECKING:
    from suiro.store.home import Store

#: Outputs larger than this (bytes as stored) are not loaded for a preview.
MAX_BYTES = 2 * 1024 * 1024
#: A run page previews this many outputs at most (a mapped task's items count one each).
MAX_PREVIEWS = 12
#: Rows of a table, items of a dict or list shown.
ROWS = 10
#: Characters of one value's text kept.
MAX_TEXT = 300


def of_output(store: Store, output: dict[str, Any], run_id: str | None = None) -> dict[str, Any] | None:
    """The preview of one row of ``queries.artifacts`` of run ``run_id`` (None for a file-writing
    task's output). Without the run, an output kept on its task run's row is not found."""
    if output.get("serializer") == "files" or not output.get("digest"):
        return None
    if output["size"] > MAX_BYTES:
        return _unavailable(f"larger than {MAX_BYTES // 1024} KiB ({output['size']} bytes)")
    record = search.artifact_record(
        store.reader,
        output["digest"],
        run_id=run_id,
        task_key=output.get("task_key", ""),
        map_index=output.get("map_index", -1),
    )
    if record is None:
        return _unavailable("the output has no record")
    try:
        if record["serializer"] == MANIFEST:  # a mapped task's list: its bytes are on its row
            return _manifest(store, record)
        value = _load(store, record)
    except ArtifactCorruptError:
        return _unavailable("its bytes do not match its digest")
    except ArtifactMissingError:
        return _unavailable("the stored object is missing")
    except SuiroError as exc:
        return _unavailable(_cut(str(exc)))
    if isinstance(value, _Table):
        return {"type": "table", **value.head}
    return summary(value)


class _Table:
    """A Parquet output's head (``peek.parquet_head``), read without pandas."""

    def __init__(self, head: dict[str, Any]):
        self.head = head


def _load(store: Store, record: dict[str, Any]) -> Any:
    """The value (or a table's head) of an artifact record, checked against its digest first.

    JSON and NumPy decoding run no code and import little; a DataFrame's head is read with
    pyarrow alone; a pickle is loaded only if it holds builtin values (``peek.plain_pickle``).
    """
    serializer = record["serializer"]
    if serializer in ("json", "npy"):
        meta = ArtifactMeta(record["digest"], serializer, record["size"], record["kind"], record["inline"])
        return store.artifacts.get(meta)
    data = store.artifacts.get_bytes(record["digest"])
    if serializer == "parquet":
        head = peek.parquet_head(data, ROWS)
        head["rows"] = [[_cut(v if isinstance(v, str) else repr(v)) for v in row] for row in head["rows"]]
        return _Table(head)
    return peek.plain_pickle(data)  # pickle, joblib: builtin values only, else a SerializerError


def _manifest(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """A mapped task's list as a ``sequence`` of its first items: those kept on their rows by
    value, the others by digest (each is a stored output of its own, shown on its item's row)."""
    data = record["inline"] if record["inline"] is not None else store.artifacts.get_bytes(record["digest"])
    digests = manifest_digests(bytes(data))
    kept = manifest_entries(record.get("items"), len(digests)) if digests is not None else None
    if digests is None or kept is None:
        raise ArtifactCorruptError(f"manifest {record['digest']} is damaged", digest=record["digest"])
    items = [
        f"<stored apart: {digest[:12]}>" if entry is None else _cut(repr(json.loads(entry[1])))
        for digest, entry in zip(digests[:ROWS], kept[:ROWS], strict=True)
    ]
    return {"type": "sequence", "items": items, "length": len(digests)}


def summary(value: Any) -> dict[str, Any]:
    """``value`` as the page shows it: ``table`` (columns, rows, shape), ``mapping``, ``sequence``
    (items and length) or ``value`` (its text)."""
    if hasattr(value, "head") and hasattr(value, "columns") and hasattr(value, "shape"):  # a DataFrame
        head = value.head(ROWS)
        rows = [
            [_cut(repr(v) if not isinstance(v, str) else v) for v in row]
            for row in head.itertuples(index=False)
        ]
        return {
            "type": "table",
            "columns": [str(c) for c in value.columns],
            "rows": rows,
            "shape": list(value.shape),
        }
    if isinstance(value, dict):
        items = [[_cut(str(k)), _cut(repr(v))] for k, v in list(value.items())[:ROWS]]
        return {"type": "mapping", "items": items, "length": len(value)}
    if isinstance(value, list | tuple | set | frozenset):
        return {
            "type": "sequence",
            "items": [_cut(repr(v)) for v in list(value)[:ROWS]],
            "length": len(value),
        }
    return {"type": "value", "text": _cut(repr(value))}


def _unavailable(why: str) -> dict[str, Any]:
    return {"type": "unavailable", "text": f"not shown: {why}"}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"

"""The store's side of file outputs: each file an ordinary object, listed by one JSON record.

A file-writing task's output is a record (serializer ``files``, always inline in the database)
listing each file's digest, size, kind, metadata and name. The files themselves are objects
like any other, kept by gc because the record names them (``file_digests``), checked for
presence before a cache hit (``StoreOutputs.is_present``) and re-hashed when a consumer gets
them: the consumer's ``Input.path`` is a fresh read-only copy under ``<scratch>/views/`` (the
store's local folder), so a consumer that writes to it never changes the stored object. A folder
is stored as one deterministic tar (``write_tar``) and extracted for each consumer. Must not
know runs or tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from suiro.errors import ArtifactCorruptError, FileOutputError
from suiro.files import Input, Produced
from suiro.store.content import FILES, VIEWS, ArtifactMeta

if TYPE_CHECKING:
    from suiro.store.content import ContentStore


def put_files(store: ContentStore, produced: Produced, label: str = "the task") -> ArtifactMeta:
    """Store each written file, then the record that lists them (inline).

    Raises:
        FileOutputError: an output's metadata is not JSON.
        ArtifactError: a file cannot be read or stored.
    """
    entries = []
    for written in produced.files:
        folder = os.path.isdir(written.path)
        if folder:
            digest, size = store.put_stream(lambda sink, path=written.path: write_tar(path, sink, label))
        else:
            digest, size = store.put_file(written.path)
        entries.append(
            {
                "dir": folder,
                "name": written.name,
                "filename": os.path.basename(written.path) or written.name,
                "digest": digest,
                "size": size,
                "kind": written.kind,
                "metadata": written.metadata,
            }
        )
    try:
        data = json.dumps({"single": produced.single, "files": entries}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FileOutputError(
            f"the metadata of a file output of {label} is not JSON ({exc}); store numbers, strings, "
            "lists and dicts in .metadata."
        ) from exc
    raw = data.encode()
    kind = ",".join(dict.fromkeys(e["kind"] for e in entries))
    return ArtifactMeta(hashlib.sha256(raw).hexdigest(), FILES, len(raw), kind, inline=raw)


def _entries(store: ContentStore, meta: ArtifactMeta) -> tuple[bool, list[dict[str, Any]]]:
    data = meta.inline if meta.inline is not None else store.get_bytes(meta.digest)
    return _parse(data, meta.digest)


def _parse(data: bytes, digest: str) -> tuple[bool, list[dict[str, Any]]]:
    try:
        record = json.loads(data)
        return bool(record["single"]), list(record["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactCorruptError(
            f"the file record {digest} is not a valid list of files; rerun its task.", digest=digest
        ) from exc


def load_files(store: ContentStore, meta: ArtifactMeta) -> Any:
    """The consumer's value: an ``Input`` (or a dict of them by name) at verified read-only copies.

    Raises:
        ArtifactMissingError, ArtifactCorruptError: a listed file is gone or changed.
    """
    single, entries = _entries(store, meta)
    inputs = {}
    for entry in entries:
        digest = entry["digest"]
        filename = os.path.basename(str(entry.get("filename") or "")) or "file"
        if filename in (".", ".."):
            filename = "file"
        if entry.get("dir"):
            target = _extract(store, digest, int(entry["size"]), filename)
        else:
            target = store.scratch / VIEWS / digest / filename
            store.copy_out(digest, int(entry["size"]), target)
        inputs[entry["name"]] = Input(str(target), entry["kind"], entry.get("metadata") or {}, digest)
    return next(iter(inputs.values())) if single and inputs else inputs


def write_tar(folder: str, sink: BinaryIO, label: str = "the task") -> None:
    """Write ``folder`` as a tar whose bytes depend only on the names and contents of its files:
    sorted, times, owners and modes normalized, so the same folder always has the same digest.

    Raises:
        FileOutputError: the folder holds a symbolic link or something that is not a file.
    """
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for name in sorted(dirs) + sorted(names):
                full = os.path.join(root, name)
                if os.path.islink(full) or not (os.path.isfile(full) or os.path.isdir(full)):
                    raise FileOutputError(
                        f"the folder written by {label} holds {full}, which is not a plain file or "
                        "folder; write regular files only (copy the link's target instead)."
                    )
                info = tar.gettarinfo(full, arcname=os.path.relpath(full, folder))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o755 if info.isdir() or os.access(full, os.X_OK) else 0o644
                if info.isdir():
                    tar.addfile(info)
                else:
                    with open(full, "rb") as file:
                        tar.addfile(info, file)


def _extract(store: ContentStore, digest: str, size: int, filename: str) -> Path:
    """A fresh folder holding the verified tar ``digest``, extracted (members checked as data)."""
    base = store.scratch / VIEWS / digest
    base.mkdir(parents=True, exist_ok=True)
    here = Path(tempfile.mkdtemp(prefix="dir-", dir=base))
    archive = here / ".tar"
    store.copy_out(digest, size, archive)  # re-hashed on the way: a changed object is refused
    with tarfile.open(archive) as tar:
        tar.extractall(here / filename, filter="data")
    archive.unlink()
    return here / filename


def file_digests(data: bytes) -> list[tuple[str, int]]:
    """(digest, size) of each file a record lists; [] for a record that cannot be read."""
    try:
        return [(e["digest"], int(e["size"])) for e in json.loads(data)["files"]]
    except (ValueError, KeyError, TypeError):
        return []


def file_entries(data: bytes) -> list[dict[str, Any]]:
    """The files a record lists (name, filename, digest, size, kind, metadata); [] if unreadable."""
    try:
        return list(json.loads(data)["files"])
    except (ValueError, KeyError, TypeError):
        return []


def sweep_views(root: str | Path, cutoff_ns: int) -> int:
    """Remove consumers' copies under ``<root>/views/`` last made before ``cutoff_ns`` (gc's cutoff:
    no run still in progress made them); return how many digests' copies went."""
    removed = 0
    try:
        entries = list(os.scandir(Path(root) / VIEWS))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            old = (
                entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime_ns < cutoff_ns
            )
        except OSError:
            continue
        if old:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed

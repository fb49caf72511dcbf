"""What every artifact store does the same way, wherever its objects live.

An artifact store keeps task outputs once per distinct content, named by the sha256 of their
serialized bytes. Two places hold objects: a local folder (``ArtifactStore``, the default) and an
object store reached through fsspec (``BucketStore``: ``s3://``, ``gs://``, ``az://``). They
differ in how an object is written, listed, dated and deleted; this base holds what must not
differ between them: when a value is kept inline in the database instead of stored, how bytes
are checked against their digest *before* anything decodes them (pickle and joblib run code),
and the wording of a missing or corrupt object. A subclass supplies ``_opened`` (an object's
bytes as a file, with its size), ``where`` (how to name it to a person), and the writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from suiro.errors import ArtifactCorruptError, ArtifactError, InvalidDigestError, SerializerError
from suiro.store import serializers
from suiro.store.hashed import HashingReader

_DIGEST = re.compile(r"[0-9a-f]{64}")
FIX = "rerun the producing task, e.g. with suiro resume or --fresh"
CHANGED = "its bytes do not hash to its name: changed after writing"
#: The serializer of a file-writing task's output: a JSON record of the files, each an object.
FILES = "files"
#: Consumers' read-only copies of stored files, under a store's local ``scratch`` folder.
VIEWS = "views"


@dataclass(frozen=True)
class ArtifactMeta:
    """What the database records about one artifact.

    Attributes:
        digest: sha256 hex of the serialized bytes; the object's name in the store.
        serializer: the name ``serializers.loads`` needs to read the bytes back.
        size: length of the bytes, so a truncated object is found with one ``stat``.
        kind: the value's type, e.g. ``pandas.DataFrame``, for people and the UI.
        inline: the bytes themselves for small JSON values, which are not written to disk.
        items: for a manifest, the type and bytes of each item that is kept on its task run's
            row and so has no ``artifacts`` row (``store.outputs.manifest_items``).
    """

    digest: str
    serializer: str
    size: int
    kind: str
    inline: bytes | None = None
    items: bytes | None = None


def check_digest(digest: Any) -> str:
    """``digest`` itself when it is 64 lowercase hex, the only names that map into a store.

    Raises:
        InvalidDigestError: anything else, which might escape the store (``../../x``).
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        shown = repr(digest)[:80]
        msg = f"{shown} is not an artifact digest (64 lowercase hex); pass the sha256"
        raise InvalidDigestError(f"{msg} recorded for the artifact.", digest=shown)
    return digest


def is_digest(name: str) -> bool:
    """Whether ``name`` is a well-formed digest (for listings, which skip anything else)."""
    return _DIGEST.fullmatch(name) is not None


class ContentStore(ABC):
    """Task outputs stored once per distinct content.

    Attributes:
        root: where the objects live: a folder, or the store's URL.
        scratch: a local folder for temporary files and consumers' copies of stored files.
        inline_limit: JSON values up to this many bytes are returned inline, not stored.
    """

    root: Any
    scratch: Path
    inline_limit: int
    #: What to check when an object cannot be read, in the one sentence that says so.
    read_fix: str = "check the disk"
    #: Whether gc's deletes can hold writers off (a lock they share): a folder can, a bucket cannot.
    locks_writers: bool = True

    # ---- what a subclass supplies -------------------------------------------------------------

    @abstractmethod
    def where(self, digest: str) -> str:
        """Where object ``digest`` lives, as shown to a person (a path or a URL)."""

    @abstractmethod
    def _opened(self, digest: str) -> tuple[BinaryIO, int]:
        """Object ``digest`` open for reading, with its stored size.

        Raises:
            ArtifactMissingError: nothing is stored under the digest.
            ArtifactCorruptError: what is there is not a stored object (a link, a folder).
            ArtifactError: it cannot be read.
        """

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` under its sha256, durably, and return the digest."""

    @abstractmethod
    def _stream(self, write: Callable[[BinaryIO], str], kind: str) -> tuple[str, str, int]:
        """Store what ``write`` writes (hashed on the way); return (its result, digest, size)."""

    @abstractmethod
    def put_file(self, path: str | Path) -> tuple[str, int]:
        """Store the bytes of the file at ``path``, streamed; return (digest, size)."""

    @abstractmethod
    def has(self, digest: str, size: int | None = None) -> bool:
        """Cheap presence check (no hashing): an object of the right size is there."""

    @abstractmethod
    def claim(self, digest: str) -> bool:
        """Make the object young again, so gc keeps it; False if it is not there."""

    @abstractmethod
    def stored_at(self, digest: str) -> int | None:
        """When the object was last stored or claimed (epoch ns, never earlier than it was), or None."""

    @abstractmethod
    def stored_size(self, digest: str) -> int | None:
        """The stored object's size in bytes, or None when it is not there."""

    @abstractmethod
    def remove_older(self, digests: Iterable[str], cutoff_ns: int) -> list[tuple[str, int]]:
        """Delete each object last stored before ``cutoff_ns``; return ``(digest, size)`` of each removed."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every digest with something stored under it, sorted, valid or not."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove an object; a missing one is not an error."""

    @abstractmethod
    def quarantine(self, digest: str) -> None:
        """Move a corrupt object aside (``corrupt/``) so it is never reused, keeping it for inspection."""

    @abstractmethod
    def sweep_temp(self) -> int:
        """Remove temporary files of writers that died; return how many."""

    def check_reachable(self) -> None:
        """Raise one sentence when the store cannot be used at all (before a run starts).

        A local folder is made on first write, and a failure then names it: nothing to check.
        """
        return

    # ---- the same for every store ---------------------------------------------------------------

    def put(self, value: Any, *, serializer: str | None = None) -> ArtifactMeta:
        """Serialize ``value`` and store it, durably, before the caller records the result.

        Raises:
            SerializerError: the value cannot be serialized (with ``serializer``, if forced).
            ArtifactError: the object cannot be written (disk full, permissions, the network).
        """
        kind = serializers.kind_of(value)
        if serializers.is_inline_candidate(value, serializer):
            name, data = serializers.dumps(value, serializer)
            if name == "json" and len(data) <= self.inline_limit:
                return ArtifactMeta(hashlib.sha256(data).hexdigest(), name, len(data), kind, inline=data)
            return ArtifactMeta(self.put_bytes(data), name, len(data), kind)
        name, digest, size = self._stream(lambda file: serializers.dump(value, file, serializer), kind)
        return ArtifactMeta(digest, name, size, kind)

    def put_stream(self, write: Callable[[BinaryIO], Any]) -> tuple[str, int]:
        """Store what ``write`` writes to the file it is given (e.g. a tar); return (digest, size).

        Raises:
            ArtifactError: the object cannot be written.
        """
        _, digest, size = self._stream(lambda sink: write(sink) or "file", "file")
        return digest, size

    def get(self, meta: ArtifactMeta) -> Any:
        """Load an artifact's value, verifying its bytes first (pickle and joblib run code).

        Raises:
            ArtifactMissingError: no object is stored under the digest.
            ArtifactCorruptError: the bytes (stored or inline) do not match the digest.
            SerializerError: verified bytes cannot be decoded (e.g. a library is missing).
        """
        if meta.serializer == FILES:
            from suiro.store.files import load_files

            return load_files(self, meta)
        if meta.inline is None and meta.serializer in serializers.STREAMED:
            return self._load_streamed(meta)
        if meta.inline is None:
            data = self._read(meta.digest, meta.size)
        else:
            check_digest(meta.digest)  # same digest rules for inline artifacts
            problem = _problem(meta.inline, meta.digest, meta.size)
            if problem:
                msg = f"corrupt artifact {meta.digest} stored inline in the database ({problem}); {FIX}."
                raise ArtifactCorruptError(msg, digest=meta.digest)
            data = meta.inline
        return serializers.loads(meta.serializer, data)

    def get_bytes(self, digest: str) -> bytes:
        """Return an object's bytes after checking they hash to ``digest``.

        Raises:
            ArtifactMissingError, ArtifactCorruptError: as for ``get``.
        """
        return self._read(digest, None)

    def verify(self, digest: str) -> bool:
        """Re-hash the object in full; False when it is missing, unreadable or corrupt."""
        check_digest(digest)  # a malformed digest is a caller bug, not a missing object
        try:
            file, _ = self._opened(digest)
            with file:
                return hashlib.file_digest(file, "sha256").hexdigest() == digest
        except OSError:  # includes ArtifactError
            return False

    def copy_out(self, digest: str, size: int, target: Path) -> None:
        """Copy object ``digest`` to the local file ``target`` (temp then rename), hashing on the way.

        Raises:
            ArtifactMissingError, ArtifactCorruptError: as for ``get``; nothing is left at ``target``.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        file, _ = self._opened(digest)
        with file:
            fd, tmp = tempfile.mkstemp(prefix=".copy-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    reader = HashingReader(file)
                    shutil.copyfileobj(reader, out, 1 << 20)
                if reader.hexdigest() != digest or os.path.getsize(tmp) != size:
                    raise self.corrupt(digest, CHANGED)
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def corrupt(self, digest: str, problem: str) -> ArtifactCorruptError:
        """The error for object ``digest`` found broken (``problem`` says how)."""
        where = self.where(digest)
        msg = f"corrupt artifact {digest} at {where} ({problem}); {FIX}."
        return ArtifactCorruptError(msg, digest=digest, path=where)

    def _read_error(self, digest: str, exc: OSError) -> ArtifactError:
        where = self.where(digest)
        msg = f"cannot read artifact {digest} at {where} ({exc.strerror or exc}); {self.read_fix}, then"
        return ArtifactError(f"{msg} {FIX}.", digest=digest, path=where)

    def _load_streamed(self, meta: ArtifactMeta) -> Any:
        """Decode an object while hashing it, so its bytes are never all in memory besides the value.

        Only for formats whose decoding runs no code (``serializers.STREAMED``); the value is
        handed out only once every byte hashed to the digest. A size that differs is found first.
        """
        file, size = self._opened(meta.digest)
        with file:
            if size != meta.size:
                problem = f"{size} bytes instead of {meta.size}: truncated or overwritten"
                raise self.corrupt(meta.digest, problem)
            reader = HashingReader(file)
            try:
                try:
                    value = serializers.load(meta.serializer, reader)
                finally:
                    reader.drain()
            except ArtifactError:
                raise
            except OSError as exc:
                raise self._read_error(meta.digest, exc) from exc
            except SerializerError:
                if reader.hexdigest() != meta.digest:  # undecodable because changed: say so
                    raise self.corrupt(meta.digest, CHANGED) from None
                raise
        if reader.hexdigest() != meta.digest:
            raise self.corrupt(meta.digest, CHANGED)
        return value

    def _read(self, digest: str, size: int | None) -> bytes:
        """All of an object's bytes, verified against ``digest`` (and ``size`` when known)."""
        file, _ = self._opened(digest)
        with file:
            try:
                data = file.read()
            except ArtifactError:
                raise
            except OSError as exc:
                raise self._read_error(digest, exc) from exc
        problem = _problem(data, digest, size)
        if problem:
            raise self.corrupt(digest, problem)
        return data


def _problem(data: bytes, digest: str, size: int | None) -> str | None:
    """Why ``data`` is not the artifact ``digest`` names, or None when it is."""
    if size is not None and len(data) != size:
        return f"{len(data)} bytes instead of {size}: truncated or overwritten"
    if hashlib.sha256(data).hexdigest() != digest:
        return CHANGED
    return None

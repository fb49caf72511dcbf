"""Artifacts on object storage: the content-addressed store in a bucket, through fsspec.

``SUIRO_ARTIFACTS=s3://bucket/prefix`` (or ``gs://``, ``az://``, any fsspec URL whose library is
installed) keeps objects at ``<prefix>/objects/ab/cdef...``, so runners and workers on different
machines share outputs with no shared folder. The guarantees are the local store's, built on what
an object store offers instead of rename and fsync:

- never half-visible: an object appears only when its upload completes (a PUT, or a multipart
  upload's completion, is atomic); the bytes are spooled and hashed locally first, so the key is
  known before anything is sent;
- verified before decoding: every read re-hashes, as locally (``ContentStore``);
- a write is a PUT every time, also when the object is already there: it repairs an object
  changed in the bucket, and it dates the object now, which is what keeps gc off it (a bucket
  has no lock to share, so ``suiro gc`` refuses while a run is in progress, see ``suiro.store.gc``).

Credentials and endpoints are the library's own settings (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ``~/.aws``...): suiro adds none of its own. Temporary spool files and the
consumers' copies of stored files live in a local ``scratch`` folder of each machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from suiro.errors import ArtifactError, ArtifactMissingError, ArtifactStoreError
from suiro.faults import fault
from suiro.store.artifacts import sweep_dead_writers
from suiro.store.content import ContentStore, check_digest, is_digest
from suiro.store.hashed import HashingWriter

#: Object stores date objects to the second: a time read back may be up to this much earlier
#: than the write, so gc adds it before comparing (an object is never judged older than it is).
_DATE_GRAIN_NS = 1_000_000_000


class BucketStore(ContentStore):
    """Task outputs stored once per distinct content under an object-store URL.

    Args:
        url: the store's location, e.g. ``s3://bucket/suiro``.
        inline_limit: JSON values up to this many bytes are returned inline, not stored.
        scratch: a local folder for spool files and consumers' copies (default: one per URL
            under the system's temporary folder, the same for every process of this machine).

    Raises:
        ArtifactStoreError: the URL's scheme is unknown or its library is not installed.
    """

    locks_writers = False
    read_fix = "check the credentials and the network"

    def __init__(self, url: str, *, inline_limit: int = 16_384, scratch: str | Path | None = None):
        scheme, _, rest = url.partition("://")
        if not rest.strip("/"):  # "s3://": fsspec would take "s3:" for a local folder of that name
            raise ArtifactStoreError(
                f"SUIRO_ARTIFACTS={url} names no bucket; set it to {scheme}://BUCKET/PREFIX "
                f"(e.g. {scheme}://my-bucket/suiro).",
                path=url,
            )
        self.root = f"{scheme}://{rest.rstrip('/')}"
        self.inline_limit = inline_limit
        self.scratch = Path(scratch) if scratch is not None else _default_scratch(self.root)
        self._fs, self._base = _connect(self.root)
        self._pid = os.getpid()

    @property
    def fs(self) -> Any:
        """The fsspec file system, made again in a forked child (async clients do not survive a fork)."""
        if self._pid != os.getpid():
            self._fs, self._base = _connect(self.root)
            self._pid = os.getpid()
        return self._fs

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "inline_limit": self.inline_limit, "scratch": self.scratch}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], inline_limit=state["inline_limit"], scratch=state["scratch"])

    # ---- names ------------------------------------------------------------------------------

    def key(self, digest: str) -> str:
        """The object's key in the file system (no scheme)."""
        check_digest(digest)
        return f"{self._base}/objects/{digest[:2]}/{digest[2:]}"

    def where(self, digest: str) -> str:
        return f"{self.root}/objects/{digest[:2]}/{digest[2:]}"

    def check_reachable(self) -> None:
        """One sentence when the bucket does not exist, refuses the credentials or cannot be reached.

        Raises:
            ArtifactStoreError: naming the bucket and what to do.
        """
        bucket = self._base.split("/", 1)[0]
        try:
            self.fs.info(bucket)
        except FileNotFoundError as exc:
            raise ArtifactStoreError(
                f"the artifact store {self.root} cannot be used: its bucket {bucket!r} does not exist; "
                "create it, or set SUIRO_ARTIFACTS to a bucket that exists.",
                path=self.root,
            ) from exc
        except PermissionError as exc:
            raise ArtifactStoreError(
                f"the artifact store {self.root} refused the credentials ({_reason(exc)}); set the "
                "storage's credentials (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) for a user "
                f"that may read and write {bucket!r}.",
                path=self.root,
            ) from exc
        except Exception as exc:
            if type(exc).__name__ in _NO_CREDENTIALS:  # found none: not the network's fault
                raise ArtifactStoreError(
                    f"the artifact store {self.root} has no credentials to use ({_reason(exc)}); set the "
                    "storage's credentials (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                    f"~/.aws/credentials) for a user that may read and write {bucket!r}.",
                    path=self.root,
                ) from exc
            raise ArtifactStoreError(
                f"the artifact store {self.root} cannot be reached ({_reason(exc)}); check the URL, the "
                "endpoint (e.g. AWS_ENDPOINT_URL) and the network.",
                path=self.root,
            ) from exc

    # ---- writes -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` under its sha256 (one PUT, also when it is there: see the module)."""
        digest = hashlib.sha256(data).hexdigest()
        self._upload(digest, lambda key: self.fs.pipe_file(key, data))
        return digest

    def put_file(self, path: str | Path) -> tuple[str, int]:
        """Hash the file at ``path``, then upload it from where it is (no copy)."""
        try:
            with open(path, "rb") as source:
                digest = hashlib.file_digest(source, "sha256").hexdigest()
                size = os.fstat(source.fileno()).st_size
        except OSError as exc:
            msg = f"cannot read the file {path} to store it ({exc.strerror or exc}); check it exists"
            raise ArtifactError(f"{msg} and is readable, then rerun the task.", path=str(path)) from exc
        self._upload(digest, lambda key: self.fs.put_file(str(path), key))
        return digest, size

    def _stream(self, write: Callable[[BinaryIO], str], kind: str) -> tuple[str, str, int]:
        """Spool what ``write`` writes to a local file, hashing it; then upload it under its digest."""
        spool = self.scratch / "tmp"
        try:
            spool.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".tmp", dir=spool)
        except OSError as exc:
            msg = f"cannot write a temporary file for a {kind} under {spool} ({exc.strerror or exc}); free"
            raise ArtifactError(f"{msg} disk space there, then rerun the task.", path=str(spool)) from exc
        try:
            with os.fdopen(fd, "wb") as file:
                sink = HashingWriter(file)
                name = write(sink)
                digest, size = sink.hexdigest(), sink.size
            fault("artifact.tmp_written")
            self._upload(digest, lambda key: self.fs.put_file(tmp, key))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return name, digest, size

    def _upload(self, digest: str, send: Callable[[str], Any]) -> None:
        key = self.key(digest)
        try:
            send(key)
        except Exception as exc:
            fix = "check the bucket, the credentials and the network"
            raise self._failed("write", digest, exc, fix) from exc
        fault("artifact.renamed")

    def claim(self, digest: str) -> bool:
        """Date the object now (a copy onto itself, done by the store's server), or False if absent."""
        key = self.key(digest)
        try:
            if not self.fs.exists(key):
                return False
            setxattr = getattr(self.fs, "setxattr", None)
            if setxattr is not None:  # S3, GCS: a server-side copy with new metadata
                setxattr(key, suiro_claimed=str(time.time_ns()))
            else:
                self.fs.pipe_file(key, self.fs.cat_file(key))
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._failed("date", digest, exc, "check the credentials allow writing the bucket") from exc
        self.fs.invalidate_cache(key)
        return True

    def remove_older(self, digests: Iterable[str], cutoff_ns: int) -> list[tuple[str, int]]:
        """Delete each object dated before ``cutoff_ns`` (a bucket has no lock: see ``suiro.store.gc``)."""
        removed = []
        for digest in digests:
            info = self._info(digest)
            if info is None or _dated(info) >= cutoff_ns:
                continue
            self.delete(digest)
            removed.append((digest, int(info.get("size") or 0)))
        return removed

    def delete(self, digest: str) -> None:
        key = self.key(digest)
        try:
            self.fs.rm_file(key)
        except FileNotFoundError:
            pass
        except Exception as exc:
            fix = "check the credentials allow deleting in the bucket"
            raise self._failed("delete", digest, exc, fix) from exc
        self.fs.invalidate_cache(key)

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object to ``<prefix>/corrupt/``, keeping it for inspection."""
        with contextlib.suppress(Exception):
            self.fs.mv(self.key(digest), f"{self._base}/corrupt/{digest}")
            self.fs.invalidate_cache()

    def sweep_temp(self) -> int:
        """Remove spool files of this machine's writers that died (uploads themselves are atomic)."""
        return sweep_dead_writers(self.scratch / "tmp")

    # ---- reads ------------------------------------------------------------------------------

    def has(self, digest: str, size: int | None = None) -> bool:
        info = self._info(digest)
        return info is not None and info.get("type") == "file" and (size is None or info.get("size") == size)

    def stored_at(self, digest: str) -> int | None:
        info = self._info(digest)
        return None if info is None else _dated(info)

    def stored_size(self, digest: str) -> int | None:
        info = self._info(digest)
        return None if info is None else int(info.get("size") or 0)

    def iter_digests(self) -> Iterator[str]:
        prefix = f"{self._base}/objects/"
        try:
            self.fs.invalidate_cache()
            keys = self.fs.find(prefix)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise ArtifactError(
                f"cannot list the artifact store {self.root} ({_reason(exc)}); check the credentials "
                "allow listing the bucket.",
                path=self.root,
            ) from exc
        names = sorted(key[len(prefix) :].replace("/", "", 1) for key in keys if key.startswith(prefix))
        yield from (name for name in names if is_digest(name))

    def _opened(self, digest: str) -> tuple[BinaryIO, int]:
        key = self.key(digest)
        try:
            file = self.fs.open(key, "rb", block_size=1 << 22, cache_type="readahead")
        except FileNotFoundError as exc:
            msg = f"missing artifact {digest}: nothing at {self.where(digest)}; rerun the producing task"
            raise ArtifactMissingError(f"{msg}, e.g. with suiro resume or --fresh.", digest=digest) from exc
        except Exception as exc:
            raise self._read_error(digest, _as_os_error(exc)) from exc
        return file, int(file.size)

    def _failed(self, doing: str, digest: str, exc: BaseException, fix: str) -> ArtifactError:
        """The one sentence for an object the store's server would not ``doing`` (write, date, delete)."""
        where = self.where(digest)
        msg = f"cannot {doing} artifact {digest} at {where} ({_reason(exc)}); {fix}, then rerun the task."
        return ArtifactError(msg, digest=digest, path=where)

    def _info(self, digest: str) -> dict[str, Any] | None:
        key = self.key(digest)
        try:
            self.fs.invalidate_cache(key)
            return self.fs.info(key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._read_error(digest, _as_os_error(exc)) from exc


#: What botocore raises when it finds no credentials, or half of them (named: botocore is not
#: imported here, and other libraries' equivalents fall to the general message).
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")

#: Where fsspec libraries put an object's last write: s3fs, local, gcsfs, adlfs.
_DATE_KEYS = ("LastModified", "mtime", "updated", "last_modified")


def _dated(info: dict[str, Any]) -> int:
    """When an object was last written, in epoch ns, rounded up to the store's grain."""
    modified = next((info[k] for k in _DATE_KEYS if info.get(k)), None)
    if modified is None:
        return time.time_ns()  # undated: treated as new, so gc keeps it
    if isinstance(modified, int | float):
        return int(modified * 1e9) + _DATE_GRAIN_NS
    if isinstance(modified, str):
        from datetime import datetime

        modified = datetime.fromisoformat(modified.replace("Z", "+00:00"))
    return int(modified.timestamp() * 1e9) + _DATE_GRAIN_NS


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _as_os_error(exc: Exception) -> OSError:
    return exc if isinstance(exc, OSError) else OSError(_reason(exc))


def _default_scratch(url: str) -> Path:
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"suiro-{os.getuid()}" / name


def _connect(url: str) -> tuple[Any, str]:
    """The fsspec file system and the path within it for ``url``.

    Raises:
        ArtifactStoreError: fsspec, or the library for the URL's scheme, is missing, or the scheme is unknown.
    """
    scheme = url.split("://", 1)[0]
    try:
        import fsspec
    except ImportError as exc:
        raise ArtifactStoreError(
            f"SUIRO_ARTIFACTS={url} needs fsspec; install it with pip install 'suiro[s3]'.", path=url
        ) from exc
    try:
        fs, path = fsspec.core.url_to_fs(url, use_listings_cache=False)
    except ImportError as exc:
        library = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
        package = library.get(scheme, "the fsspec library for it")
        hint = "pip install 'suiro[s3]'" if package == "s3fs" else f"pip install {package}"
        raise ArtifactStoreError(
            f"SUIRO_ARTIFACTS={url} needs {package} to reach {scheme}:// storage; install it ({hint}).",
            path=url,
        ) from exc
    except ValueError as exc:
        raise ArtifactStoreError(
            f"SUIRO_ARTIFACTS={url} has a scheme fsspec does not know ({scheme}://); use a folder, "
            "s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.",
            path=url,
        ) from exc
    return fs, path.rstrip("/")

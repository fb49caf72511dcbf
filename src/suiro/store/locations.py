"""Where a home's artifacts live: ``$SUIRO_ARTIFACTS``, else the folder ``<home>/artifacts``.

The one place that turns a location into a store, so the runner, its workers (which get the
location as text, not the store), ``suiro check``/``gc`` and the compiled targets' entry point
agree. A location with a scheme (``s3://bucket/prefix``) is an object store through fsspec
(``BucketStore``); a path, or a ``file://`` URL, is a local folder (``ArtifactStore``), which may
itself be shared (e.g. an NFS mount every Dask worker sees).
"""

from __future__ import annotations

import os
from pathlib import Path

from suiro.store.artifacts import ArtifactStore
from suiro.store.content import ContentStore

#: The setting that moves a home's artifacts elsewhere (a folder or an fsspec URL).
ENV = "SUIRO_ARTIFACTS"
#: JSON values up to this many bytes are kept inline in the database instead of stored.
INLINE_LIMIT = 16_384


def artifacts_location(home: str | Path) -> str:
    """``$SUIRO_ARTIFACTS`` if set, else ``<home>/artifacts``."""
    return os.environ.get(ENV) or str(Path(home) / "artifacts")


def is_remote(location: str) -> bool:
    """Whether ``location`` names an object store rather than a local folder."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme not in ("file", "local")


def open_artifacts(location: str | Path, *, inline_limit: int = INLINE_LIMIT) -> ContentStore:
    """The artifact store at ``location`` (a folder, ``file://`` URL or object-store URL).

    Raises:
        ArtifactStoreError: an object-store URL whose scheme or library is unknown.
    """
    text = str(location)
    if not is_remote(text):
        return ArtifactStore(text.partition("://")[2] if "://" in text else text, inline_limit=inline_limit)
    from suiro.store.bucket import BucketStore

    return BucketStore(text, inline_limit=inline_limit)

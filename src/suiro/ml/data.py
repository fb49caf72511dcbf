"""Collect: load a dataset as a DataFrame from a source string.

Owns the source schemes (``sklearn:``, ``csv:``, ``parquet:``, ``sql:``) and turning each
into a frame. Never downloads: only scikit-learn's bundled datasets are offered, so a
pipeline runs offline and gives the same data every time. Must not validate or transform
the data (that is ``validation`` and ``features``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from suiro.errors import DataSourceError, SourceUnavailableError, did_you_mean
from suiro.task import task

#: Bundled scikit-learn datasets (shipped inside the wheel, nothing is downloaded).
SKLEARN_DATASETS: tuple[str, ...] = ("breast_cancer", "diabetes", "digits", "iris", "wine")
SCHEMES: tuple[str, ...] = ("csv", "parquet", "sklearn", "sql")
_SOURCE_FORMS = "sklearn:NAME, csv:PATH (or *.csv), parquet:PATH (or *.parquet), sql:URL::QUERY"


def _source_key(source: str, target: str | None = None) -> str:
    """``load_dataset``'s cache key: what its frame depends on, which the source's text is not.

    A file is keyed by its bytes (the same path, edited or replaced, is other data: keyed by its
    text, the first frame read from it was reused for ever); a query's answer can change at any
    time, so an ``sql:`` source is never reused; a bundled dataset by its name.
    """
    try:
        scheme, rest = _parse(source)
    except DataSourceError:
        return f"unknown source {source!r}"  # the task itself says what is wrong
    if scheme == "sql":
        return f"sql, read at {uuid.uuid4().hex}"
    if scheme == "sklearn":
        return repr((scheme, rest, target))
    try:
        with open(Path(rest).expanduser(), "rb") as file:
            content = hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return f"unreadable {source!r} at {uuid.uuid4().hex}"  # the task says why it cannot read it
    return repr((scheme, content, target))


@task(retries=3, retry_delay=1.0, backoff=2.0, retry_on=(ConnectionError, OSError), cache_key=_source_key)
def load_dataset(source: str, target: str | None = None) -> pd.DataFrame:
    """Load a dataset as one DataFrame, features and target side by side.

    One string names the data so it can be a pipeline parameter, set from YAML or
    ``--set``. Connection and I/O errors are retried with backoff (1 s, 2 s, 4 s), since
    databases and network file systems fail transiently; a wrong name or path is not.

    Args:
        source: ``sklearn:NAME`` (one of ``SKLEARN_DATASETS``; its label column is
            ``target``), ``csv:PATH`` or a path ending ``.csv``, ``parquet:PATH`` or a path
            ending ``.parquet``/``.pq``, or ``sql:SQLALCHEMY_URL::QUERY``.
        target: the label column. For sklearn datasets the label column is renamed to it;
            for other sources it must exist.

    Returns:
        The frame, with a fresh ``RangeIndex``.

    Raises:
        DataSourceError: unknown scheme or dataset, missing file, failing query, or no
            ``target`` column.
        SourceUnavailableError: the database could not be reached (retried).
    """
    scheme, rest = _parse(source)
    frame = _LOADERS[scheme](rest, source)
    if scheme == "sklearn":
        if target is not None and target != "target":
            frame = frame.rename(columns={"target": target})
    elif target is not None and target not in frame.columns:
        columns = [str(c) for c in frame.columns]
        raise DataSourceError(
            f"source {source!r} has no target column {target!r}{did_you_mean(target, columns)}; "
            f"its columns are {', '.join(columns)}.",
            source=source,
        )
    return frame.reset_index(drop=True)


def _parse(source: str) -> tuple[str, str]:
    """Split ``scheme:rest``; bare ``.csv``/``.parquet`` paths get their scheme from the suffix."""
    if not isinstance(source, str) or not source:
        raise DataSourceError(f"a dataset source must be a non-empty string like {_SOURCE_FORMS}.")
    scheme, sep, rest = source.partition(":")
    if sep and scheme in SCHEMES:
        return scheme, rest
    suffix = Path(source).suffix.lower()
    if suffix == ".csv":
        return "csv", source
    if suffix in (".parquet", ".pq"):
        return "parquet", source
    raise DataSourceError(
        f"unknown dataset source {source!r}{did_you_mean(scheme, SCHEMES) if sep else ''}; "
        f"use one of {_SOURCE_FORMS}.",
        source=source,
    )


def _load_sklearn(name: str, source: str) -> pd.DataFrame:
    from sklearn import datasets

    if name not in SKLEARN_DATASETS:
        raise DataSourceError(
            f"unknown sklearn dataset {name!r}{did_you_mean(name, SKLEARN_DATASETS)}; "
            f"the bundled ones are {', '.join(SKLEARN_DATASETS)}.",
            source=source,
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame


def _existing(path: str, source: str) -> Path:
    """The file as a Path, or a DataSourceError (not an OSError: a missing file is not retried)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataSourceError(
            f"dataset file {str(file)!r} (from source {source!r}) does not exist; check the path.",
            source=source,
        )
    return file


def _load_csv(path: str, source: str) -> pd.DataFrame:
    return pd.read_csv(_existing(path, source))


def _load_parquet(path: str, source: str) -> pd.DataFrame:
    return pd.read_parquet(_existing(path, source))


def _load_sql(rest: str, source: str) -> pd.DataFrame:
    """``URL::QUERY`` through SQLAlchemy; connecting errors are retryable, query errors are not."""
    import sqlalchemy as sa

    url, query = _split_sql(rest, source)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataSourceError(
            f"cannot use database URL {_redacted(url)!r} of an sql source ({exc}); "
            "fix the URL or install its database driver.",
            source=source,
        ) from exc
    try:
        try:
            connection = engine.connect()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"cannot connect to the database of source {_redacted(url)!r} ({exc.orig}); "
                "check the URL and that the database is up.",
                source=source,
            ) from exc
        with connection:
            try:
                return pd.read_sql(sa.text(query), connection)
            except (sa.exc.DBAPIError, pd.errors.DatabaseError) as exc:
                raise _query_error(exc, query, url, source) from exc
    finally:
        engine.dispose()


def _query_error(exc: Exception, query: str, url: str, source: str) -> Exception:
    """A failed query as a retryable error if the connection dropped, else a DataSourceError."""
    import sqlalchemy as sa

    # pandas wraps SQLAlchemy's error in its own DatabaseError; the cause says what happened.
    cause = exc if isinstance(exc, sa.exc.DBAPIError) else exc.__cause__
    reason = cause.orig if isinstance(cause, sa.exc.DBAPIError) else exc
    if isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated:
        return SourceUnavailableError(
            f"the database of source {_redacted(url)!r} dropped the connection ({reason}); it is retried.",
            source=source,
        )
    return DataSourceError(
        f"query {query!r} failed on {_redacted(url)!r} ({reason}); fix the query.", source=source
    )


def _split_sql(rest: str, source: str) -> tuple[str, str]:
    # The first "::" after any bracketed IPv6 host separates URL and query (queries may hold "::").
    start = rest.find("]") + 1 if "[" in rest.split("::", 1)[0] else 0
    cut = rest.find("::", start)
    url, query = (rest[:cut].strip(), rest[cut + 2 :].strip()) if cut >= 0 else (rest, "")
    if not url or not query:
        raise DataSourceError(
            f"sql source {_redacted(rest)!r} needs a URL and a query: sql:URL::QUERY, "
            "e.g. sql:sqlite:///data.db::<your query>.",
            source=source,
        )
    return url, query


def _redacted(url: str) -> str:
    """The URL with any password masked, for error messages."""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a parsable URL: nothing to hide, show it as given
        return url


_LOADERS: dict[str, Callable[[str, str], pd.DataFrame]] = {
    "sklearn": _load_sklearn,
    "csv": _load_csv,
    "parquet": _load_parquet,
    "sql": _load_sql,
}

"""A look at a stored value without loading what it would need: for previews in the web UI.

``serializers.loads`` gives the value back whole, importing what its format needs (pandas for a
Parquet DataFrame, whatever module a pickled object names). A page that only shows the first
rows must not pull pandas (~100 MB) or a task's own modules into a long-running server, so:

- ``parquet_head`` reads a Parquet file's first rows, its column names and row count with
  pyarrow alone (no pandas, no DataFrame);
- ``plain_pickle`` unpickles only builtin values (dict, list, tuple, set, str, numbers, bytes,
  None): any other type named in the bytes is refused before it is imported, so no module is
  imported and no ``__reduce__`` runs.

Both take bytes the caller has already checked against their digest (``ArtifactStore.get_bytes``).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from suiro.errors import SerializerError

#: The only globals ``plain_pickle`` resolves (what pickling builtin values can name).
_PLAIN = frozenset(
    {
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "str",
        "bytes",
        "bytearray",
        "int",
        "float",
        "complex",
        "bool",
    }
)
#: A Parquet column pandas adds for a DataFrame's index.
_INDEX = "__index_level_"


def parquet_head(data: bytes, rows: int) -> dict[str, Any]:
    """``{"columns", "rows", "shape"}`` of a Parquet file's first ``rows`` rows (values as read)."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        columns = [c for c in parquet.schema_arrow.names if not c.startswith(_INDEX)]
        batch = next(parquet.iter_batches(batch_size=rows, columns=columns), None)
    except Exception as exc:  # pyarrow's own errors: the bytes are not the Parquet they claim
        raise SerializerError(f"cannot read the Parquet output ({type(exc).__name__}: {exc}).") from exc
    head = batch.to_pylist() if batch is not None else []
    return {
        "columns": columns,
        "rows": [[row[c] for c in columns] for row in head],
        "shape": [parquet.metadata.num_rows, len(columns)],
    }


def plain_pickle(data: bytes) -> Any:
    """The value pickled in ``data`` if it is made of builtin values only.

    Raises:
        SerializerError: the bytes name another type (the value is not loaded) or are not a pickle.
    """
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except SerializerError:
        raise
    except Exception as exc:  # a damaged pickle: whatever the unpickler raises
        raise SerializerError(f"cannot read the pickled output ({type(exc).__name__}).") from exc


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _PLAIN:
            return super().find_class(module, name)
        raise SerializerError(f"it holds a {module}.{name}, which the UI does not load")

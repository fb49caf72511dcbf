"""Section 3.1, listing "MLパイプライン設計の5つの原則" (five principles of pipeline design), ported.

The listing shows five separate helper functions. Here they are one small pipeline, and suiro
supplies each principle instead of the function having to:

1. Idempotency: a task returns its result instead of overwriting a file; suiro stores it
   content-addressed, so the same inputs always give the same stored output.
2. Rerunnability: no ``force=`` flag. A second run is all cache hits; ``--fresh`` recomputes.
3. Loose coupling: each task takes only the values it needs.
4. Parameterization: ``batch_id`` and ``scale`` are pipeline parameters (``--set``, ``-c``).
5. Observability: ``get_logger()`` lines are kept per attempt (``suiro logs last process_batch``),
   ``log_metric`` values by ``suiro metrics last``, and a failure is recorded with its error.

    suiro run examples/chapter/01_design_principles.py --set batch_id=7
"""

from __future__ import annotations

from suiro import get_logger, log_metric, pipeline, task


@task
def load_batch(batch_id: int, size: int) -> list[int]:
    """The same batch id always yields the same rows (principle 1)."""
    return [batch_id * 1000 + i for i in range(size)]


@task
def extract_features(rows: list[int], scale: float) -> list[float]:
    """Depends on its input only, not on what ran before (principle 3)."""
    return [row * scale for row in rows]


@task
def process_batch(batch_id: int, features: list[float]) -> dict:
    """Logs its start and end; an exception is recorded with the attempt (principle 5)."""
    log = get_logger()
    log.info("batch %d: processing started", batch_id)
    total = sum(features)
    log_metric("batch_total", total)
    log.info("batch %d: succeeded, %d rows", batch_id, len(features))
    return {"batch_id": batch_id, "rows": len(features), "total": total}


@pipeline
def design_principles(batch_id: int = 1, size: int = 10, scale: float = 0.5):
    """Five design principles, each carried by suiro rather than by hand-written code."""
    rows = load_batch(batch_id, size)
    return process_batch(batch_id, extract_features(rows, scale))

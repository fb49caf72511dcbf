"""Section 3.5, listing "堅牢なエラーハンドリング" (robust error handling), ported.

The listing hand-writes a retry decorator with exponential backoff, a ``safe_task_execution``
wrapper, and a loop that stops at a failed *critical* task but carries on past others. In suiro:

- The decorator is ``@task(retries=..., retry_delay=..., backoff=...)``; every attempt, its
  error and its log are recorded (``suiro show last``, ``suiro logs last fetch_data --attempt 1``).
- A failed critical task (``validate_data``, ``train_model``) stops what depends on it: those
  tasks are recorded ``upstream_failed`` and do not run.
- A non-critical task (``enrich``) has ``allow_failure=True``: its failure is recorded and shown
  (``failed (tolerated)``) and the run still succeeds, as the listing's loop carries on past it.
  ``summarize`` has ``trigger_rule="all_done"``, so it runs whatever its inputs did and gets
  ``None`` for a failed one, listing the failures as the listing's summary does.
- Delays are 0.05 s (not 5 s) so the example runs in a second.

    suiro run examples/chapter/13_error_handling.py --set fail_enrich=true; suiro show last
"""

from __future__ import annotations

from suiro import context, get_logger, pipeline, task


@task(retries=3, retry_delay=0.05, backoff=2.0, retry_on=(ConnectionError,))
def fetch_data(failures: int) -> list[int]:
    """Fails its first ``failures`` attempts, as a flaky API would."""
    attempt = context().attempt
    if attempt <= failures:
        raise ConnectionError(f"API did not answer (simulated, attempt {attempt})")
    get_logger().info("fetched on attempt %d", attempt)
    return list(range(100))


@task
def validate_data(rows: list[int]) -> list[int]:
    if len(rows) < 10:
        raise ValueError(f"only {len(rows)} rows; need at least 10")
    return rows


@task
def train_model(rows: list[int]) -> float:
    return sum(rows) / len(rows)


@task(allow_failure=True)
def enrich(rows: list[int], fail: bool) -> int:
    """Non-critical: nice to have, not worth stopping the pipeline for."""
    if fail:
        raise RuntimeError("enrichment service is down (simulated)")
    return len(rows)


@task(trigger_rule="all_done")
def summarize(model: float | None, enriched: int | None) -> dict:
    failed = sorted(
        name for name, value in {"train_model": model, "enrich": enriched}.items() if value is None
    )
    for name in failed:
        get_logger().warning("failed task: %s", name)
    return {"model": model, "enriched": enriched, "failed": failed}


@pipeline
def error_handling(failures: int = 2, fail_enrich: bool = False):
    rows = validate_data(fetch_data(failures))
    return summarize(train_model(rows), enrich(rows, fail_enrich))

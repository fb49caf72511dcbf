"""Exercise 5 (問題5), retries with exponential backoff for chosen exceptions only, ported.

The answer writes a ``retry_with_backoff`` decorator: at most 3 retries, delays doubling from
1 s, only ``ValueError``/``ConnectionError`` retried, every retry logged. In suiro that is
``@task(retries=3, retry_delay=..., backoff=2.0, retry_on=(ValueError, ConnectionError))``;
each attempt is recorded with its error (``suiro show last``), its log kept
(``suiro logs last flaky --attempt 1``). The answer's three tests are three tasks:

- ``flaky`` fails twice with ``ValueError`` and succeeds on attempt 3;
- ``always_fails`` fails every attempt: 1 + 3 retries, then it is recorded ``failed``;
- ``not_retryable`` raises ``RuntimeError``, not in ``retry_on``: one attempt, no retry.

``summary`` (``trigger_rule="all_done"``) runs after all three. What differs: the delays start
at 0.05 s, not 1 s, so the example runs in a second; the run ends ``failed`` because two tasks
failed (on purpose), as the answer's tests end in caught exceptions.

    suiro run examples/chapter/20_exercise5_retry_backoff.py; suiro show last
"""

from __future__ import annotations

from suiro import context, get_logger, pipeline, task

RETRY = {"retries": 3, "retry_delay": 0.05, "backoff": 2.0, "retry_on": (ValueError, ConnectionError)}


@task(**RETRY)
def flaky(failures: int) -> str:
    attempt = context().attempt
    get_logger().info("attempt %d", attempt)
    if attempt <= failures:
        raise ValueError(f"failed (attempt {attempt})")
    return f"succeeded on attempt {attempt}"


@task(**RETRY)
def always_fails() -> str:
    raise ValueError("always fails")


@task(**RETRY)
def not_retryable() -> str:
    raise RuntimeError("an error not worth retrying")


@task(trigger_rule="all_done")
def summary(first: str | None, second: str | None, third: str | None) -> dict:
    return {"flaky": first, "always_fails": second, "not_retryable": third}


@pipeline
def retry_backoff(failures: int = 2):
    return summary(flaky(failures), always_fails(), not_retryable())

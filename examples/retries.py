"""A flaky source retried with exponential backoff, but only for the errors worth retrying.

The first two attempts fail with ConnectionError (retried after 0.2 s, then 0.4 s);
a ValueError would fail at once. Run it and look at the attempts:

    suiro run examples/retries.py && suiro show last && suiro logs last fetch
"""

from __future__ import annotations

from suiro import context, get_logger, pipeline, task


@task(retries=4, retry_delay=0.2, backoff=2.0, max_delay=5.0, retry_on=(ConnectionError, TimeoutError))
def fetch(url: str, failures: int) -> dict:
    attempt = context().attempt
    get_logger().info("attempt %d to fetch %s", attempt, url)
    if attempt <= failures:
        raise ConnectionError(f"{url} did not answer (simulated, attempt {attempt})")
    if not url.startswith("https://"):
        raise ValueError(f"{url} is not an https URL; retrying would not help")
    return {"url": url, "rows": 42, "attempts": attempt}


@task
def count(payload: dict) -> int:
    return payload["rows"]


@pipeline
def retries(url: str = "https://example.invalid/data.csv", failures: int = 2):
    return count(fetch(url, failures))

"""Small pipelines for the compile targets: params of each type, a map, guards, a frame, rules.

``small`` has everything a compiled spec must carry (a mapped task, a DataFrame output, a guard
on an expression, a ``none_failed`` task reading a guarded one, retries with backoff, resources);
``gated`` keeps its guarded tasks to themselves, so KFP can hold them in ``dsl.If`` blocks;
``one_of`` has a ``one_success`` task, which KFP cannot express.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from suiro import pipeline, task, when


@task
def numbers(n: int) -> list[int]:
    return list(range(1, n + 1))


@task(retries=2, retry_delay=1.0, backoff=2.0, max_delay=10.0, resources={"cpu": "1", "memory": "1G"})
def square(x: int) -> int:
    return x * x


@task
def frame(values: list[int], scale: float) -> pd.DataFrame:
    return pd.DataFrame({"v": [v * scale for v in values]})


@task(cache=False)
def total(df: pd.DataFrame) -> float:
    return float(df["v"].sum())


@task
def big(t: float, label: str) -> str:
    return f"{label}: {t}"


@task
def small_(t: float) -> str:
    return f"small: {t}"


@task(trigger_rule="none_failed")
def summary(t: float, big_note: str | None, small_note: str | None, flag: bool) -> dict[str, Any]:
    return {"total": t, "note": small_note or big_note, "flag": flag}  # a wrongly run small_ shows


@pipeline
def small(n: int = 3, scale: float = 1.5, label: str = "big", limit: int = 10, flag: bool = True):
    sq = square.map(numbers(n))
    t = total(frame(sq, scale))
    with when(t > limit):
        b = big(t, label)
    with when(~(t > limit)):
        s = small_(t)
    return summary(t, b, s, flag)


@task(resources={"gpu": 1, "gpu_type": "NVIDIA_TESLA_T4"})
def fit(n: int) -> int:
    return n + 1


@pipeline
def gated(n: int = 3, limit: int = 2):
    t = fit(n)
    with when(t > limit):
        b = big(t, "over")
        out = small_(t) >> big(t, b)
    with when(~(t > limit)):
        small_(t)
    return out


@task(trigger_rule="one_success")
def either(a: str | None, b: str | None) -> str:
    return a or b or ""


@pipeline
def one_of(n: int = 3):
    t = fit(n)
    with when(t > 2):
        b = big(t, "x")
    return either(b, small_(t))


@task
def boom(n: int) -> int:
    if n > 0:
        raise ValueError(f"boom {n}")
    return n


@task(trigger_rule="all_done")
def cleanup(x: int | None, marker: str) -> str:
    from pathlib import Path

    Path(marker).write_text(f"cleaned after {x}")
    return "cleaned"


@pipeline
def cleaning(n: int = 1, marker: str = "cleaned.txt"):
    return cleanup(boom(n), marker)


@task
def join(a: str, b: str) -> str:
    return a + b


@pipeline
def crossed(n: int = 3):
    t = fit(n)
    with when(t > 2):
        x = big(t, "x")
    with when(t > 3):
        y = small_(t)
    return join(x, y)  # guarded by both: KFP blocks nest, so one of the guards is decided in the task


@task
def whoami(n: int) -> str:
    from suiro import context

    return f"{context().run_id} {n}"


@task
def again(first: str) -> str:
    from suiro import context

    return f"{first} | {context().run_id}"


@pipeline
def identity(n: int = 1):
    return again(whoami(n))


@task(timeout=0.2)
def sleepy(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@pipeline
def slow(seconds: float = 0.0):
    return sleepy(seconds)


@task(trigger_rule="all_done")
def tally(squares: list[int] | None) -> int:
    return sum(squares or [])


@pipeline
def gather_all(n: int = 3):
    return tally(square.map(numbers(n)))  # all_done over a map: Airflow would see failed items missing


@pipeline(schedule={"cron": "0 6 * * 1-5", "timezone": "Asia/Tokyo"}, tags=["nightly"], owner="ml-team")
def weekdays(n: int = 2):
    return fit(n)


@pipeline(schedule="every 6h")
def needs_n(n: int):
    return fit(n)

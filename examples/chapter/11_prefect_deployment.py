"""Section 3.4, listing "Prefect Cloud統合とデプロイメント" (a deployment every six hours), ported.

The listing builds a deployment of ``production_ml_pipeline`` with
``IntervalSchedule(interval=timedelta(hours=6))``, a work queue, tags and a description, then
logs in to Prefect Cloud, applies it and starts an agent. In suiro the deployment is kept in the
local database and ``suiro scheduler`` starts its runs on this machine. Four ways to declare it,
each checked whole before anything is saved (the pipeline loads, the parameters fit, the
schedule parses):

    suiro deploy examples/chapter/11_prefect_deployment.py     # its @pipeline(schedule=...): a
                                                               # deployment named production_ml_pipeline
    suiro deploy examples/chapter/11_prefect_deployment.py:production_ml_pipeline \\
        --name production --every 6h                           # `prefect deployment build ... -n production`
    suiro deploy --file examples/chapter/11_suiro.yaml         # prefect.yaml's form (with 10's deployment)
    python examples/chapter/11_prefect_deployment.py           # Python: the listing's deployment.apply()

then ``suiro deployments`` (the next three fire times of each), ``suiro schedule preview
production-deployment --next 8`` (in its zone and in UTC) and ``suiro scheduler`` (the agent; see
docs/scheduling.md). What differs:

- ``IntervalSchedule(interval=timedelta(hours=6))`` is ``schedule={"every": timedelta(hours=6)}``
  (``"every 6h"`` as text, ``every: 6h`` in suiro.yaml). Ticks are ``anchor + k * 6h``, the
  anchor being midnight UTC unless ``anchor:`` (Prefect's ``anchor_date``) says otherwise: 00:00,
  06:00, 12:00 and 18:00 UTC.
- ``tags`` and ``description`` belong to the pipeline (``@pipeline(tags=..., description=...)``)
  and are recorded with every run (``suiro show``); ``parameters={}`` is a deployment without
  ``params``.
- No ``prefect cloud login``: the deployment is in suiro's database (``SUIRO_HOME``, or a shared
  PostgreSQL with ``SUIRO_DB``). No ``work_queue_name`` and no agent: ``suiro scheduler`` (run in
  the project's folder, or as the systemd service of examples/deploy/) starts each run in a
  process of its own; ``max_active_runs`` bounds how many run at once, as a queue's concurrency
  limit does. Prefect Cloud's UI is ``suiro ui`` (its deployments page lists next fire times and
  starts runs from a form), or ``suiro server``: the scheduler and the UI in one process.
- The listing's flow body is ``pass``; this one retrains on the six hours of data its run stands
  for. Its parameters default to the run's data interval (``suiro.logical.interval_start`` and
  ``.interval_end``), so the 12:00 run processes 06:00-12:00 even when it starts late, and each
  window has its own cache key. A run by hand (``suiro run``) gets an empty interval at the
  current time; ``--set since=2026-12-01T06:00 --set until=2026-12-01T12:00`` picks a window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from suiro import get_logger, logical, pipeline, task


@task
def collect(since: datetime, until: datetime, n_samples: int) -> dict:
    """Stand-in for the rows that arrived in [since, until): generated, the same for the same window."""
    rng = np.random.default_rng(int(until.timestamp()))
    features = rng.standard_normal((n_samples, 4))
    target = (features @ np.array([1.5, -1.0, 0.5, 0.0]) + rng.normal(0, 0.5, n_samples) > 0).astype(int)
    get_logger().info("collected %d rows for %s .. %s", n_samples, since.isoformat(), until.isoformat())
    return {"features": features, "target": target}


@task
def retrain(data: dict) -> float:
    """Fit a linear classifier (least squares) on the first half of the rows, score it on the rest."""
    x = np.c_[data["features"], np.ones(len(data["target"]))]
    half = len(x) // 2
    weights, *_ = np.linalg.lstsq(x[:half], 2.0 * data["target"][:half] - 1.0, rcond=None)
    return float(((x[half:] @ weights > 0) == data["target"][half:]).mean())


@task
def report(since: datetime, until: datetime, accuracy: float) -> dict:
    return {"since": since.isoformat(), "until": until.isoformat(), "accuracy": round(accuracy, 3)}


@pipeline(
    schedule={"every": timedelta(hours=6)},
    tags=["ml", "production"],
    description="The production ML pipeline: retrain on the last six hours of data.",
)
def production_ml_pipeline(
    since: datetime = logical.interval_start,
    until: datetime = logical.interval_end,
    n_samples: int = 400,
):
    """The production ML pipeline (the listing's 本番MLパイプライン)."""
    return report(since, until, retrain(collect(since, until, n_samples)))


if __name__ == "__main__":
    # The listing's Deployment.build_from_flow(...) and deployment.apply(): checked, then saved.
    from suiro import deployments

    done = deployments.deploy(
        name="production-deployment", pipeline=production_ml_pipeline, max_active_runs=1
    )
    print(f"deployed {done.row.name}: {done.row.pipeline}; its runs start with: suiro scheduler")

"""Exercise 2 (問題2), the Airflow DAG to fix, ported.

The exercise's DAG forgot ``dag=dag`` on its operators and had no schedule nor
``default_args``. In suiro the first mistake cannot be made: a task belongs to the pipeline
whose body calls it. ``default_args`` is ``task_defaults``; ``owner`` goes on the pipeline.
``task_a >> task_b`` orders two tasks that pass no data, as in Airflow. What differs:

- ``schedule_interval='@daily'`` and ``start_date`` (the exercise's second fix) are
  ``@pipeline(schedule={"cron": "@daily", "start": "2025-01-01"})``; ``suiro deploy`` of this file
  makes it a deployment (``example``) that ``suiro scheduler`` runs at midnight UTC.
  ``catchup=False`` is suiro's default catch-up, ``latest`` (after downtime, one run for the latest
  missed day); ``--catchup all`` would be Airflow's ``catchup=True``.
- ``depends_on_past=False`` is how suiro always behaves.
- ``retry_delay`` is 1 s instead of 5 minutes so a failure shows its retry quickly.

    suiro run examples/chapter/17_exercise2_fixed_dag.py && suiro logs last task_b
    suiro deploy examples/chapter/17_exercise2_fixed_dag.py && suiro schedule preview example
"""

from __future__ import annotations

from suiro import pipeline, task


@task
def task_a() -> str:
    print("Task A")
    return "a"


@task
def task_b() -> str:
    print("Task B")
    return "b"


@pipeline(
    task_defaults={"retries": 1, "retry_delay": 1.0},
    owner="airflow",
    schedule={"cron": "@daily", "start": "2025-01-01"},
)
def example():
    a = task_a()
    b = task_b()
    a >> b
    return b

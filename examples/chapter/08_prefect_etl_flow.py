"""Section 3.4, listing "基本的なFlow" (the Prefect ``ETL Pipeline`` flow), ported.

extract (3 retries, 60 s apart) -> transform -> load (1 hour timeout). What differs:

- ``@flow`` is ``@pipeline(dynamic=True)``: as in Prefect, the body runs at run time, each task
  call returns its value (a recorded, cached, retried task attempt), and the ``print`` after the
  tasks runs after them. A static ``@pipeline`` (the other ports) is traced into a graph first.
- ``retry_delay_seconds``/``timeout_seconds`` are ``retry_delay``/``timeout``.
- ``log_prints=True`` is always on: what a task prints is kept per attempt (``suiro logs``).
- A pipeline is run with ``suiro run FILE.py`` or ``suiro.run(etl_pipeline)``, not by calling it.

    suiro run examples/chapter/08_prefect_etl_flow.py && suiro logs last transform_data
"""

from __future__ import annotations

from suiro import pipeline, task


@task(retries=3, retry_delay=60)
def extract_data(records: int) -> dict:
    print("extracting data")
    return {"records": records}


@task
def transform_data(data: dict) -> dict:
    print(f"transforming {data['records']} records")
    return {"records": data["records"], "features": 50}


@task(timeout=3600)
def load_data(data: dict) -> bool:
    print(f"loading {data['records']} records")
    return True


@pipeline(description="ETL Pipeline", dynamic=True)
def etl_pipeline(records: int = 1000):
    raw = extract_data(records)
    loaded = load_data(transform_data(raw))
    print(f"ETL pipeline completed: {raw['records']} records")
    return loaded

"""Section 3.4, listing "基本的なFlow" (the Prefect ``ETL Pipeline`` flow), ported.

extract (3 retries, 60 s apart) -> transform -> load (1 hour timeout). What differs:

- ``@flow`` is ``@pipeline``: its body is traced once into a graph before anything runs, so a
  task call inside it returns a reference, not the value (pass it on to other tasks; to branch
  on it, use ``when``). Prefect runs the body as it goes: dynamic pipelines wait for
  ``@pipeline(dynamic=True)`` (issue 12).
- ``retry_delay_seconds``/``timeout_seconds`` are ``retry_delay``/``timeout``.
- ``log_prints=True`` is always on: what a task prints is kept per attempt (``suiro logs``).
- The ``print`` in the flow body after the tasks runs once, at trace time, not after them; the
  pipeline's returned value is printed by ``suiro run`` instead.
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


@pipeline(description="ETL Pipeline")
def etl_pipeline(records: int = 1000):
    return load_data(transform_data(extract_data(records)))

"""Section 3.2, listing "基本的なDAG定義" (the basic Airflow DAG ``ml_pipeline_basic``), ported.

extract -> transform -> train -> validate, the last one a shell command (Airflow's
``BashOperator``). What differs:

- ``default_args`` is ``task_defaults``; ``owner``, ``description`` and ``tags`` go on
  ``@pipeline``. ``retry_delay``/``execution_timeout`` become ``retry_delay``/``timeout``
  (``timedelta`` accepted).
- No XCom: a task's return value is passed to the next task by calling it with it.
- ``schedule_interval='0 2 * * *'`` and ``start_date`` are ``@pipeline(schedule={"cron": ...,
  "start": "2025-01-01"})`` (UTC, as Airflow's default zone), checked when the file is loaded.
  ``suiro deploy`` of this file makes it a deployment named ``ml_pipeline_basic`` and ``suiro
  scheduler`` runs it nightly (docs/scheduling.md). ``catchup=False`` is suiro's default catch-up,
  ``latest``: after downtime, one run for the latest missed night, not one per night
  (``suiro deploy FILE.py:ml_pipeline_basic --cron '0 2 * * *' --catchup none`` drops even that).
- ``email``/``email_on_failure=True`` is ``notify=Notify(email=["alerts@example.com"])``: a failed
  run (by hand or scheduled) e-mails the address its id, the failed task, the error and the
  ``suiro logs`` command. The address is the listing's example: give a real one, and an SMTP
  server with ``SUIRO_SMTP_HOST``/``SUIRO_SMTP_PORT`` (or ``smtp:`` in suiro.yaml; see
  docs/notifications.md). Without a server the failed delivery is recorded (``suiro
  notifications``) and the run's outcome is unchanged. ``email_on_retry=False`` is the default:
  retries notify nobody (an ``on_retry=`` hook would).
- ``retries=2`` applies to ``extract`` only for a lost connection (``retry_on``): an empty extract
  (``--set records=0``) fails at once, as retrying cannot fill the table.
- ``depends_on_past`` has no counterpart: each run stands alone (cache hits carry results over).

    suiro run examples/chapter/02_airflow_basic_dag.py && suiro logs last validate
    suiro deploy examples/chapter/02_airflow_basic_dag.py && suiro deployments
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from suiro import Notify, pipeline, shell, task


@task(retry_on=(ConnectionError, TimeoutError))
def extract(records: int) -> dict:
    """Stand-in for reading from a database; retried only when the connection fails."""
    if records < 1:
        raise ValueError(f"no records to extract (records={records}); load the source table first")
    print(f"extracting {records} records")
    return {"records": records, "extracted_at": datetime.now(UTC).isoformat()}


@task
def transform(data: dict) -> dict:
    print(f"transforming {data['records']} records")
    return {"records": data["records"], "features": 50}


@task
def train(data: dict) -> dict:
    print(f"training on {data['features']} features")
    return {"accuracy": 0.92, "f1": 0.89}


@pipeline(
    task_defaults={"retries": 2, "retry_delay": timedelta(minutes=5), "timeout": timedelta(hours=1)},
    owner="mlops-team",
    tags=["ml", "training"],
    schedule={"cron": "0 2 * * *", "start": "2025-01-01"},
    notify=Notify(email=["alerts@example.com"]),
)
def ml_pipeline_basic(records: int = 1000):
    """The basic ML pipeline: extract, transform, train, validate."""
    metrics = train(transform(extract(records)))
    # The accuracy reaches the command through the environment, never pasted into the command text.
    return shell(
        'echo "model validated: accuracy=$ACCURACY"', env={"ACCURACY": metrics["accuracy"]}, name="validate"
    )

"""The same records in PostgreSQL: a real local server on 127.0.0.1, started for the session.

Skipped where no PostgreSQL server binaries or psycopg driver are installed.
"""

from __future__ import annotations

import pytest

import suiro
from suiro import history
from suiro.errors import RecordsMissingError, StoreError

# The server and a fresh database for this module: fixtures postgres_server and postgres_url
# (tests/conftest.py, tests/pipelines/pgserver.py).


@suiro.task
def double(x: int) -> int:
    return 2 * x


@suiro.task
def total(xs: list[int]) -> int:
    suiro.log_metric("total", sum(xs))
    return sum(xs)


@suiro.pipeline
def doubled(xs: list[int] = [1, 2, 3]):  # noqa: B006
    return total(double.map(xs))


def test_runs_are_recorded_cached_and_read_back_in_postgres(postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SUIRO_DB", postgres_url)
    first = suiro.run(doubled, environ={}, home=tmp_path)
    second = suiro.run(doubled, environ={}, home=tmp_path)
    assert first.ok and first.output == 12
    assert second.output == 12
    assert {t.state.value for t in second.tasks.values()} == {"cached"}
    runs = history.runs(pipeline="doubled", home=tmp_path)
    assert [r["id"] for r in runs] == [second.run_id, first.run_id]
    shown = history.show(first.run_id, home=tmp_path)
    assert {t["task_key"]: t["state"] for t in shown["tasks"]} == {"double": "success", "total": "success"}
    assert [m["value"] for m in history.metrics(first.run_id, home=tmp_path)] == [12.0]
    assert not (tmp_path / "suiro.db").exists()  # the records went to PostgreSQL, not SQLite


def test_a_read_only_handle_on_postgres_refuses_writes_and_reads(postgres_url, monkeypatch, tmp_path):
    import pytest

    from suiro.errors import StoreError
    from suiro.store import queries
    from suiro.store.db import Database

    monkeypatch.setenv("SUIRO_DB", postgres_url)
    done = suiro.run(doubled, environ={}, home=tmp_path)
    reader = Database(postgres_url, read_only=True)
    assert queries.get_run(reader, done.run_id)["state"] == "success"
    with pytest.raises(StoreError, match="was opened read-only, for reading the record; nothing was written"):
        reader.query("UPDATE runs SET state = 'failed'")
    with pytest.raises(StoreError, match="was opened read-only"), reader.write():
        pass
    reader.close()
    assert history.show(done.run_id, home=tmp_path)["state"] == "success"


@suiro.pipeline
def on_path(path: str = "none"):
    return double(2)


def test_deployments_and_their_trigger_reads_work_in_postgres(postgres_url, monkeypatch, tmp_path):
    from suiro import deployments, triggers
    from suiro.runinfo import Scheduled
    from suiro.store import deployments as rows
    from suiro.store.db import Database

    monkeypatch.setenv("SUIRO_DB", postgres_url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("x")
    deployments.deploy(name="pg-up", pipeline=doubled, cron="@daily", home=tmp_path)
    deployments.deploy(
        name="pg-down",
        pipeline=on_path,
        triggers=[triggers.after("pg-up", state="finished"), triggers.on_file("*.csv")],
        home=tmp_path,
    )
    done = suiro.run(
        doubled, environ={}, home=tmp_path, scheduled=Scheduled(deployment="pg-up", logical_time=86_400.0)
    )
    reader = Database(postgres_url, read_only=True)
    down = rows.get(reader, "pg-down")
    assert down is not None and down.triggers[0] == {
        "kind": "after",
        "deployment": "pg-up",
        "state": "finished",
    }
    ticks = triggers.scan(reader, down, 2e9)
    assert [t.event_key for t in ticks] == [
        f"after:{done.run_id}",
        f"file:{tmp_path / 'in.csv'}@{(tmp_path / 'in.csv').stat().st_mtime_ns}",
    ]
    listed = {d["name"]: d for d in deployments.listing(home=tmp_path)}
    assert listed["pg-up"]["last_run"]["id"] == done.run_id and len(listed["pg-up"]["next"]) == 3
    shown = deployments.details("pg-up", home=tmp_path)["runs"][0]
    assert (shown["logical_time"], shown["logical"]) == (86_400.0, "1970-01-02 00:00 UTC")
    reader.close()


@suiro.task
def fit_score(lr: float) -> float:
    suiro.log_metric("roc_auc", 0.5 + lr)
    return lr


@suiro.pipeline
def scored(lr: float = 0.1):
    return fit_score(lr)


def test_the_ui_runs_list_filters_sorting_and_metrics_work_in_postgres(postgres_url, monkeypatch, tmp_path):
    import datetime as dt

    from suiro.store import queries, search
    from suiro.store.db import Database
    from suiro.store.search import RunFilter

    monkeypatch.setenv("SUIRO_DB", postgres_url)
    low, high = (suiro.run(scored, params={"lr": lr}, environ={}, home=tmp_path).run_id for lr in (0.1, 0.3))
    reader = Database(postgres_url, read_only=True)
    ids = lambda **where: [r["id"] for r in search.search_runs(reader, RunFilter(pipeline="scored", **where))]  # noqa: E731
    assert ids() == [high, low]
    assert ids(params=(("lr", 0.3),)) == [high] and ids(params=(("lr", 0.2),)) == []
    assert ids(sort="roc_auc") == [high, low] and ids(sort="roc_auc", descending=False) == [low, high]
    assert ids(metric="roc_auc", metric_min=0.7) == [high]
    assert ids(since=dt.datetime.now().timestamp() + 3600) == []
    sorted_rows = search.search_runs(reader, RunFilter(pipeline="scored", sort="roc_auc"))
    assert [r["metric"] for r in sorted_rows] == [0.8, 0.6]
    assert "scored" in search.pipeline_names(reader) and "roc_auc" in search.metric_names(reader)
    assert search.latest_metrics(reader, low) == {"roc_auc": 0.6}
    assert [p["value"] for p in search.metric_history(reader, "scored", "roc_auc")] == [0.6, 0.8]
    scored_row = next(p for p in queries.list_pipelines(reader) if p["name"] == "scored")
    assert scored_row["runs"] == 2 and scored_row["last_run"] == high
    reader.close()


def test_a_server_not_reached_and_a_new_database_beside_local_runs_each_say_so(
    postgres_server, monkeypatch, tmp_path
):
    # An unreachable server was taken for an empty database: "the records are missing ... their
    # records are gone", as was a new database named by SUIRO_DB from a home with local runs
    home = tmp_path / "home"
    assert suiro.run(doubled, environ={}, home=home).ok  # recorded in SQLite, beside its logs
    monkeypatch.setenv("SUIRO_DB", postgres_server.new_database("moved"))
    with pytest.raises(RecordsMissingError, match=r"recorded in another database \(suiro.db here"):
        suiro.run(doubled, environ={}, home=home)
    monkeypatch.setenv("SUIRO_DB", "postgresql+psycopg://suiro@127.0.0.1:1/none")
    with pytest.raises(StoreError, match=r"cannot reach the database \S+@127.0.0.1:1/none \(connection"):
        history.runs(home=home)

"""load_dataset: bundled sklearn data, CSV, Parquet and SQL (a real SQLite file), and its errors."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import suiro
from suiro import TaskState, pipeline, task
from suiro.errors import DataSourceError, SourceUnavailableError
from suiro.executors.base import error_info
from suiro.ml import SKLEARN_DATASETS, load_dataset

SHAPES = {
    "breast_cancer": (569, 31),
    "diabetes": (442, 11),
    "digits": (1797, 65),
    "iris": (150, 5),
    "wine": (178, 14),
}


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 27, 60],
            "income": [1.5, 2.25, None, 4.0],
            "city": ["Kyoto", "Osaka", "Kyoto", "Nara"],
            "target": [0, 1, 0, 1],
        }
    )


@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_datasets_load_bundled_with_a_target_column(name):
    df = load_dataset(f"sklearn:{name}")
    assert df.shape == SHAPES[name]
    assert df.columns[-1] == "target"
    assert df["target"].notna().all()


def test_sklearn_target_can_be_renamed():
    df = load_dataset("sklearn:iris", target="species")
    assert "species" in df.columns
    assert "target" not in df.columns


def test_csv_by_scheme_and_by_suffix(tmp_path, frame):
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    for source in (f"csv:{path}", str(path)):
        pd.testing.assert_frame_equal(load_dataset(source, target="target"), frame, check_dtype=False)


def test_parquet_by_scheme_and_by_suffix(tmp_path, frame):
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path)
    for source in (f"parquet:{path}", str(path)):
        pd.testing.assert_frame_equal(load_dataset(source), frame, check_dtype=False)


def _sqlite_file(tmp_path, frame) -> str:
    path = tmp_path / "data.db"
    with sqlite3.connect(path) as db:
        frame.to_sql("people", db, index=False)
    return str(path)


def test_sql_query_on_a_real_sqlite_file(tmp_path, frame):
    path = _sqlite_file(tmp_path, frame)
    df = load_dataset(
        f"sql:sqlite:///{path}::SELECT age, city, target FROM people WHERE age > 30 ORDER BY age"
    )
    assert df.to_dict("list") == {
        "age": [31, 45, 60],
        "city": ["Kyoto", "Osaka", "Nara"],
        "target": [0, 1, 1],
    }


def test_sql_query_may_contain_double_colons(tmp_path, frame):
    path = _sqlite_file(tmp_path, frame)
    df = load_dataset(f"sql:sqlite:///{path}::SELECT 'a::b' AS s, COUNT(*) AS n FROM people")
    assert df.to_dict("list") == {"s": ["a::b"], "n": [4]}


def test_sql_failing_query_is_a_data_source_error_not_retried(tmp_path, frame):
    path = _sqlite_file(tmp_path, frame)
    with pytest.raises(
        DataSourceError, match=r"query 'SELECT \* FROM nowhere' failed on .*no such table.*fix the query"
    ):
        load_dataset(f"sql:sqlite:///{path}::SELECT * FROM nowhere")


def test_sql_unreachable_database_is_a_retryable_connection_error(tmp_path):
    source = f"sql:sqlite:///{tmp_path}/no/such/dir/data.db::SELECT 1 AS x"
    with pytest.raises(
        SourceUnavailableError, match=r"cannot connect to the database of source .*check the URL"
    ) as err:
        load_dataset(source)
    assert isinstance(err.value, ConnectionError)
    assert error_info(err.value, retry_on=load_dataset.options.retry_on).retryable


def test_sql_source_needs_url_and_query():
    with pytest.raises(
        DataSourceError, match=r"sql source 'sqlite:///x.db' needs a URL and a query: sql:URL::QUERY"
    ):
        load_dataset("sql:sqlite:///x.db")


def test_retries_connection_and_io_errors_with_backoff():
    options = load_dataset.options
    assert (options.retries, options.retry_delay, options.backoff) == (3, 1.0, 2.0)
    assert options.retry_on == (ConnectionError, OSError)


def test_unknown_scheme_lists_the_known_forms():
    with pytest.raises(
        DataSourceError,
        match=r"unknown dataset source 'sklern:iris' \(did you mean \"sklearn\"\?\); "
        r"use one of sklearn:NAME, csv:PATH",
    ):
        load_dataset("sklern:iris")
    with pytest.raises(DataSourceError, match=r"unknown dataset source 'rows.txt'; use one of"):
        load_dataset("rows.txt")


def test_unknown_or_downloading_sklearn_dataset_lists_the_bundled_ones():
    bundled = "breast_cancer, diabetes, digits, iris, wine"
    with pytest.raises(
        DataSourceError,
        match=rf"unknown sklearn dataset 'california_housing'; the bundled ones are {bundled}\.",
    ):
        load_dataset("sklearn:california_housing")
    with pytest.raises(DataSourceError, match=r"unknown sklearn dataset 'irs' \(did you mean \"iris\"\?\)"):
        load_dataset("sklearn:irs")


def test_missing_file_is_not_retried(tmp_path):
    with pytest.raises(
        DataSourceError,
        match=r"dataset file '.*missing.csv' \(from source .*\) does not exist; check the path",
    ) as err:
        load_dataset(str(tmp_path / "missing.csv"))
    assert not error_info(err.value, retry_on=load_dataset.options.retry_on).retryable


def test_missing_target_column_lists_the_columns(tmp_path, frame):
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        DataSourceError,
        match=r"has no target column 'targets' \(did you mean \"target\"\?\); "
        r"its columns are age, income, city, target\.",
    ):
        load_dataset(str(path), target="targets")


def test_sql_bad_url_names_it():
    with pytest.raises(
        DataSourceError, match=r"cannot use database URL 'nosuchdb://host/db' of an sql source"
    ):
        load_dataset("sql:nosuchdb://host/db::SELECT 1")


def test_an_explicit_scheme_wins_over_the_suffix(tmp_path, frame):
    path = tmp_path / "rows.parquet"
    frame.to_csv(path, index=False)  # CSV bytes under a .parquet name
    assert list(load_dataset(f"csv:{path}").columns) == list(frame.columns)


@task
def count(df: pd.DataFrame) -> int:
    return len(df)


@pipeline
def rows_of(source: str):
    return count(load_dataset(source))


def test_a_file_source_is_cached_by_its_bytes_and_a_query_never(tmp_path, frame):
    # Keyed by the source's text, the first frame read from a path was reused for ever: an edited
    # CSV trained nothing new, silently (the run said "cached")
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    first = suiro.run(rows_of, {"source": f"csv:{path}"})
    again = suiro.run(rows_of, {"source": f"csv:{path}"})
    assert first.output == again.output == 4 and again.tasks["load_dataset"].state is TaskState.CACHED
    pd.concat([frame, frame]).to_csv(path, index=False)
    edited = suiro.run(rows_of, {"source": f"csv:{path}"})
    assert edited.output == 8 and edited.tasks["load_dataset"].state is TaskState.SUCCESS

    database = tmp_path / "rows.db"
    with sqlite3.connect(database) as conn:
        frame.to_sql("rows", conn, index=False)
    query = f"sql:sqlite:///{database}::SELECT * FROM rows"
    runs = [suiro.run(rows_of, {"source": query}) for _ in range(2)]
    assert [r.tasks["load_dataset"].state for r in runs] == [TaskState.SUCCESS, TaskState.SUCCESS]

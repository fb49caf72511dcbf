"""What a pipeline says about its tasks and itself: ``task_defaults`` (Airflow's ``default_args``),
``description``, ``owner`` and ``tags``, and the definition errors for each."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from suiro import pipeline, task
from suiro.errors import DefinitionError

HERE = Path(__file__)
KNOWN = (
    "allow_failure, backoff, cache, cache_key, cache_ttl, description, infra_retries, jitter, max_delay, "
    "on_failure, on_retry, on_success, owner, "
    "resources, retries, retry_delay, retry_on, serializer, tags, timeout, trigger_rule"
)


def where(marker: str) -> str:
    """``file:line`` of the line of this file ending with ``# <marker>``."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return f"{HERE}:{hits[0]}"


@task
def plain(x: int) -> int:
    """Double a number.

    More text that is not the summary.
    """
    return x * 2


@task(retries=5, tags=["gpu"])
def stubborn(x: int) -> int:
    return x


@task(owner="data-eng", description="Load the raw rows.")
def described(x: int) -> int:
    return x


# --- task_defaults ----------------------------------------------------------------------------


def test_task_defaults_apply_to_every_task_that_does_not_set_the_option():
    @pipeline(task_defaults={"retries": 2, "retry_delay": 300, "timeout": 3600, "tags": ["nightly"]})
    def p(n: int = 1):
        return stubborn(plain(n))

    plain_opts = p.graph.nodes["plain"].task.options
    stubborn_opts = p.graph.nodes["stubborn"].task.options
    assert (plain_opts.retries, plain_opts.retry_delay, plain_opts.timeout) == (2, 300, 3600)
    assert plain_opts.tags == frozenset({"nightly"})
    assert (stubborn_opts.retries, stubborn_opts.retry_delay, stubborn_opts.timeout) == (5, 300, 3600)
    assert stubborn_opts.tags == frozenset({"gpu"})  # set on @task: it wins, whole
    assert plain.options.retries == 0, "the task itself is not changed"
    assert (
        p.task_defaults
        == p.graph.task_defaults
        == {
            "retries": 2,
            "retry_delay": 300,
            "timeout": 3600,
            "tags": frozenset({"nightly"}),
        }
    )


def test_an_option_set_with_with_options_wins_over_the_defaults():
    quick = plain.with_options(timeout=10)

    @pipeline(task_defaults={"timeout": 3600, "retries": 1})
    def p(n: int = 1):
        return quick(n)

    assert (p.graph.nodes["plain"].task.options.timeout, p.graph.nodes["plain"].task.options.retries) == (
        10,
        1,
    )


def test_durations_may_be_timedeltas_as_in_airflow():
    @pipeline(task_defaults={"retry_delay": timedelta(minutes=5), "timeout": timedelta(hours=1)})
    def p(n: int = 1):
        return plain(n)

    opts = p.graph.nodes["plain"].task.options
    assert (opts.retry_delay, opts.timeout) == (300.0, 3600.0)
    assert task(retry_delay=timedelta(seconds=90))(lambda: 1).options.retry_delay == 90.0


@pytest.mark.parametrize(
    ("defaults", "problem"),
    [
        (
            {"retires": 2},
            f"""has an unknown option 'retires' (did you mean "retries"?); known options are {KNOWN}""",
        ),
        (
            {"execution_timeout": 3600},
            f"""has an unknown option 'execution_timeout' (did you mean "timeout"?); known options """
            f"are {KNOWN}",
        ),
        (
            {"retry_delay_seconds": 60},
            """has an unknown option 'retry_delay_seconds' (did you mean "retry_delay"?)""",
        ),
        ({"name": "x"}, "has an unknown option 'name'; known options are allow_failure, backoff"),
        ({"retries": -1}, "retries must be an integer >= 0, got -1"),
        ({"timeout": 0, "owner": 3}, "timeout must be a number > 0, got 0; owner must be text, got 3"),
        ({"trigger_rule": "sometimes"}, "trigger_rule 'sometimes' is not one of all_success"),
        ([("retries", 2)], "must be a dict of @task options, got list"),
    ],
    ids=[
        "typo",
        "airflow-name",
        "prefect-name",
        "name",
        "bad-value",
        "two-bad-values",
        "bad-rule",
        "not-a-dict",
    ],
)
def test_bad_task_defaults_are_a_definition_error_naming_pipeline_line_and_key(defaults, problem):
    with pytest.raises(DefinitionError) as info:

        @pipeline(task_defaults=defaults)  # bad-defaults
        def p(n: int = 1):
            return plain(n)

    assert str(info.value).startswith(f"pipeline p at {where('bad-defaults')}: task_defaults {problem}")
    assert str(info.value).endswith(".")
    assert info.value.location == where("bad-defaults")


def test_a_typo_in_a_task_option_gets_the_airflow_hint_too():
    with pytest.raises(
        DefinitionError, match=re.escape("""unknown option 'execution_timeout' (did you mean "timeout"?)""")
    ):

        @task(execution_timeout=60)
        def slow() -> None:
            pass


# --- description, owner, tags ---------------------------------------------------------------------


def test_description_owner_and_tags_are_kept_and_recorded_in_the_graph():
    @pipeline(description="Nightly training.", owner="mlops-team", tags=["ml", "training"])
    def p(n: int = 1):
        return described(plain(n))

    assert (p.description, p.owner, p.tags) == (
        "Nightly training.",
        "mlops-team",
        frozenset({"ml", "training"}),
    )
    data = p.graph.to_dict()
    assert (data["description"], data["owner"], data["tags"]) == (
        "Nightly training.",
        "mlops-team",
        ["ml", "training"],
    )
    nodes = {n["key"]: n for n in data["nodes"]}
    assert nodes["plain"]["description"] == "Double a number."  # a task's docstring's first line
    assert (nodes["described"]["description"], nodes["described"]["owner"]) == (
        "Load the raw rows.",
        "data-eng",
    )


def test_a_pipeline_description_defaults_to_its_docstring_and_one_tag_may_be_a_string():
    @pipeline(tags="ml")
    def p(n: int = 1):
        """Train the model.

        The rest is not the summary.
        """
        return plain(n)

    assert p.description == "Train the model."
    assert p.graph.to_dict()["tags"] == ["ml"]


def test_task_defaults_may_give_every_task_an_owner():
    @pipeline(owner="mlops-team", task_defaults={"owner": "mlops-team"})
    def p(n: int = 1):
        return described(plain(n))

    owners = {n["key"]: n["owner"] for n in p.graph.to_dict()["nodes"]}
    assert owners == {"plain": "mlops-team", "described": "data-eng"}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"owner": 3}, "owner must be text, got 3"),
        ({"description": ["x"]}, "description must be text, got ['x']"),
        ({"tags": [1]}, "tags must be text or a list of text, got [1]"),
    ],
)
def test_bad_pipeline_metadata_is_a_definition_error(options, problem):
    with pytest.raises(DefinitionError) as info:

        @pipeline(**options)  # bad-metadata
        def p(n: int = 1):
            return plain(n)

    assert str(info.value) == f"pipeline p at {where('bad-metadata')}: {problem}."


def test_a_pipeline_without_metadata_keeps_the_graph_description_it_had():
    @pipeline
    def p(n: int = 1):
        return plain(n)

    data: dict[str, Any] = p.graph.to_dict()
    assert set(data) == {"name", "params", "nodes"}
    assert set(data["nodes"][0]) == {
        "key",
        "task",
        "function",
        "upstream",
        "map",
        "max_concurrency",
        "trigger_rule",
        "conditions",
        "location",
        "options",
        "description",  # the task has a docstring
    }


def test_a_misspelt_pipeline_option_is_one_sentence_naming_the_closest_one():
    from suiro.errors import DefinitionError

    expected = (
        r"@pipeline at .*test_pipeline_options\.py:\d+ has no option 'timout' "
        r'\(did you mean "timeout"\?\); its options are name, schedule, .*on_retry\.'
    )
    with pytest.raises(DefinitionError, match=expected):

        @pipeline(timout=5)
        def nightly():
            return None

"""``@task`` and ``TaskOptions``: plain calls, eager map, option checks, retry delays, ``with_options``."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suiro import pipeline
from suiro.errors import DefinitionError, SuiroError
from suiro.executors.base import error_info
from suiro.mapping import unmapped
from suiro.states import TriggerRule
from suiro.task import Task, TaskOptions, task

HERE = Path(__file__)


def line_of(marker: str) -> int:
    """The line of this file ending with the comment ``# <marker>`` (so tests survive reformatting)."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return hits[0]


def where(marker: str) -> str:
    """``file:line`` as errors print it: the full path of this file and the marked line."""
    return f"{HERE}:{line_of(marker)}"


def define(**options):
    """Define a task with ``options``; option errors point at the decorator line below."""

    @task(**options)  # define-task
    def resize(width: int, height: int = 1) -> int:
        return width * height

    return resize


# --- defining and calling ---------------------------------------------------------------------


@task
def add(x: int, y: int = 1) -> int:
    """Add two numbers."""
    return x + y


def test_bare_task_wraps_the_function_with_default_options():
    assert isinstance(add, Task)
    assert add.name == "add"
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert add.options == TaskOptions(name="add")
    assert add.options.trigger_rule is TriggerRule.ALL_SUCCESS
    assert add.options.retries == 0
    assert add.options.retry_on is None
    assert repr(add) == "<task add>"


def test_task_with_options_normalises_them():
    @task(
        name="fetch_data",
        retries=3,
        retry_delay=1.0,
        backoff=2.0,
        max_delay=30,
        jitter=0.1,
        retry_on=[ConnectionError, TimeoutError],
        timeout=60,
        cache=False,
        tags=["io", "net", "io"],
        resources={"cpu": 2},
        trigger_rule="one_success",
    )
    def fetch(url: str) -> str:
        return url

    opts = fetch.options
    assert fetch.name == opts.name == "fetch_data"
    assert fetch.__name__ == "fetch"
    assert (opts.retries, opts.retry_delay, opts.backoff, opts.max_delay, opts.jitter) == (
        3,
        1.0,
        2.0,
        30,
        0.1,
    )
    assert opts.retry_on == (ConnectionError, TimeoutError)
    assert opts.timeout == 60
    assert opts.cache is False
    assert opts.tags == frozenset({"io", "net"})
    assert dict(opts.resources) == {"cpu": 2}
    assert opts.trigger_rule is TriggerRule.ONE_SUCCESS


def test_a_single_retry_on_exception_type_becomes_a_tuple():
    assert define(retry_on=ValueError).options.retry_on == (ValueError,)


def test_a_task_called_outside_a_pipeline_is_a_plain_call():
    assert add(2) == 3
    assert add(2, y=5) == 7
    assert add.fn(2, 5) == 7


def test_a_task_called_outside_a_pipeline_raises_the_functions_own_error():
    @task
    def boom(x: int) -> int:
        raise KeyError(x)

    with pytest.raises(KeyError) as info:
        boom(4)

    assert not isinstance(info.value, SuiroError)


def test_the_function_is_not_run_at_definition_time():
    calls = []

    @task
    def record(x):
        calls.append(x)
        return x

    assert calls == []
    assert record(1) == 1
    assert calls == [1]


def test_task_needs_a_callable():
    with pytest.raises(DefinitionError, match=re.escape("@task needs a function, got 42.")):
        task(42)


# --- task.map outside a pipeline --------------------------------------------------------------


def test_map_outside_a_pipeline_is_a_plain_loop_in_order():
    assert add.map([1, 2, 3]) == [2, 3, 4]
    assert add.map([1, 2], y=[10, 20]) == [11, 22]
    assert add.map(x=(5, 6)) == [6, 7]
    assert add.map(range(3), max_concurrency=2) == [1, 2, 3]


def test_map_outside_a_pipeline_passes_unmapped_values_whole():
    @task
    def pair(item: int, shared: list[int]) -> tuple[int, int]:
        return item, len(shared)

    assert pair.map([1, 2], unmapped([7, 8, 9])) == [(1, 3), (2, 3)]
    assert pair.map(item=[1], shared=unmapped([])) == [(1, 0)]


def test_map_outside_a_pipeline_of_empty_lists_calls_nothing():
    calls = []

    @task
    def record(x):
        calls.append(x)

    assert record.map([]) == []
    assert calls == []


def test_map_outside_a_pipeline_rejects_lists_of_different_lengths():
    with pytest.raises(
        DefinitionError, match=re.escape("add.map: the mapped arguments differ in length (#1=2, 'y'=3)")
    ) as info:
        add.map([1, 2], y=[1, 2, 3])

    assert info.value.task == "add"


def test_map_outside_a_pipeline_rejects_a_value_that_is_not_a_list():
    with pytest.raises(
        DefinitionError, match=re.escape("add.map: argument 'y' is 5 (int), not a list; wrap it")
    ):
        add.map([1, 2], y=5)


def test_map_outside_a_pipeline_names_the_task_by_its_name_option():
    @task(name="scorer")
    def score(x: int) -> int:
        return x

    with pytest.raises(DefinitionError, match=r"^scorer\.map: ") as info:
        score.map(5)

    assert info.value.task == "scorer"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_map_rejects_a_max_concurrency_that_is_not_a_positive_integer(bad):
    with pytest.raises(
        DefinitionError,
        match=r"add\.map at .*test_task\.py:\d+: "
        + re.escape(f"max_concurrency must be a positive integer, got {bad!r}."),
    ):
        add.map([1], max_concurrency=bad)


# --- option errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"retries": -1}, "retries must be an integer >= 0, got -1"),
        ({"retries": 1.5}, "retries must be an integer >= 0, got 1.5"),
        ({"retries": True}, "retries must be an integer >= 0, got True"),  # it was one retry
        ({"timeout": True}, "timeout must be a number > 0, got True"),
        ({"retry_delay": -1}, "retry_delay must be a number >= 0, got -1"),
        ({"jitter": -0.5}, "jitter must be a number >= 0, got -0.5"),
        ({"backoff": 0.5}, "backoff must be a number >= 1, got 0.5"),
        ({"max_delay": 0}, "max_delay must be a number > 0, got 0"),
        ({"timeout": 0}, "timeout must be a number > 0, got 0"),
        ({"timeout": "60"}, "timeout must be a number > 0, got '60'"),
        ({"cache_ttl": -5}, "cache_ttl must be a number > 0, got -5"),
        ({"retry_on": [42]}, "retry_on must be exception types, got (42,)"),
        ({"retry_on": [ValueError, str]}, "retry_on must be exception types, got (<class 'ValueError'>"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_a_bad_option_value_names_the_task_and_the_decorator_line(options, problem):
    message = f"@task resize at {where('define-task')}: {problem}"

    with pytest.raises(DefinitionError, match=re.escape(message)) as info:
        define(**options)

    assert info.value.task == "resize"
    assert info.value.location == where("define-task")
    assert "test_task.py:" in str(info.value)


def test_every_bad_option_value_is_reported_at_once():
    with pytest.raises(DefinitionError) as info:
        define(retries=-1, timeout=0, backoff=0.5)

    message = str(info.value)
    assert "retries must be" in message
    assert "timeout must be" in message
    assert "backoff must be" in message
    assert message.count(where("define-task")) == 1


def test_option_errors_use_the_name_option():
    with pytest.raises(DefinitionError, match=r"^@task thumbnail at .*retries must be") as info:
        define(name="thumbnail", retries=-1)

    assert info.value.task == "thumbnail"


def test_an_unknown_option_suggests_the_close_one_and_lists_the_known_ones():
    known = (
        "allow_failure, backoff, cache, cache_key, cache_ttl, description, infra_retries, jitter, max_delay, "
        "on_failure, on_retry, on_success, owner, "
        "resources, retries, retry_delay, retry_on, serializer, tags, timeout, trigger_rule"
    )
    message = (
        f"@task resize at {where('define-task')}: unknown option 'retrys' "
        f'(did you mean "retries"?); known options are {known}.'
    )

    with pytest.raises(DefinitionError, match="^" + re.escape(message) + "$") as info:
        define(retrys=3)

    assert info.value.task == "resize"
    assert info.value.location == where("define-task")


def test_an_unknown_option_with_no_close_name_has_no_suggestion():
    with pytest.raises(
        DefinitionError, match=r"unknown option 'colour'; known options are allow_failure, backoff"
    ) as info:
        define(colour="blue")

    assert "did you mean" not in str(info.value)


def test_every_unknown_option_is_reported_at_once():
    with pytest.raises(DefinitionError) as info:
        define(retrys=3, timout=60)

    assert "'retrys'" in str(info.value)
    assert "'timout'" in str(info.value)


def test_a_bad_trigger_rule_names_the_task_the_line_and_the_valid_rules():
    message = (
        f"@task resize at {where('define-task')}: trigger_rule 'any_success' is not one of "
        "all_success, one_success, all_done, none_failed."
    )

    with pytest.raises(DefinitionError, match="^" + re.escape(message) + "$") as info:
        define(trigger_rule="any_success")

    assert info.value.task == "resize"


def test_a_bad_trigger_rule_error_carries_its_location():
    with pytest.raises(DefinitionError) as info:
        define(trigger_rule="any_success")

    assert info.value.location == where("define-task")


# --- retry delays -----------------------------------------------------------------------------


def test_delay_grows_by_backoff_for_each_further_retry():
    opts = TaskOptions(name="t", retry_delay=1.5, backoff=2.0)

    # attempt 2 is the first retry: retry_delay * backoff ** (n - 1) for the n-th retry
    assert [opts.delay_before(a) for a in (2, 3, 4, 5)] == [1.5, 3.0, 6.0, 12.0]


def test_delay_is_constant_without_backoff_and_zero_by_default():
    assert [TaskOptions(name="t", retry_delay=2).delay_before(a) for a in (2, 3, 9)] == [2, 2, 2]
    assert TaskOptions(name="t").delay_before(5) == 0


def test_delay_is_capped_by_max_delay():
    opts = TaskOptions(name="t", retry_delay=1.0, backoff=3.0, max_delay=5.0)

    assert [opts.delay_before(a) for a in (2, 3, 4, 5)] == [1.0, 3.0, 5.0, 5.0]


def test_jitter_adds_up_to_its_fraction_of_the_delay_reproducibly_with_a_seeded_rng():
    opts = TaskOptions(name="t", retry_delay=2.0, backoff=2.0, max_delay=6.0, jitter=0.5)

    for seed in range(20):
        delay = opts.delay_before(4, rng=random.Random(seed))
        base = 6.0  # 2 * 2**2 = 8, capped at 6; jitter is added on top of the capped delay
        assert base <= delay < base * 1.5
        assert delay == base + base * 0.5 * random.Random(seed).random()
        assert delay == opts.delay_before(4, rng=random.Random(seed))


@settings(max_examples=50, deadline=None)
@given(
    retry_delay=st.floats(min_value=0, max_value=100),
    backoff=st.floats(min_value=1, max_value=4),
    max_delay=st.none() | st.floats(min_value=0.01, max_value=50),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_delays_never_shrink_and_stay_within_the_cap_plus_jitter(
    retry_delay, backoff, max_delay, jitter, seed
):
    opts = TaskOptions(name="t", retry_delay=retry_delay, backoff=backoff, max_delay=max_delay, jitter=jitter)

    bare = [
        TaskOptions(name="t", retry_delay=retry_delay, backoff=backoff, max_delay=max_delay).delay_before(a)
        for a in range(2, 8)
    ]
    assert bare == sorted(bare)
    for attempt, base in zip(range(2, 8), bare, strict=True):
        delay = opts.delay_before(attempt, rng=random.Random(seed))
        assert base <= delay <= base + base * jitter
        if max_delay is not None:
            assert base <= max_delay


# --- retryable errors -------------------------------------------------------------------------


def retryable(opts: TaskOptions, exc: BaseException) -> bool:
    """Whether a task with ``opts`` that raised ``exc`` may be retried (decided where it ran)."""
    return error_info(exc, retry_on=opts.retry_on).retryable


def test_every_exception_is_retryable_without_retry_on():
    opts = TaskOptions(name="t")

    assert retryable(opts, ValueError())
    assert retryable(opts, ConnectionError())


def test_only_listed_exceptions_and_their_subclasses_are_retryable():
    opts = define(retry_on=(ConnectionError, TimeoutError)).options

    assert retryable(opts, ConnectionError())
    assert retryable(opts, ConnectionRefusedError())  # a subclass
    assert retryable(opts, TimeoutError())
    assert not retryable(opts, ValueError())
    assert not retryable(opts, KeyError("x"))


# --- with_options -----------------------------------------------------------------------------


def test_with_options_returns_a_changed_copy_and_leaves_the_original_alone():
    original = define(retries=2, timeout=30)

    changed = original.with_options(retries=5, cache=False)

    assert isinstance(changed, Task)
    assert changed is not original
    assert changed.fn is original.fn
    assert changed.name == "resize"
    assert (changed.options.retries, changed.options.timeout, changed.options.cache) == (5, 30, False)
    assert (original.options.retries, original.options.cache) == (2, True)
    assert changed(3, 2) == 6


def test_with_options_checks_the_new_values():
    with pytest.raises(
        DefinitionError, match=re.escape(f"@task resize at {where('define-task')}: retries must be")
    ):
        define().with_options(retries=-1)


def test_with_options_passes_the_trigger_rule_enum_through():
    assert (
        define().with_options(trigger_rule=TriggerRule.ALL_DONE).options.trigger_rule is TriggerRule.ALL_DONE
    )


@pytest.mark.parametrize(
    ("change", "attribute", "expected"),
    [
        ({"trigger_rule": "one_success"}, "trigger_rule", TriggerRule.ONE_SUCCESS),
        ({"retry_on": ValueError}, "retry_on", (ValueError,)),
        ({"retry_on": [ValueError]}, "retry_on", (ValueError,)),
        ({"tags": ["a", "b"]}, "tags", frozenset({"a", "b"})),
    ],
    ids=["trigger_rule-str", "retry_on-type", "retry_on-list", "tags-list"],
)
def test_with_options_normalises_values_like_task_does(change, attribute, expected):
    value = getattr(define().with_options(**change).options, attribute)

    assert value == expected
    assert type(value) is type(expected)


def test_with_options_rejects_a_bad_trigger_rule():
    with pytest.raises(DefinitionError, match=r"@task resize at .*trigger_rule 'sometimes' is not one of"):
        define().with_options(trigger_rule="sometimes")


def test_with_options_rejects_an_unknown_option_with_a_suggestion():
    with pytest.raises(
        DefinitionError, match=re.escape("unknown option 'retrys' (did you mean \"retries\"?)")
    ):
        define().with_options(retrys=2)


def test_a_with_options_trigger_rule_string_works_in_a_pipeline_graph():
    join = define().with_options(trigger_rule="one_success")

    @pipeline
    def p():
        return join(define()(1), 2)

    assert p.graph.to_dict()["nodes"][1]["trigger_rule"] == "one_success"

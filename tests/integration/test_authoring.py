"""Authoring features run for real: any callable as a task, expressions on task outputs,
pipeline-wide task defaults, nested configuration and sub-pipelines.

Pipelines are traced and run with ``suiro.run`` on a real executor and store (``SUIRO_HOME`` is a
``tmp_path``); results are read from the ``RunResult`` and the record.
"""

from __future__ import annotations

import functools
import operator
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest

import suiro
from suiro import RunState, TaskState, pipeline, task


def run(pipe: Any, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("executor", "threads")
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, **kwargs)


# --- any callable is a task -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [Mock(return_value=7), MagicMock(return_value=7), functools.partial(operator.add, 3, 4)],
    ids=["Mock", "MagicMock", "partial"],
)
def test_a_mock_or_any_callable_runs_as_a_task(fn):
    fake = task(fn)

    @pipeline
    def p():
        return fake()

    result = run(p)

    assert result.state is RunState.SUCCESS, result
    assert result.output == 7
    assert result.tasks["task"].state is TaskState.SUCCESS
    if isinstance(fn, Mock):
        fn.assert_called_once_with()
    node = p.graph.to_dict()["nodes"][0]
    assert node["function"] == (
        repr(fn) if isinstance(fn, Mock) else f"functools.partial({operator.add!r}, 3, 4)"
    )

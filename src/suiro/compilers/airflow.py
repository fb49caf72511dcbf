"""``suiro compile --target airflow``: an Airflow 3 DAG file whose every task runs ``suiro task-run``.

Each suiro task becomes a ``@task.bash`` task whose command is ``suiro task-run`` (the
``--suiro-command``, so the tasks run suiro's own install, not Airflow's Python): upstream output
references come in as XCom arguments (Airflow resolves them; a mapped task's arrive as a list),
the task's own reference is the last line it prints, pushed to XCom through
``output_processor``: XCom carries small JSON references only, data stays in the suiro store.
``map`` is ``.expand`` over the item indices a ``count`` task returns; a ``when`` guard the engine
can hold (``suiro.compilers.plan``) is a ``when`` check task and a ``ShortCircuitOperator`` in
front of its block, so Airflow skips the block; the other guards and every trigger rule are
decided again by ``suiro task-run`` from the states in the references, so suiro's semantics hold.
Schedule, catch-up and parameters come from ``suiro.compilers.airflow_dag``.

The file is generated text: every name, key and value in it is written with ``repr`` (never
pasted in as code), and every task's command is a constant shape. Must not run anything, and
imports no Airflow (the file is for Airflow's Python).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro.compilers import CompileError
from suiro.compilers.airflow_dag import dag_arguments, dag_id
from suiro.compilers.airflow_runtime import HELPERS
from suiro.compilers.plan import Guard, Plan, Step, plan
from suiro.states import TriggerRule

if TYPE_CHECKING:
    from suiro.graph import Graph, Node
    from suiro.pipeline import Pipeline

#: suiro's trigger rules as Airflow's. Airflow's ``one_success`` fires at the first success, before
#: the other inputs exist: suiro's waits for every upstream task, as ``all_done_min_one_success``.
RULES = {
    TriggerRule.ALL_SUCCESS: "all_success",
    TriggerRule.NONE_FAILED: "none_failed",
    TriggerRule.ALL_DONE: "all_done",
    TriggerRule.ONE_SUCCESS: "all_done_min_one_success",
}
#: Text Airflow's Jinja would read in a task's command.
_JINJA = ("{{", "{%", "{#")


def compile_airflow(
    pipe: Pipeline,
    output: Path,
    *,
    suiro_command: str | None = None,
    home: str | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:
    """Write ``pipe`` as an Airflow 3 DAG file at ``output``; see the module docstring.

    Args:
        suiro_command: how the tasks start suiro (``suiro``, or ``/venv/bin/python -m suiro``).
        home: ``SUIRO_HOME`` set in every task (default: the worker's environment).
        deployment: a saved deployment whose schedule, catch-up, params and max_active_runs the
            DAG takes (default: the pipeline's own ``schedule=``, if any).

    Raises:
        CompileError: the pipeline uses what Airflow cannot express, or an option is unusable.
    """
    from suiro.api import target_of

    if pipe.dynamic:
        raise CompileError(
            f"pipeline {pipe.name} is dynamic: its tasks are known only as it runs, and Airflow needs "
            "them before; make it a static @pipeline to compile it."
        )
    graph = pipe.graph
    _check(graph)
    words = shlex.split(suiro_command or "suiro")
    target = target_of(pipe)
    if not words or any(mark in word for word in words for mark in _JINJA):
        raise CompileError(
            f"--suiro-command {suiro_command!r} is empty or holds Jinja markers ({', '.join(_JINJA)}), "
            "which Airflow would render in every task's command; use a path without them."
        )
    arguments = dag_arguments(pipe, deployment=deployment)
    source = _Writer(graph, plan(graph), _task_ids(graph)).module(
        pipe, target, words, {"SUIRO_HOME": home} if home else {}, arguments
    )
    compile(source, str(output), "exec", dont_inherit=True)  # our own text: a syntax slip fails here
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(source, encoding="utf-8")
    return {"pipeline": pipe.name, "tasks": len(graph.nodes), "path": str(output)}


def _check(graph: Graph) -> None:
    """Every problem at once. A task that runs past a failure (``all_done``, ``one_success``) and is
    mapped or reads a mapped task would see the failed items missing, not failed: refused."""
    problems = []
    for node in graph.nodes.values():
        if node.trigger_rule in (TriggerRule.ALL_DONE, TriggerRule.ONE_SUCCESS) and (
            node.is_map or any(graph.nodes[up].is_map for up in node.upstream)
        ):
            problems.append(
                f"task {node.key} ({node.location}) has trigger_rule {node.trigger_rule.value} and is mapped "
                "or reads a mapped task, which Airflow cannot run past a failed item (the item would "
                "be missing, not failed); gather the items in a task of their own"
            )
    if problems:
        raise CompileError(f"cannot compile pipeline {graph.name} for Airflow: {'; '.join(problems)}.")


def _task_ids(graph: Graph) -> dict[str, str]:
    """Each task key's Airflow task id (letters, digits, ``_``, ``-``, ``.``), unique."""
    ids: dict[str, str] = {}
    for key in graph.nodes:
        base = re.sub(r"[^\w.-]+", "_", key, flags=re.ASCII)[:200] or "task"
        found, n = base, 1
        while found in ids.values():
            n += 1
            found = f"{base}_{n}"
        ids[key] = found
    return ids


class _Writer:
    """Writes the DAG file's text: header, helpers, then the tasks inside ``with DAG(...)``."""

    def __init__(self, graph: Graph, planned: Plan, ids: dict[str, str]):
        self.graph, self.plan, self.ids = graph, planned, ids
        self.checks: dict[str, str] = {}  # guard text -> its check task's variable expression
        self.gates: dict[Guard, str] = {}
        self.lines: list[str] = []
        self.taken: set[str] = set()

    def module(
        self,
        pipe: Pipeline,
        target: str,
        words: list[str],
        env: dict[str, str],
        arguments: dict[str, str],
    ) -> str:
        self.lines = ["", "with DAG("]
        self.lines += [f"    {name}={value}," for name, value in arguments.items()]
        self.lines += [
            ") as dag:",
            "    out = {}  # task key -> the XCom of its output reference (a list for a map)",
            "    count = {}  # mapped task key -> the XCom of its item indices",
            "    check, gate = {}, {}  # when guards: the test (task-run --mode when), the ShortCircuit",
        ]
        self._scope(())
        head = [
            f'"""Airflow DAG {_say(dag_id(pipe.name))}: the suiro pipeline {_say(pipe.name)}',
            f"({_say(target)}).",
            "",
            "Written by `suiro compile --target airflow`; compile again rather than edit it. Each task",
            "runs `suiro task-run`: its inputs are read from the suiro store by the output references",
            "its upstream tasks pushed to XCom, its output is written there and its reference pushed",
            "(small JSON), so data never travels through XCom. See docs/compile.md.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *_imports(arguments, self.lines, gates=bool(self.gates)),
            "",
            "#: How a task starts suiro (suiro compile --suiro-command): suiro's own install, not Airflow's.",
            f"SUIRO = {words!r}",
            "#: The pipeline, as suiro loads it.",
            f"TARGET = {target!r}",
            "#: Set in every task on top of the worker's environment (suiro compile --home).",
            f"ENV = {env!r}",
            "",
        ]
        return "\n".join(head) + HELPERS + "\n".join(self.lines) + "\n"

    def _scope(self, prefix: tuple[Guard, ...]) -> None:
        """The tasks whose guards are exactly ``prefix``, then each nested guard's gate and block."""
        steps = self.plan.steps.values()
        for step in steps:
            if step.scope == prefix:
                self._task(step)
        nested: list[Guard] = []
        for step in steps:
            inner = len(step.scope) > len(prefix) and step.scope[: len(prefix)] == prefix
            if inner and step.scope[len(prefix)] not in nested:
                nested.append(step.scope[len(prefix)])
        for guard in nested:
            self._gate(guard, prefix)
            self._scope((*prefix, guard))

    def _gate(self, guard: Guard, prefix: tuple[Guard, ...]) -> None:
        """A check task (``task-run --mode when``, shared by a guard and its ``~``) and a
        ``ShortCircuitOperator`` that skips the guard's block when it does not hold."""
        if guard.text not in self.checks:
            name = self._fresh("when")
            self.checks[guard.text] = f"check[{name!r}]"
            self.lines += [
                f"    # when {_say(guard.text)}: tested once by task-run (guard {guard.index} of "
                f"{_say(guard.node)})",
                f"    check[{name!r}] = task.bash(",
                f"        suiro_task, task_id={name!r}, task_display_name={f'when {guard.text}'[:200]!r},",
                "        output_processor=json.loads, skip_on_exit_code=None,",
                f"    )(key={guard.node!r}, inputs={self._inputs(guard.reads)},",
                f"      param_names={guard.params!r}, mode='when', condition={guard.index})",
            ]
            self._after(self.checks[guard.text], prefix)
        name = self._fresh("if")
        self.gates[guard] = f"gate[{name!r}]"
        self.lines += [
            f"    gate[{name!r}] = ShortCircuitOperator(",
            f"        task_id={name!r}, task_display_name={f'if {guard.label}'[:200]!r},",
            f"        python_callable={'fails' if guard.negate else 'holds'}, "
            f"op_args=[{self.checks[guard.text]}], ignore_downstream_trigger_rules=False,",
            "    )",
        ]

    def _fresh(self, prefix: str) -> str:
        """A task id for a guard's check or gate that no task of the pipeline has."""
        n = 1
        while f"{prefix}_{n}" in self.ids.values() or f"{prefix}_{n}" in self.taken:
            n += 1
        self.taken.add(f"{prefix}_{n}")
        return f"{prefix}_{n}"

    def _after(self, variable: str, scope: tuple[Guard, ...]) -> None:
        """``variable`` waits for the gate of the innermost guard around it (outer ones skip that gate)."""
        if scope:
            self.lines.append(f"    {self.gates[scope[-1]]} >> {variable}")

    def _task(self, step: Step) -> None:
        node = self.graph.nodes[step.key]
        key, task_id = step.key, self.ids[step.key]
        self.lines.append(f"    # {_say(key)} ({_say(_short_location(node))})")
        call = f"key={key!r}, inputs={self._inputs(step.reads)}, param_names={step.params!r}"
        if not node.is_map:
            self.lines += [f"    out[{key!r}] = task.bash(", *self._options(node, task_id), f"    )({call})"]
            self._after(f"out[{key!r}]", step.scope)
            return
        count = f"count[{key!r}]"
        self.lines += [
            f"    {count} = task.bash(",
            f"        suiro_task, task_id={task_id + '__items'!r}, output_processor=items,",
            "        skip_on_exit_code=None,",
            f"        trigger_rule={RULES[node.trigger_rule]!r},",
            f"    )({call}, mode='count')",
        ]
        self._after(count, step.scope)
        self.lines += [
            f"    out[{key!r}] = task.bash(",
            *self._options(node, task_id),
            f"    ).partial({call}).expand(index={count})",
        ]

    def _inputs(self, reads: tuple[str, ...]) -> str:
        return "{" + ", ".join(f"{up!r}: out[{up!r}]" for up in reads) + "}"

    def _options(self, node: Node, task_id: str) -> list[str]:
        """The task's Airflow settings: retries with backoff, timeout, trigger rule."""
        opts = node.task.options
        lines = [
            f"        suiro_task, task_id={task_id!r}, output_processor=json.loads,",
            "        skip_on_exit_code=None,",
            f"        trigger_rule={RULES[node.trigger_rule]!r}, retries={opts.retries},",
        ]
        if opts.retries:
            lines.append(f"        retry_delay=datetime.timedelta(seconds={opts.retry_delay!r}),")
            if opts.backoff != 1.0:
                lines.append(f"        retry_exponential_backoff={opts.backoff!r},")
            if opts.max_delay is not None:
                lines.append(f"        max_retry_delay=datetime.timedelta(seconds={opts.max_delay!r}),")
        if opts.timeout:
            lines.append(f"        execution_timeout=datetime.timedelta(seconds={opts.timeout!r}),")
        if opts.owner:
            lines.append(f"        owner={opts.owner!r},")
        return lines


def _imports(arguments: dict[str, str], lines: list[str], *, gates: bool) -> list[str]:
    """The file's imports: only what its ``DAG(...)`` arguments and tasks use."""
    code = "\n".join([*arguments.values(), *lines])
    sdk = [n for n in ("CronTriggerTimetable", "DeltaTriggerTimetable") if f"{n}(" in code]
    found = ["import datetime"] if "datetime." in code else []
    found += ["import json", "import os", "import shlex", ""]
    found += ["import pendulum"] if "pendulum." in code else []
    if gates:
        found.append("from airflow.providers.standard.operators.python import ShortCircuitOperator")
    found.append(
        f"from airflow.sdk import {', '.join(['DAG', *sdk, 'Param', 'get_current_context', 'task'])}"
    )
    return found


def _say(text: str) -> str:
    """``text`` safe inside a comment or a docstring: quotes, backslashes and line breaks escaped."""
    return json.dumps(str(text))[1:-1]


def _short_location(node: Node) -> str:
    path, _, line = node.location.rpartition(":")
    return f"{Path(path).name}:{line}" if path else node.location

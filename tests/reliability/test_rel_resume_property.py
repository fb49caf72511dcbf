"""R18: resume ≡ fresh. Whatever happened before, a run returns what a clean run would (G10).

Hypothesis draws a pipeline (chains and joins, ``map`` fan-outs, ``when`` branches, every
trigger rule), writes it as a file, and applies a sequence of operations to one suiro home:
runs with planned task failures and SIGKILLs, ``resume`` (with and without ``--set``),
plain re-runs, ``--fresh`` runs and edits of a task's code, each on a drawn executor.
Tasks are pure functions of their inputs and code; a planned failure only makes a task fail,
never return something else. So after every operation:

- each cache key recorded anywhere in the home maps to one output digest (no entry holds an
  output computed from other inputs), and
- a run that succeeded recorded, for every task, the output digest a ``--fresh`` run of the
  same code and parameters records in a clean home.

Each operation runs in a forked child (a crash kills the child, as it would a user's process),
which keeps an example to a fraction of a second. The default tier runs a fixed budget of
derandomized examples; the slow tier many more.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXECUTORS = ("sequential", "threads", "processes")
RULES = ("all_success", "one_success", "none_failed", "all_done")

HEADER = """
import os
from pathlib import Path

from suiro import pipeline, task, unmapped, when

PLAN = Path(__file__).with_name("plan")


def _fault(name):
    flag = PLAN / name
    if flag.exists():
        if flag.read_text() == "kill":
            flag.unlink()
            os.kill(os.getpid(), 9)
        raise RuntimeError(f"planned failure of {name}")


def _v(x):
    if x is None:
        return 0
    if isinstance(x, list):
        return sum(_v(i) for i in x)
    return int(x)

"""


@dataclass(frozen=True)
class NodeSpec:
    """One task of the drawn pipeline."""

    deps: tuple[int, ...]
    mapped: bool
    rule: str
    guard: tuple[int, bool] | None  # (node whose parity gates this one, negated)


@dataclass
class Op:
    """One operation on the home: what to plant, what to change, what to call."""

    kind: str  # run, fresh, resume, edit
    executor: str
    faults: dict[int, str] = field(default_factory=dict)  # node -> fail | kill
    n: int | None = None  # a new value of parameter n (run: --set; resume: --set)
    edit: int | None = None


def source(nodes: list[NodeSpec], constants: list[int]) -> str:
    """The pipeline file for ``nodes``, each task's code made distinct by its constant."""
    out = [HEADER]
    for i, node in enumerate(nodes):
        args = [f"x{d}" for d in node.deps] or ["n"]
        params = ", ".join([*args, "item"] if node.mapped else args)
        total = " + ".join(f"_v({a}) * {3 + k}" for k, a in enumerate(args))
        item = " + item * 11" if node.mapped else ""
        out.append(
            f'@task(trigger_rule="{node.rule}")\ndef t{i}({params}):\n    _fault("t{i}")\n'
            f"    return ({total}{item} + {constants[i]}) % 10007\n\n"
        )
        out.append(f"@task\ndef even{i}(x):\n    return _v(x) % 2 == 0\n\n")
    out.append("@pipeline\ndef drawn(n: int = 3, items: list[int] = [1, 2, 3]):\n")
    for i, node in enumerate(nodes):
        args = [f"x{d}" for d in node.deps] or ["n"]
        indent = "    "
        if node.guard is not None:
            j, negated = node.guard
            out.append(f"    g{i} = even{j}(x{j})\n")
            out.append(f"    with when({'~' if negated else ''}g{i}):\n")
            indent = "        "
        if node.mapped:
            call = f"t{i}.map({', '.join(f'unmapped({a})' for a in args)}, item=items)"
        else:
            call = f"t{i}({', '.join(args)})"
        out.append(f"{indent}x{i} = {call}\n")
    out.append(f"    return x{len(nodes) - 1}\n")
    return "".join(out)


@st.composite
def pipelines(draw: Callable) -> list[NodeSpec]:
    count = draw(st.integers(2, 5))
    nodes = []
    for i in range(count):
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=2)))) if i else ()
        guard = None
        if i and draw(st.booleans()) and draw(st.booleans()):
            guard = (draw(st.integers(0, i - 1)), draw(st.booleans()))
            deps = tuple(sorted({*deps, guard[0]}))  # the guard reads x{j}: keep it defined first
        nodes.append(NodeSpec(deps, draw(st.booleans()), draw(st.sampled_from(RULES)), guard))
    return nodes


@st.composite
def operations(draw: Callable, count: int) -> list[Op]:
    faults = st.dictionaries(st.integers(0, count - 1), st.sampled_from(("fail", "kill")), max_size=2)
    ops = [Op("run", draw(st.sampled_from(EXECUTORS)), draw(faults))]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("run", "fresh", "resume", "resume", "edit")))
        op = Op(kind, draw(st.sampled_from(EXECUTORS)), draw(faults))
        if kind in ("run", "resume") and draw(st.booleans()):
            op.n = draw(st.integers(1, 4))
        if kind == "edit":
            op.edit = draw(st.integers(0, count - 1))
        ops.append(op)
    return ops


def in_child(fn: Callable[[], object]) -> None:
    """Run ``fn`` in a forked child and wait for it (it may die of a planned SIGKILL).

    A run that fails is an outcome; an exception out of ``fn`` is a bug, reported here.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 0
        try:
            fn()
        except BaseException as exc:
            os.write(write, f"{type(exc).__name__}: {exc}".encode()[:4000])
            code = 3
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        error = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert not error, error
    assert os.WIFEXITED(status) or os.WTERMSIG(status) == signal.SIGKILL, status


def rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{home / 'suiro.db'}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def latest(home: Path) -> tuple[str, str, dict]:
    run_id, state, params = rows(home, "SELECT id, state, params FROM runs ORDER BY started DESC LIMIT 1")[0]
    return run_id, state, json.loads(params)


def digests(home: Path, run_id: str) -> dict[str, str]:
    """Each task's output digest in a run (a mapped task's: the digest of its items' list)."""
    found = rows(
        home,
        f"SELECT task_key, output_digest FROM task_runs WHERE run_id = '{run_id}'"
        " AND map_index = -1 AND output_digest IS NOT NULL",
    )
    return dict(found)


def one_output_per_key(home: Path) -> None:
    found = rows(
        home,
        "SELECT cache_key, group_concat(DISTINCT output_digest), group_concat(run_id || ':' || task_key)"
        " FROM task_runs WHERE cache_key IS NOT NULL AND output_digest IS NOT NULL"
        " AND state IN ('success', 'cached') GROUP BY cache_key HAVING count(DISTINCT output_digest) > 1",
    )
    assert not found, f"cache keys holding outputs of other inputs: {found}"


class World:
    """One home, its pipeline file, and clean-home references of what each run must record."""

    def __init__(self, root: Path, nodes: list[NodeSpec]):
        self.root = root
        self.nodes = nodes
        self.constants = [100 + i for i in range(len(nodes))]
        self.home = root / "home"
        self.file = root / "p.py"
        (root / "plan").mkdir()
        self.write()
        self.references: dict[tuple[str, str], dict[str, str]] = {}

    def write(self) -> None:
        self.file.write_text(source(self.nodes, self.constants))

    def plant(self, faults: dict[int, str]) -> None:
        for flag in (self.root / "plan").iterdir():
            flag.unlink()
        for i, kind in faults.items():
            (self.root / "plan" / f"t{i}").write_text(kind)

    def apply(self, op: Op) -> None:
        import suiro.api as api

        self.plant(op.faults)
        sets = [f"n={op.n}"] if op.n is not None else []
        if op.kind == "edit":
            self.constants[op.edit] += 1
            self.write()
        run_id, state, _ = latest(self.home) if op.kind in ("resume", "edit") else ("", "", {})
        if op.kind == "resume" and state == "success":
            return  # nothing to resume (a user runs instead: the "run" operation)
        if op.kind in ("resume", "edit") and state not in ("success", ""):  # an edit: fix the code, resume
            in_child(lambda: api.resume(run_id, overrides=sets, executor=op.executor, home=self.home))
        else:
            in_child(
                lambda: api.run(
                    str(self.file),
                    overrides=sets,
                    executor=op.executor,
                    fresh=op.kind == "fresh",
                    home=self.home,
                )
            )

    def reference(self, params: dict) -> dict[str, str]:
        """What a fresh run of the current code with ``params`` records in a clean home."""
        text = self.file.read_text()
        key = (text, json.dumps(params, sort_keys=True))
        if key not in self.references:
            clean = Path(tempfile.mkdtemp(dir=self.root))
            (clean / "plan").mkdir()
            (clean / "p.py").write_text(text)
            sets = [f"{k}={json.dumps(v)}" for k, v in params.items()]
            import suiro.api as api

            home = clean / "home"
            in_child(lambda: api.run(str(clean / "p.py"), overrides=sets, executor="sequential", home=home))
            run_id, state, _ = latest(home)
            assert state == "success", f"the clean reference run failed:\n{text}"
            self.references[key] = digests(home, run_id)
        return self.references[key]

    def check(self, op: Op) -> None:
        one_output_per_key(self.home)
        run_id, state, params = latest(self.home)
        if state == "success":
            got = digests(self.home, run_id)
            assert got == self.reference(params), (
                f"run {run_id} after {op} recorded other outputs than a fresh run of the same code "
                f"and parameters {params}:\n{self.file.read_text()}"
            )


def check_resume_equals_fresh(tmp_path: Path, nodes: list[NodeSpec], ops: list[Op]) -> None:
    world = World(Path(tempfile.mkdtemp(dir=tmp_path)), nodes)
    for op in ops:
        world.apply(op)
        world.check(op)


@st.composite
def scenarios(draw: Callable) -> tuple[list[NodeSpec], list[Op]]:
    nodes = draw(pipelines())
    return nodes, draw(operations(len(nodes)))


_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "database": None,
}


@settings(max_examples=8, derandomize=True, **_COMMON)
@given(scenario=scenarios())
def test_every_run_records_what_a_fresh_run_would(tmp_path, scenario):
    check_resume_equals_fresh(tmp_path, *scenario)


@pytest.mark.slow
@settings(max_examples=300, **_COMMON)
@given(scenario=scenarios())
def test_every_run_records_what_a_fresh_run_would_many_seeds(tmp_path, scenario):
    check_resume_equals_fresh(tmp_path, *scenario)

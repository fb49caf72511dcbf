"""Run ONE task of a pipeline outside suiro's runner: the entry point other engines call.

A compiled pipeline (Kubeflow Pipelines, Airflow) lets its engine order the tasks, retry them and
run them where it likes; each of its tasks calls ``suiro task-run`` (or ``run_task``) with the
pipeline's target, the task's key, its map index, the parameter values it reads and the output
references of the tasks it reads. The task's inputs are loaded from the suiro artifact store by
digest (verified), its output is written there, and what travels back through the engine is
only a small JSON *output reference* (digest, serializer, size, kind; small JSON values inline),
so the engine never carries a data frame or a model, and has no size ceiling.

The store is found through ``SUIRO_HOME`` (or ``home=``): on one machine, a folder every task
can reach; on a cluster, a shared volume. ``when`` guards and trigger rules that the engine
cannot express are decided here, from the states inside the references (a skipped upstream
hands on a ``{"state": "skipped"}`` reference). Nothing is recorded in the database: the engine
keeps the run's history; the outputs are ordinary content-addressed objects.

Must not order tasks, retry or cache: the engine does.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro.errors import DefinitionError, SuiroError

if TYPE_CHECKING:
    from suiro.graph import Node
    from suiro.store.artifacts import ArtifactMeta

#: The version of the output-reference format (a reader refuses one it does not know).
REF_VERSION = 1
#: Which question a call answers: run the task, count a mapped task's items, or test one guard.
MODES = ("run", "count", "when")


class TaskRunError(SuiroError, RuntimeError):
    """A task run by ``suiro task-run`` failed, or its inputs could not be read."""


def run_task(
    target: str,
    key: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    index: int = -1,
    mode: str = "run",
    condition: int = 0,
    home: str | Path | None = None,
    run_id: str | None = None,
    artifacts: Mapping[str, Any] | None = None,
) -> Any:
    """Run (or count, or test a guard of) one task of a pipeline, with its inputs from the store.

    Args:
        target: the pipeline, ``file.py[:name]`` or ``module:name`` (as for ``suiro run``).
        key: the task's key in the pipeline's graph (``suiro graph`` lists them).
        inputs: for each upstream task key the task reads, its output reference (a dict, or the
            JSON text of one), or a list of item references for a mapped upstream task.
        params: the values of the pipeline parameters the task reads.
        index: the item of a mapped task to run (-1 for a task that is not mapped).
        mode: ``run`` returns the output reference; ``count`` a mapped task's item indices
            ``[0, ..., n-1]`` (or the skipped reference if the task is skipped); ``when`` whether
            the task's guard number ``condition`` holds.
        home: the suiro home whose artifact store holds the outputs (default ``$SUIRO_HOME``).
        run_id: the engine's run id, told to the task (``suiro.context().run_id``).
        artifacts: engine artifacts (objects with ``path`` and ``metadata``) to write copies of
            the output into: ``<return>`` the stored value, ``<metrics>`` the logged metrics
            (``log_metric``), any other name the ``Output[...]`` file of that name.

    Raises:
        TaskRunError: the task failed, or an input reference is unreadable.
        DefinitionError: the task key, mode or index does not fit the pipeline.
    """
    from suiro.api import load_pipeline

    if mode not in MODES:
        raise DefinitionError(f"task-run mode {mode!r} is not one of {', '.join(MODES)}.")
    pipe = load_pipeline(target)
    node = _node(pipe.graph.nodes, key, pipe.name)
    root = Path(home) if home is not None else _home()
    values, states = _load_inputs(root, key, inputs or {})
    params = dict(params or {})
    if mode == "when":
        return _holds(node, condition, params, values, states)
    skipped = _skip(node, params, values, states)
    if skipped:  # also for count: a skipped mapped task has no items to count
        return {"suiro": REF_VERSION, "state": "skipped"}
    calls = _calls(node, params, values)
    if mode == "count":
        return list(range(len(calls)))
    if node.is_map and not 0 <= index < len(calls):
        raise DefinitionError(
            f"task {key} is mapped over {len(calls)} items: --index {index} is out of range."
        )
    if not node.is_map and index != -1:
        raise DefinitionError(f"task {key} is not mapped: drop --index {index}.")
    args, kwargs = calls[index if node.is_map else 0]
    _ensure_records(root)
    return _execute(node, root, args, kwargs, index=index, params=params, run_id=run_id, artifacts=artifacts)


def _home() -> Path:
    from suiro.store.db import home_dir

    return home_dir()


def _ensure_records(root: Path) -> None:
    """Make the home's database before the first output lands: a task that opens the store (the
    registry, a nested run) would otherwise find outputs without records and refuse them."""
    if os.environ.get("SUIRO_DB") or (root / "suiro.db").exists():
        return
    from suiro.store.home import Store

    Store(root, quick_check=False).close()


def _node(nodes: Mapping[str, Node], key: str, pipeline: str) -> Node:
    if key in nodes:
        return nodes[key]
    from suiro.errors import did_you_mean

    raise DefinitionError(
        f"pipeline {pipeline} has no task {key!r}{did_you_mean(key, nodes)}; see suiro graph."
    )


def _load_inputs(root: Path, key: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each upstream output loaded from its reference, and the state it ended in.

    An empty reference (``""``) stands for a task that failed: the engine ran this one anyway
    (an ``all_done`` task), passing its input's default.
    """
    values: dict[str, Any] = {}
    states: dict[str, str] = {}
    for source, ref in inputs.items():
        if ref in ("", None):
            values[source], states[source] = None, "failed"
            continue
        ref = json.loads(ref) if isinstance(ref, str) else ref
        if isinstance(ref, list):  # a mapped upstream task: its items, in order
            items = [json.loads(r) if isinstance(r, str) else r for r in ref]
            skipped = any(isinstance(r, dict) and r.get("state") == "skipped" for r in items)
            values[source] = None if skipped else [_load(root, key, source, r) for r in items]
            states[source] = "skipped" if skipped else "success"
        else:
            values[source] = _load(root, key, source, ref)
            states[source] = ref.get("state", "success") if isinstance(ref, dict) else "success"
    return values, states


def _load(root: Path, key: str, source: str, ref: Any) -> Any:
    """One output's value (None for a skipped task), verified against its digest."""
    from suiro.store.locations import artifacts_location
    from suiro.store.outputs import Fetch

    if not isinstance(ref, dict) or ref.get("suiro") != REF_VERSION:
        raise TaskRunError(
            f"task {key}: the input from {source} is not a suiro output reference (got {str(ref)[:80]!r}); "
            "pass what suiro task-run printed for that task."
        )
    if ref.get("state") == "skipped":
        return None
    meta = ref_meta(ref)
    return Fetch(artifacts_location(root), 16_384, meta, about=f"the output of task {source}")()


def ref_meta(ref: Mapping[str, Any]) -> ArtifactMeta:
    """The artifact an output reference names."""
    from suiro.store.artifacts import ArtifactMeta

    inline = ref.get("inline")
    return ArtifactMeta(
        ref["digest"],
        ref["serializer"],
        ref["size"],
        ref["kind"],
        inline=None if inline is None else inline.encode(),
    )


def load_ref(ref: Any, home: str | Path | None = None) -> Any:
    """The value behind an output reference (or a list of them), e.g. a compiled run's final output."""
    root = Path(home) if home is not None else _home()
    values, _ = _load_inputs(root, "<caller>", {"output": ref})
    return values["output"]


def _holds(
    node: Node, condition: int, params: dict[str, Any], values: dict[str, Any], ran: dict[str, str]
) -> bool:
    """Whether the guard's expression is true (False when what it reads was skipped)."""
    from suiro.rules import resolve

    if not 0 <= condition < len(node.conditions):
        raise DefinitionError(
            f"task {node.key} has {len(node.conditions)} when guards: no guard {condition}."
        )
    cond = node.conditions[condition]
    if not all(ran.get(source) == "success" for source in cond.sources):
        return False
    return bool(resolve(cond.use, params, values))


def leave_without_teardown() -> None:
    """Once this process's task has ended well, let it exit without the interpreter's teardown.

    pyarrow's thread pools now and then abort a process at interpreter exit after a Parquet read
    (``std::terminate`` on a still-joinable native thread: apache/arrow#34314), after all the work
    is done and written. An engine that runs one task per process (KFP, Airflow) would record the
    task failed. So after a success, the last exit handler (registered here, it runs first) flushes
    the output and leaves with status 0, unless an unhandled exception is on its way out (the
    engine's own failure after ours: then the normal exit reports it).
    """
    atexit.register(_leave_if_well)


def _leave_if_well() -> None:
    if getattr(sys, "last_value", None) is not None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def component_call(
    target: str,
    key: str,
    mode: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    index: int | str,
    condition: int,
    encoded: tuple[str, ...] = (),
    artifacts: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> Any:
    """What a compiled KFP component's body calls: ``run_task``, the output reference as JSON text.

    A mapped task's items travel as JSON texts ``{"index": i, "inputs": {...}}`` (``count``
    returns them, each loop iteration gets one): the loop body then takes no task output from
    outside the loop, which ``kfp.local`` (2.17) would replace with the loop item. The store is
    ``$SUIRO_HOME``; the run id the engine's (KFP's run uuid), else ``$SUIRO_RUN_ID``. ``encoded`` parameters
    came as JSON text (KFP holds no None): decoded here, and text that is not JSON is taken as is.
    ``artifacts`` are the component's typed KFP outputs (``suiro.compilers.kfp.artifact_outputs``).
    """
    params = {k: decode_param(v) if k in encoded else v for k, v in params.items()}
    if isinstance(index, str):
        item = json.loads(index)
        if item.get("skipped"):  # the whole mapped task was skipped: its one item says so
            return json.dumps({"suiro": REF_VERSION, "state": "skipped"}, sort_keys=True)
        index, inputs = item["index"], item["inputs"]
    result = run_task(
        target,
        key,
        inputs=inputs,
        params=params,
        index=index,
        mode=mode,
        condition=condition,
        run_id=run_id or os.environ.get("SUIRO_RUN_ID"),
        artifacts=artifacts,
    )
    leave_without_teardown()
    if mode == "count" and isinstance(result, dict):  # skipped: one item that hands on the skip
        return [json.dumps({"index": -1, "skipped": True})]
    if mode == "count":
        return [json.dumps({"index": i, "inputs": dict(inputs)}, sort_keys=True) for i in result]
    return json.dumps(result, sort_keys=True) if mode == "run" else result


def _skip(node: Node, params: dict[str, Any], values: dict[str, Any], ran: dict[str, str]) -> bool:
    """Whether the task ends skipped: by its trigger rule over the upstream states it was given,
    then by the guards whose sources it was given (the engine decided the others)."""
    from suiro.rules import apply_rule, resolve
    from suiro.states import TaskState

    states = [TaskState(state) for state in ran.values()]
    if apply_rule(node.trigger_rule, states) is not None:
        return True
    for cond in node.conditions:
        if not all(source in values for source in cond.sources):
            continue
        if any(ran[source] != "success" for source in cond.sources):
            return True
        if bool(resolve(cond.use, params, values)) == cond.negate:
            return True
    return False


def _calls(
    node: Node, params: dict[str, Any], values: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    from suiro.mapping import split_mapped
    from suiro.rules import resolve

    args = tuple(resolve(b, params, values) for b in node.args)
    kwargs = {k: resolve(b, params, values) for k, b in node.kwargs.items()}
    return split_mapped(node.key, args, kwargs) if node.is_map else [(args, kwargs)]


def _execute(
    node: Node,
    root: Path,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    index: int,
    params: dict[str, Any],
    run_id: str | None,
    artifacts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One attempt, its lines printed for the engine's log, its output stored; the reference."""
    from suiro.executors.base import Work, execute
    from suiro.runinfo import RunInfo, new_run_id
    from suiro.store.locations import artifacts_location, open_artifacts
    from suiro.store.outputs import Finalizer

    location = artifacts_location(root)
    open_artifacts(location).check_reachable()  # the folder made, or the bucket there: one sentence if not
    work = Work(
        fn=node.task.fn,
        args=args,
        kwargs=kwargs,
        run=RunInfo(run_id=run_id or new_run_id(), home=str(root)),
        task_key=node.key,
        attempt=1,
        map_index=index,
        params=params,
        finalize=Finalizer(location, 16_384),
        serializer=node.task.options.serializer,
        outputs=node.task.outputs,
    )
    with _time_limit(node.task.options.timeout, work.label()):
        outcome = execute(work)
    for line in outcome.lines:
        print(line)
    if outcome.error is not None:
        print(outcome.error.traceback, end="")
        raise TaskRunError(f"task {work.label()} failed: {outcome.error}")
    meta = outcome.artifact
    if artifacts:
        _export(root, meta, outcome.metrics, artifacts)
    ref: dict[str, Any] = {
        "suiro": REF_VERSION,
        "state": "success",
        "digest": meta.digest,
        "serializer": meta.serializer,
        "size": meta.size,
        "kind": meta.kind,
    }
    if meta.inline is not None:
        ref["inline"] = meta.inline.decode()
    return ref


@contextmanager
def _time_limit(seconds: float | None, label: str) -> Iterator[None]:
    """Stop the task with ``TaskTimeoutError`` after its ``timeout`` (the engine may have no such
    setting: KFP v2 has none). A timer signal, so only in the main thread, where engines run us."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    from suiro.errors import TaskTimeoutError

    def stop(signum: int, frame: Any) -> None:
        raise TaskTimeoutError(f"task {label} ran past its timeout of {seconds:g} s and was stopped.")

    previous = signal.signal(signal.SIGALRM, stop)
    started = time.monotonic()
    earlier, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # someone else's alarm: put back after
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:
            signal.setitimer(signal.ITIMER_REAL, max(earlier - (time.monotonic() - started), 0.001))


def _export(root: Path, meta: ArtifactMeta, metrics: Any, artifacts: Mapping[str, Any]) -> None:
    """Copies of the output for the engine's typed artifacts (its UI shows them; readers use refs)."""
    from suiro.store.files import file_entries
    from suiro.store.locations import artifacts_location, open_artifacts

    store = open_artifacts(artifacts_location(root))
    entries = {e["name"]: e for e in file_entries(meta.inline or b"")} if meta.serializer == "files" else {}
    for what, artifact in artifacts.items():
        if what == "<metrics>":
            for name, value, *_ in metrics:
                artifact.log_metric(name, value)
            continue
        entry = entries.get(what) if what != "<return>" else None
        digest, size, kind = (
            (entry["digest"], entry["size"], entry["kind"]) if entry else (meta.digest, meta.size, meta.kind)
        )
        if entry is None and meta.inline is not None:
            Path(artifact.path).parent.mkdir(parents=True, exist_ok=True)
            Path(artifact.path).write_bytes(meta.inline)
        else:
            store.copy_out(digest, size, Path(artifact.path))
        artifact.metadata.update((entry or {}).get("metadata") or {})
        if kind != "Metrics":  # a Metrics artifact's metadata holds only the metrics
            artifact.metadata.update(
                {"suiro_digest": digest, "suiro_kind": kind, "suiro_serializer": meta.serializer}
            )


def decode_param(text: Any) -> Any:
    """A parameter passed as JSON text (``null``, ``[1, null]``); text that is not JSON, as is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def write_result(result: Any, path: str | None) -> str:
    """``result`` as one line of JSON, also written to ``path`` (made with its folder) if given."""
    text = json.dumps(result, sort_keys=True)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    return text

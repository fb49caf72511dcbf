"""The library calls the CLI is made of: load a pipeline file, run a pipeline.

Owns the wiring (parameters -> runner -> executor -> observers). Everything the
CLI does is one of these calls, so a user can do the same from Python.
"""

from __future__ import annotations

import dataclasses
import importlib
import signal
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro import collector, notices, secrets
from suiro.cancel import Cancellation, handling_signals, is_default_sigint
from suiro.context import routed_streams, run_home
from suiro.errors import PipelineNotFoundError, ResumeConflictError, SuiroError, did_you_mean
from suiro.events import RunObserver
from suiro.executors import DEFAULT_EXECUTOR, Executor, make_executor
from suiro.hooks import Hooks
from suiro.pipeline import Pipeline
from suiro.runinfo import RunInfo, Scheduled, new_run_id
from suiro.runner import Runner, RunResult
from suiro.states import RunState

if TYPE_CHECKING:
    from suiro.memo import OutputStore
    from suiro.store.home import Store
    from suiro.store.recorder import Recorder

#: The pipeline ``suiro run`` runs when no file is given.
BUILTIN = "suiro.ml.pipeline:training"


def run(
    target: Pipeline | str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    executor: str | Executor | None = None,
    workers: int | None = None,
    fail_fast: bool = False,
    fresh: bool = False,
    recompute_corrupt: bool = False,
    observers: Sequence[RunObserver] = (),
    run_id: str | None = None,
    record: bool = True,
    home: str | Path | None = None,
    new_records: bool = False,
    cancel: Cancellation | None = None,
    scheduled: Scheduled | None = None,
) -> RunResult:
    """Run a pipeline once and return its result (it does not raise when the run fails).

    Ctrl-C (called from the main thread, with Python's own SIGINT handler in place) cancels
    the run: its workers are killed, it is recorded ``cancelled``, then ``KeyboardInterrupt``
    is raised. A second Ctrl-C raises at once (the run is still recorded ``cancelled``).

    Args:
        target: a ``Pipeline``, or ``"file.py[:name]"`` / ``"module:name"`` to load one;
            None runs the built-in pipeline.
        params: parameter values (above env and config file, below ``overrides``).
        config_file: YAML file of parameter values.
        overrides: ``"name=value"`` strings, as given to ``--set``.
        environ: where ``SUIRO_PARAM_*`` are read (default ``os.environ``).
        executor: ``sequential``, ``threads``, ``processes``, or an ``Executor``; None uses
            the pipeline's own choice (``@pipeline(executor=...)``), else ``threads``.
        workers: how many attempts run at once (None: the executor's default).
        fail_fast: stop starting new tasks after the first failure.
        fresh: ignore cached outputs (run every task).
        recompute_corrupt: re-hash every output before reusing it; a corrupt one is moved
            aside and its task runs again, instead of failing the task that reads it.
        observers: receive every event of the run.
        run_id: use this id instead of a new one.
        record: keep the run in the store (database, artifacts, logs); False keeps
            everything in memory and caches nothing.
        home: the suiro home (default: inside a task, the home its run records into; else
            ``$SUIRO_HOME`` or ``./.suiro``).
        new_records: start a new database although the home's outputs or logs show that its
            records were lost (deleted or emptied ``suiro.db``); refused otherwise.
        cancel: stop the run when it is requested (e.g. from another thread); the run then
            returns in state ``cancelled``, without raising. The CLI passes one its SIGINT and
            SIGTERM handlers request.
        scheduled: the deployment and logical time this run stands for (the scheduler, backfill
            and triggers pass it; recorded with the run, seen by tasks in ``suiro.context()``).

    Raises:
        ParameterError: a parameter is missing, unknown or invalid.
        PipelineNotFoundError: ``target`` cannot be loaded.
        StoreError: the database is damaged (``DatabaseDamagedError``), its records are missing
            beside stored outputs (``RecordsMissingError``), or it cannot be written.
        KeyboardInterrupt: Ctrl-C, after the run was recorded ``cancelled``.
    """
    from suiro.config import resolve_params

    pipe = target if isinstance(target, Pipeline) else load_pipeline(target)
    values = resolve_params(
        pipe.params,
        pipeline=pipe.name,
        config_file=config_file,
        environ=environ,
        overrides=overrides,
        values=params,
        scheduled=scheduled,
    )
    return _execute(
        pipe,
        values,
        executor=executor,
        workers=workers,
        fail_fast=fail_fast,
        fresh=fresh,
        recompute_corrupt=recompute_corrupt,
        observers=observers,
        run_id=run_id,
        record=record,
        home=run_home(home),
        new_records=new_records,
        cancel=cancel,
        scheduled=scheduled,
    )


def resume(
    run_id: str | None = None,
    *,
    last: str | None = None,
    pipeline: Pipeline | None = None,
    params: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    executor: str | Executor | None = None,
    workers: int | None = None,
    fail_fast: bool = False,
    recompute_corrupt: bool = False,
    observers: Sequence[RunObserver] = (),
    home: str | Path | None = None,
    cancel: Cancellation | None = None,
    new_run_id: str | None = None,
) -> RunResult:
    """Run again only what did not succeed in a failed, crashed or cancelled run, as a new linked run.

    A task reuses that run's recorded output only if it would be computed from exactly the
    same code, options, parameters and inputs now (its cache key is unchanged); a task whose
    key changed (``overrides``, an edited task, an upstream that now ends differently) runs
    again, and so do tasks that were running when it was cancelled or crashed. Parameters are
    the original run's unless overridden, and so is the executor. A run is resumed once at a
    time, and not again once a resume of it succeeded. Ctrl-C and ``cancel`` behave as in ``run``.

    Args:
        run_id: the run to resume (id, unique prefix/suffix, or ``last``).
        last: instead of ``run_id``, ``FILE.py[:PIPELINE]`` whose latest unsuccessful run to resume.
        pipeline: the pipeline object, for runs started from Python with one.
        recompute_corrupt: re-hash every output before reusing it; corrupt ones are redone.
        new_run_id: the id of the new run (default: a new one); the web UI names it before the
            process that resumes starts, to show its page at once.

    Raises:
        RunNotFoundError: no such run, or nothing to resume.
        ResumeConflictError: the run is being resumed, or a resume of it succeeded.
        SuiroError: the run succeeded or is still running.
    """
    from suiro.config import resolve_params
    from suiro.store.home import Store

    home = run_home(home)
    store = Store(home)
    run = run_to_resume(run_id, last=last, pipeline=pipeline, store=store)
    if pipeline is None:
        if not run["target"]:
            raise SuiroError(
                f"run {run['id']} was started with a pipeline object; pass it: resume(..., pipeline=p)."
            )
        pipeline = load_pipeline(run["target"])
    base = {k: v for k, v in run["params"].items() if k in {p.name for p in pipeline.params}}
    values = resolve_params(
        pipeline.params,
        pipeline=pipeline.name,
        environ={},
        overrides=overrides,
        values={**base, **(params or {})},
        scheduled=scheduled_of(run),
    )
    return _execute(
        pipeline,
        values,
        executor=executor or run["executor"],
        workers=workers,
        fail_fast=fail_fast,
        fresh=False,
        recompute_corrupt=recompute_corrupt,
        observers=observers,
        run_id=new_run_id,
        record=True,
        home=home,
        parent_run_id=run["id"],
        store=store,
        cancel=cancel,
        scheduled=scheduled_of(run),
    )


def run_to_resume(
    run_id: str | None = None,
    *,
    last: str | None = None,
    pipeline: Pipeline | None = None,
    store: Store | None = None,
    home: str | Path | None = None,
) -> dict[str, Any]:
    """The recorded run ``resume`` would resume (its params, target and executor), checked.

    Dead runs are reaped first (recorded ``crashed``, announced once), so a run whose process
    died can be resumed at once.

    Raises:
        RunNotFoundError: no such run, or nothing to resume.
        ResumeConflictError: the run is being resumed, or a resume of it succeeded.
        SuiroError: the run succeeded or is still running.
    """
    from suiro import crashes
    from suiro.store import queries
    from suiro.store.home import Store

    store = store or Store(run_home(home))
    crashes.reap(store.db)
    if last is not None:
        pipeline = pipeline or load_pipeline(last)
        run_id = queries.find_resumable(store.reader, pipeline.name)
    run = queries.get_run(store.reader, run_id or "last")
    if run["state"] == "running":
        raise SuiroError(
            f"run {run['id']} is still running (pid {run['pid']}); wait for it or stop it first."
        )
    if run["state"] == "success":
        raise SuiroError(
            f"run {run['id']} succeeded; there is nothing to resume (use `suiro run` to run again)."
        )
    conflict = queries.resume_conflict(store.reader, run["id"])
    if conflict is not None:  # checked again, atomically, when the resume records its start
        raise ResumeConflictError(conflict)
    return run


def _execute(
    pipe: Pipeline,
    values: dict[str, Any],
    *,
    executor: str | Executor | None,
    workers: int | None,
    fail_fast: bool,
    fresh: bool,
    recompute_corrupt: bool,
    observers: Sequence[RunObserver],
    run_id: str | None,
    record: bool,
    home: str | Path | None,
    parent_run_id: str | None = None,
    store: Store | None = None,
    new_records: bool = False,
    cancel: Cancellation | None = None,
    scheduled: Scheduled | None = None,
) -> RunResult:
    secrets.warn_short()  # here, on the terminal: not in a worker, not into a task's log
    info = RunInfo(run_id=run_id or new_run_id(), scheduled=scheduled)
    outputs: OutputStore | None = None
    recorder: Recorder | None = None
    opened = record and store is None  # closed here at the end; a caller's store is the caller's
    if record:
        from suiro.store.home import Store

        store = store or Store(home, new_records=new_records)
        info, outputs, recorder = _recording(
            store, info, pipe=pipe, parent_run_id=parent_run_id, verify=recompute_corrupt
        )
    routes = notices.routes_for_run(pipe.notify, scheduled, store.db if store is not None else None)
    hooks = Hooks(pipe, routes=routes, db=store.db if store is not None else None, scheduled=scheduled)
    observers = [
        *([recorder] if recorder is not None else []),
        *observers,
        *([hooks] if hooks.listens else []),  # most runs have no hook and nothing to arm
    ]
    chosen = executor or pipe.executor or DEFAULT_EXECUTOR
    ex = make_executor(chosen, workers) if isinstance(chosen, str) else chosen
    # Ctrl-C from Python is handled like the CLI's SIGINT for the run, then raised as usual.
    ctrl_c = cancel is None and is_default_sigint()
    cancel = cancel or Cancellation()

    def force_stop() -> None:  # a second request, or a KeyboardInterrupt past the runner
        ex.cancel()
        if recorder is not None:
            recorder.finish_now(cancel.detail or "cancelled by KeyboardInterrupt")

    cancel.on_force(force_stop)
    signals = handling_signals(cancel, (signal.SIGINT,), raise_again=True) if ctrl_c else nullcontext()
    collector.hold()  # the run's state for a big graph, all kept to its end, starts no full collections
    try:
        options: dict[str, Any] = dict(
            run=info,
            observers=observers,
            outputs=outputs,
            fresh=fresh,
            fail_fast=fail_fast,
            cancel=cancel,
            timeout=pipe.timeout,
        )
        if pipe.dynamic:  # its body runs now, its calls driving the same loop
            from suiro.dynamic import DynamicRunner

            graph = dataclasses.replace(pipe.graph, nodes={})  # each run grows its own
            runner: Runner = DynamicRunner(
                graph, values, ex, body=pipe.fn, task_defaults=pipe.task_defaults, **options
            )
        else:
            runner = Runner(pipe.graph, values, ex, **options)
        hooks.bind(runner.graph)
        with routed_streams(), signals:
            result = runner.run()
    except KeyboardInterrupt:
        force_stop()
        raise
    finally:
        collector.release()
        if ex is not executor:  # made here
            ex.shutdown()
    # The run is recorded: what follows can tell people about it, never change it.
    hooks.run_ended(result)
    notices.run_ended(
        result,
        pipeline=pipe.name,
        routes=routes,
        db=store.db if store is not None else None,
        scheduled=scheduled,
    )
    if opened and store is not None:
        store.close()
    if ctrl_c and result.state is RunState.CANCELLED:
        raise KeyboardInterrupt
    return result


def _recording(
    store: Store, info: RunInfo, *, pipe: Pipeline, parent_run_id: str | None, verify: bool
) -> tuple[RunInfo, OutputStore, Recorder]:
    """What a run recorded in ``store`` needs from it: its ``RunInfo`` (the log folder is made
    here), where its outputs go and are found again, and its recorder."""
    from suiro import crashes
    from suiro.store import queries

    store.artifacts.check_reachable()  # a missing bucket or refused credentials: before anything runs
    # A run whose process died is recorded crashed, and what it finished is listed in the cache
    # index (``suiro.store.cache_index``), so this run reuses it. Quiet: on a full disk or a
    # read-only home this run's own first write says so, in one sentence.
    crashes.reap(store.db, quiet=True)
    store.artifacts.sweep_temp()  # temp files a crashed writer left behind
    info = RunInfo(
        run_id=info.run_id,
        scheduled=info.scheduled,
        parent_run_id=parent_run_id,
        root_run_id=queries.root_of(store.db, parent_run_id) if parent_run_id else None,
        target=target_of(pipe),
        home=str(store.home),
        db_url=store.db.address,
        artifacts=str(store.artifacts.root),
        log_dir=str(store.log_dir(info.run_id)),
    )
    return info, store.outputs(parent_run_id=parent_run_id, verify=verify), store.recorder()


def scheduled_of(run: Mapping[str, Any]) -> Scheduled | None:
    """The scheduled part of a recorded run (None: it was started by hand); a resume keeps it."""
    if not run.get("deployment"):
        return None
    return Scheduled(
        deployment=run["deployment"],
        logical_time=run["logical_time"],
        interval_start=run["interval_start"],
        interval_end=run["interval_end"],
        trigger=run["trigger"] or "schedule",
        timezone=run.get("timezone") or "UTC",
    )


def target_of(pipe: Pipeline) -> str:
    """How to load ``pipe`` again later (for resume): ``module:name`` or ``/abs/file.py:name``."""
    module = pipe.fn.__module__
    if module and not module.startswith("suiro_user_") and module != "__main__":
        return f"{module}:{pipe.name}"
    return f"{pipe.fn.__code__.co_filename}:{pipe.name}"


def load_pipeline(target: str | None = None) -> Pipeline:
    """Load a pipeline from ``"path/file.py[:name]"`` or ``"package.module:name"``.

    Without a name, the file must define exactly one pipeline. ``None`` loads the
    built-in pipeline.

    Raises:
        PipelineNotFoundError: the file or module is missing, fails to import,
            or does not define the named pipeline.
    """
    target = target or BUILTIN
    path_part, _, name = target.partition(":") if not _is_windows_drive(target) else (target, "", "")
    found = pipelines_in(path_part)
    if name:
        if name not in found:
            where = ", ".join(sorted(found)) or "none"
            raise PipelineNotFoundError(
                f"{path_part} has no pipeline {name!r}{did_you_mean(name, found)}; pipelines there: {where}."
            )
        return found[name]
    if len(found) > 1:  # the sub-pipelines another pipeline of the file calls are not candidates
        called = {g.pipeline for p in found.values() for g in p.graph.groups.values()}
        found = {n: p for n, p in found.items() if n not in called} or found
    if len(found) != 1:
        detail = "defines no @pipeline" if not found else f"defines {len(found)} ({', '.join(sorted(found))})"
        raise PipelineNotFoundError(f"{path_part} {detail}; name one as {path_part}:NAME.")
    return next(iter(found.values()))


def pipelines_in(source: str) -> dict[str, Pipeline]:
    """Every pipeline a file (``path/file.py``) or module (``package.module``) defines, by name.

    Raises:
        PipelineNotFoundError: the file or module is missing or fails to import.
    """
    if source.endswith(".py") or "/" in source or Path(source).is_file():
        module = _import_file(Path(source))
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise PipelineNotFoundError(f"cannot import module {source!r}: {exc}; check the name.") from exc
    return {obj.name: obj for obj in vars(module).values() if isinstance(obj, Pipeline)}


def _import_file(path: Path) -> Any:
    import importlib.util  # not at the top: a run of a pipeline object never needs it

    if not path.is_file():
        raise PipelineNotFoundError(f"pipeline file {path} does not exist; check the path.")
    resolved = path.resolve()
    module_name = "suiro_user_" + "".join(c if c.isalnum() else "_" for c in resolved.stem)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise PipelineNotFoundError(f"{path} cannot be loaded as a Python file; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(resolved.parent)
    if folder not in sys.path:  # a module beside the file is importable, as with `python file.py`;
        # appended, not first: a process that loads many files (tests, a notebook) must not let a
        # file in one of their folders shadow a module it imports later (worker processes take
        # sys.path from the runner)
        sys.path.append(folder)
    try:
        spec.loader.exec_module(module)
    except SuiroError:
        raise
    except Exception as exc:
        del sys.modules[module_name]
        raise PipelineNotFoundError(f"{path} failed to import: {type(exc).__name__}: {exc}.") from exc
    import cloudpickle

    # The file is not importable by name in worker processes: ship its functions by value.
    cloudpickle.register_pickle_by_value(module)
    return module


def _is_windows_drive(target: str) -> bool:
    return (
        len(target) > 1
        and target[1] == ":"
        and target[0].isalpha()
        and len(target) > 2
        and target[2] in "\\/"
    )

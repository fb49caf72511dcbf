"""``shell()``: a command run as a task, as Airflow's ``BashOperator`` runs one.

Owns the authoring side: ``shell()`` makes a task node of a command when called inside a
``@pipeline`` (and runs it at once outside one, as any task call does), checks what is known
while tracing (the command, ``env``, ``cwd``, the task options) and names the task. How a command
runs, is stopped and fails is ``suiro.command``'s. Runs nothing while tracing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from suiro.command import COMMAND_KINDS, is_command, is_env, run_command, short
from suiro.errors import DefinitionError
from suiro.pipeline import Ref
from suiro.task import Task, active_tracer, task

#: A program name that makes a good default task name.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}")
_KEYWORDS = frozenset({"if", "for", "while", "until", "case", "exec", "set", "export", "cd", "{", "(", "!"})


def shell(
    command: Any,
    *,
    env: Mapping[str, Any] | Ref | None = None,
    cwd: str | os.PathLike[str] | Ref | None = None,
    name: str | None = None,
    timeout: float | None = None,
    **options: Any,
) -> Any:
    """Run a command as a task: a node of the pipeline being traced, or at once outside one.

    A string is run by ``/bin/sh -c``; a list is a program and its arguments, run without a shell,
    so nothing in it is expanded and a parameter can never inject a command. The command, its
    items, ``env`` and its values may be references (parameters, task outputs), e.g.
    ``shell(["dvc", "pull", path])`` or ``shell('echo "$N"', env={"N": n})``.

    Args:
        command: what to run (see above).
        env: variables added to the environment suiro runs in (a value None removes one).
        cwd: the working directory (default: the one suiro runs in).
        name: the task's name (default: the program's, e.g. ``dvc``).
        timeout: seconds after which the command's whole process group is stopped (SIGTERM,
            SIGKILL 2 s later) and the attempt fails with ``TaskTimeoutError``.
        **options: any other ``@task`` option (``retries``, ``retry_delay``, ``trigger_rule``...).
            ``cache`` is False unless given: a command acts on the world outside suiro. With
            ``cache=True`` its key holds the command and ``env``, not the files it reads.

    Returns:
        Inside a pipeline, a reference to the command's output; outside, the output: its stdout
        as text, trailing newlines removed (as ``$(...)`` does).

    Raises:
        DefinitionError: a bad command, env, cwd or option, naming the caller's line.
        ShellCommandError: (outside a pipeline) the command failed or could not start.
        TaskTimeoutError: (outside a pipeline) the command ran past ``timeout``.
    """
    location = _caller()
    _check_call(command, env, cwd, location)
    made = _make_task(name if name is not None else _program_name(command), timeout, options, location)
    kwargs = {key: value for key, value in (("env", env), ("cwd", cwd)) if value is not None}
    tracer = active_tracer.get()
    if tracer is None:
        return made.fn(command, **kwargs)
    return tracer.add_call(made, (command,), kwargs, mapped=False, max_concurrency=None, location=location)


def _make_task(name: str, timeout: float | None, options: dict[str, Any], location: str) -> Task[..., str]:
    """The task running the command; its options checked as ``@task`` checks them, errors at ``location``.

    The timeout is the command's own (``run_command`` stops its process group), not the task's:
    a task timeout would run the attempt in a worker process and kill that, not the command.
    """
    fn = _runner(timeout)
    try:
        made = task(fn, name=name, **{"cache": False, **options, "timeout": timeout})
    except DefinitionError as exc:
        code = fn.__code__
        text = str(exc).removeprefix(f"@task {name} at {code.co_filename}:{code.co_firstlineno}: ")
        raise DefinitionError(f"shell {name} at {location}: {text}", task=name, location=location) from None
    return Task(fn, dataclasses.replace(made.options, timeout=None))


def _runner(timeout: float | None) -> Callable[..., str]:
    """A task function for one ``shell()`` call; its code (the cache key's part) is the same for all."""

    def shell(command: Any, env: Any = None, cwd: Any = None) -> str:
        return run_command(command, env=env, cwd=cwd, timeout=timeout)

    shell.__qualname__ = "shell"
    return shell


def _check_call(command: Any, env: Any, cwd: Any, location: str) -> None:
    """Values known while tracing must be usable; references are checked when the task runs."""
    if not isinstance(command, Ref) and not is_command(command, also=(Ref,)):
        raise DefinitionError(
            f"shell() at {location}: the command must be {COMMAND_KINDS}, got {short(command)}.",
            location=location,
        )
    if env is not None and not isinstance(env, Ref) and not is_env(env, also=(Ref,)):
        raise DefinitionError(
            f"shell() at {location}: env must map variable names to strings or numbers, got {short(env)}; "
            "convert the values with str().",
            location=location,
        )
    if cwd is not None and not isinstance(cwd, str | os.PathLike | Ref):
        raise DefinitionError(
            f"shell() at {location}: cwd must be a path, got {short(cwd)}.", location=location
        )


def _program_name(command: Any) -> str:
    """The default task name: the program's (``dvc`` for ``"dvc pull data/"``), else ``shell``."""
    import shlex

    word = ""
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        word = next((w for w in words if "=" not in w), "")  # past VAR=value prefixes
    elif isinstance(command, list | tuple) and command and isinstance(command[0], str | os.PathLike):
        word = os.fspath(command[0])
    base = os.path.basename(str(word))
    return base if _NAME.fullmatch(base) and base not in _KEYWORDS else "shell"


def _caller() -> str:
    """``file:line`` of the code that called ``shell()``."""
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"

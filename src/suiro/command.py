"""Running one command for a task: its output into the attempt's log, its end into an outcome.

Owns ``run_command``: the command starts in a session, hence a process group, of its own, so it
can be stopped whole, grandchildren included: at its timeout, when its run is cancelled, when it
exits leaving processes behind, and (by a watchdog, ``suiro.watchdog``) when the process running the task
dies. Its stdout and stderr are read as they come and written to the task's own stdout and stderr
(the attempt's log, inside a task). A non-zero exit is a ``ShellCommandError`` naming the exit code
and the end of stderr. Knows of runs only what any task knows (``suiro.context()``); knows nothing
of pipelines (``suiro.shell`` makes tasks of commands).
"""

from __future__ import annotations

import codecs
import errno
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from suiro.context import current_context
from suiro.errors import RunCancelledError, ShellCommandError, TaskTimeoutError
from suiro.labels import task_label
from suiro.secrets import mask
from suiro.watchdog import GRACE, Watchdog

#: Longest wait, in seconds, between two looks at a command's timeout and its run's cancel.
_POLL = 0.05
#: Seconds to wait for the end of a command's output once its process group is gone.
_DRAIN = 1.0
#: How much of the end of stderr is kept, and how much of it goes into an error message.
_TAIL_BYTES, _TAIL_LINES, _TAIL_CHARS = 8192, 3, 300
#: Commands are cut to this many characters in messages.
_SHOWN = 60
#: What runs first in the command's session: it waits for ``go`` on stdin, then becomes the
#: command (``exec``), with stdin from /dev/null; end of file instead means: never run it.
_WAIT_FOR_GO = 'read -r go || exit 125; exec "$@" </dev/null'
#: What a command may be, for messages.
COMMAND_KINDS = "a string (run by /bin/sh) or a non-empty list of strings (run without a shell)"


def run_command(
    command: Any, *, env: Mapping[str, Any] | None = None, cwd: Any = None, timeout: float | None = None
) -> str:
    """Run one command to its end, its output into the running task's log; return its stdout.

    Whatever way the command ends, nothing it started is left running: its process group is
    stopped when its main process exits, at the timeout, when the run is cancelled, and on any
    exception here (``Interrupted`` by a cancel included).

    Raises:
        ShellCommandError: the command, env or cwd is not usable, the command could not start,
            exited with a non-zero code or was killed by a signal.
        TaskTimeoutError: it ran past ``timeout`` seconds.
        RunCancelledError: the run of the task running it was cancelled.
    """
    ctx = current_context()
    label = "shell()" if ctx is None else f"task {task_label(ctx.task_key, ctx.map_index)}"
    argv = _argv(command, label)
    environ = _environment(env, label)
    folder = _folder(cwd, label)
    what = f"command {_shown(command)}" + ("" if ctx is None else f" of {label}")
    if not isinstance(command, str):
        problem = _unrunnable(argv[0], environ, folder)
        if problem is not None:
            raise ShellCommandError(
                f"{what} could not start ({_reason(problem)}); check the program's name, PATH and cwd=."
            )
    running = _Running(what)
    ended = running.run(argv, environ, folder, timeout, None if ctx is None else ctx.run_id)
    if ended == "timeout":
        raise TaskTimeoutError(
            f"{what} ran past its timeout of {timeout:g} s, so its process group was killed; "
            "raise timeout= or make the command faster."
        )
    if ended == "cancel":
        raise RunCancelledError(
            f"{what} was stopped with its process group because the run was cancelled; "
            "resume the run to run it."
        )
    if running.status != 0:
        hint = (
            f"see all of its output with: suiro logs {ctx.run_id} {ctx.task_key}"
            if ctx is not None and ctx.home is not None
            else "fix the command or what it reads"
        )
        tail = running.stderr_tail()
        ending = f' (stderr ends: "{tail}")' if tail else " (nothing on stderr)"
        raise ShellCommandError(
            f"{what} {_how_it_ended(running.status)}{ending}; {hint}",
            exit_code=running.status,
            stderr_tail=tail,
        )
    return running.stdout().rstrip("\n")


class _Running:
    """One command in a session of its own: its process, its output so far, its watchdog."""

    def __init__(self, what: str):
        self.what = what
        #: The exit code (negative: the signal that killed it) once the main process ended.
        self.status: int | None = None
        self._out = bytearray()
        self._err = bytearray()
        self._err_cut = False
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")
        }

    def run(
        self,
        argv: list[str],
        environ: dict[str, str] | None,
        folder: str | None,
        timeout: float | None,
        run_id: str | None,
    ) -> str:
        """Run the command until it ends (``exit``), its time is up (``timeout``) or its run is
        cancelled (``cancel``), reading its output; in every case its process group is stopped
        and its process reaped before this returns or raises.

        The command starts only once its watchdog knows its group (``_WAIT_FOR_GO``): had this
        process died in between, a command no one could stop would run on.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.proc: Any = None
        try:
            self._start(argv, environ, folder)
            self.guard.watch(self.proc.pid)
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
            ended = self._pump(deadline, run_id)
            self._stop(grace=0.0 if ended == "exit" else GRACE)
            self._drain()
        except BaseException:  # a cancel's Interrupted in the runner's thread, or anything else
            if self.proc is not None:  # else it never started (_start says why)
                self._stop(grace=0.0)
                self._close()
            raise
        self._close()
        return ended

    def _start(self, argv: list[str], environ: dict[str, str] | None, folder: str | None) -> None:
        import subprocess

        self.guard = Watchdog()
        try:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", _WAIT_FOR_GO, "suiro-shell", *argv],
                env=environ,
                cwd=folder,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.guard.release()
            raise ShellCommandError(
                f"{self.what} could not start ({_reason(exc)}); check the program's name, PATH and cwd=."
            ) from None
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._open = {self.proc.stdout.fileno(): "stdout", self.proc.stderr.fileno(): "stderr"}
        import select

        self._poller = select.poll()
        for fd in self._open:
            self._poller.register(fd, select.POLLIN)

    def _pump(self, deadline: float | None, run_id: str | None) -> str:
        from suiro import cancel  # here: ``import suiro`` stays light

        nap = 0.001
        while not self._exited():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return "timeout"
            if cancel.is_requested(run_id):
                return "cancel"
            wait = _POLL if deadline is None else min(_POLL, deadline - now)
            if self._open:
                self._read(wait)
            else:  # it closed its output but runs on: look again soon, then less often
                time.sleep(min(nap, wait))
                nap = min(nap * 2, _POLL)
        return "exit"

    def _exited(self) -> bool:
        """Whether the main process ended, leaving it unreaped: its pid, the group's id, stays
        reserved, so signalling the group can never reach another process."""
        if self.status is not None:
            return True
        info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None or info.si_pid == 0:
            return False
        self.status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        return True

    def _read(self, wait: float) -> None:
        for fd, _event in self._poller.poll(max(wait, 0.0) * 1000):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if data:
                self._take(self._open[fd], data)
            else:
                self._poller.unregister(fd)
                del self._open[fd]

    def _take(self, stream: str, data: bytes) -> None:
        if stream == "stdout":
            self._out += data
        else:
            self._err += data
            if len(self._err) > _TAIL_BYTES:
                del self._err[:-_TAIL_BYTES]
                self._err_cut = True
        text = self._decoders[stream].decode(data)
        if text:  # the task's stdout and stderr: its capture inside a task
            (sys.stdout if stream == "stdout" else sys.stderr).write(text)

    def _stop(self, grace: float) -> None:
        """Stop the process group: SIGTERM and up to ``grace`` s for the main process to end,
        then SIGKILL for whatever is left (all of it, right away, without a grace)."""
        import signal

        if grace and not self._exited():
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not self._exited() and time.monotonic() < deadline:
                self._read(0.02) if self._open else time.sleep(0.02)
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def _drain(self) -> None:
        """Read what the stopped group left in the pipes (a process that escaped the group may
        hold them open: then give up after ``_DRAIN`` s)."""
        deadline = time.monotonic() + _DRAIN
        while self._open and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        for stream, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                (sys.stdout if stream == "stdout" else sys.stderr).write(rest)

    def _close(self) -> None:
        """Release the watchdog, then reap the main process (its pid may be reused only now)."""
        self.guard.release()
        _pid, status = os.waitpid(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def stdout(self) -> str:
        return bytes(self._out).decode("utf-8", "replace")

    def stderr_tail(self) -> str:
        """The last lines of stderr, masked and joined by `` | `` (a line cut by the buffer is left out)."""
        lines = mask(bytes(self._err).decode("utf-8", "replace")).splitlines()
        if self._err_cut:
            lines = lines[1:]
        tail = " | ".join([line.strip() for line in lines if line.strip()][-_TAIL_LINES:])
        return tail if len(tail) <= _TAIL_CHARS else "..." + tail[-(_TAIL_CHARS - 3) :]


def _is_word(value: Any, also: tuple[type, ...]) -> bool:
    return (isinstance(value, str | int | float | os.PathLike) and not isinstance(value, bool)) or isinstance(
        value, also
    )


def is_command(value: Any, also: tuple[type, ...] = ()) -> bool:
    """Whether ``value`` is a command: a non-blank string, or a non-empty list of words (strings,
    numbers, paths, or instances of ``also``)."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list | tuple) and bool(value) and all(_is_word(v, also) for v in value)


def is_env(value: Any, also: tuple[type, ...] = ()) -> bool:
    """Whether ``value`` maps variable names to words (or None, to remove one; or instances of ``also``)."""
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and k and "=" not in k and "\0" not in k and (v is None or _is_word(v, also))
        for k, v in value.items()
    )


def _argv(command: Any, label: str) -> list[str]:
    """The program and arguments to run: ``/bin/sh -c COMMAND`` for a string."""
    if not is_command(command):
        raise ShellCommandError(
            f"{label} got the command {short(command)} ({type(command).__name__}); "
            f"a command is {COMMAND_KINDS}."
        )
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return [os.fspath(w) if isinstance(w, os.PathLike) else str(w) for w in command]


def _environment(env: Any, label: str) -> dict[str, str] | None:
    """The command's environment: suiro's own with ``env`` applied (None: suiro's as it is)."""
    if env is None:
        return None
    if not is_env(env):
        raise ShellCommandError(
            f"{label} got env={short(env)}; env maps variable names to strings or numbers."
        )
    environ = dict(os.environ)
    for key, value in env.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return environ


def _folder(cwd: Any, label: str) -> str | None:
    if cwd is None:
        return None
    if not isinstance(cwd, str | os.PathLike):
        raise ShellCommandError(f"{label} got cwd={short(cwd)}; cwd is a path.")
    return os.fspath(cwd)


def _unrunnable(program: str, environ: dict[str, str] | None, folder: str | None) -> OSError | None:
    """Why ``program`` cannot be run, as running it would say; None if it can.

    Checked before starting, because the program is started by ``exec`` in a shell
    (``_WAIT_FOR_GO``), whose own failure would only be exit code 127.
    """
    if "/" not in program:
        path = (environ if environ is not None else os.environ).get("PATH", os.defpath)
        import shutil

        found = shutil.which(program, path=path)
        return None if found else FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    where = program if os.path.isabs(program) or folder is None else os.path.join(folder, program)
    if not os.path.isfile(where):
        return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    if not os.access(where, os.X_OK):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    return None


def _reason(exc: OSError) -> str:
    about = exc.strerror or type(exc).__name__
    return about + (f": {exc.filename!r}" if exc.filename else "")


def _how_it_ended(status: int) -> str:
    if status >= 0:
        return f"exited with code {status}"
    try:
        import signal

        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"


def _shown(command: str | list[Any] | tuple[Any, ...]) -> str:
    """The command for a message: masked, cut to ``_SHOWN`` characters, quoted."""
    import shlex

    text = mask(
        command
        if isinstance(command, str)
        else shlex.join(str(os.fspath(w) if isinstance(w, os.PathLike) else w) for w in command)
    )
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


def short(value: Any) -> str:
    """``repr(value)`` for a message: masked, cut to ``_SHOWN`` characters."""
    text = mask(repr(value))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."

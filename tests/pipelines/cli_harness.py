"""Run the ``suiro`` command line in a real subprocess, for the end-to-end tests in ``tests/e2e``.

Every call runs ``python -m suiro ...`` with ``SUIRO_HOME`` in the test's folder, that folder
as the working directory, and output captured (so stdout is a pipe, never a terminal). The
environment is the caller's minus anything that would make results depend on the machine:
suiro's own variables, forced colours and a fixed terminal width.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A run id as suiro makes them: ``YYYYMMDD-HHMMSS-xxxxxx``.
RUN_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b")
#: Variables that change how Rich renders or what suiro reads; dropped from the inherited environment.
_DROPPED = ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@dataclass(frozen=True)
class Result:
    """What one ``suiro`` call did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"suiro {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    @property
    def run_id(self) -> str:
        """The id of the run this call started (from its first line)."""
        match = RUN_ID.search(self.stdout)
        assert match, f"no run id in the output of\n{self}"
        return match.group(0)

    @property
    def output(self) -> str:
        """The text after ``output: `` in a run's summary."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("output: ")]
        assert len(lines) == 1, f"expected one 'output:' line in\n{self}"
        return lines[0].removeprefix("output: ")


class Cli:
    """Runs ``suiro`` with ``SUIRO_HOME=<root>/home`` and ``cwd=<root>``.

    Args:
        root: the test's folder; pipeline files are written here.
        new_home: leave ``<root>/home`` for suiro to create; by default it starts as a copy of
            an empty home the CLI created once per test session, which saves each test the
            database migration (about a second).
    """

    def __init__(self, root: Path, *, new_home: bool = False):
        self.root = root
        self.home = root / "home"
        if not new_home:
            shutil.copytree(_empty_home(), self.home)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment a ``suiro`` subprocess gets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_") and k not in _DROPPED}
        env["SUIRO_HOME"] = str(self.home)
        if env.get("PYTHONPATH"):  # relative entries would resolve against the child's cwd, not ours
            env["PYTHONPATH"] = absolute_path_list(env["PYTHONPATH"])
        return {**env, **(extra or {})}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "suiro", *args]

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Result:
        """Run ``suiro *args`` to completion, whatever its exit code."""
        proc = subprocess.run(
            self.argv(*args),
            env=self.env(env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def expect(self, code: int, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run ``suiro *args`` and assert it exits with ``code``."""
        result = self(*args, env=env)
        assert result.returncode == code, str(result)
        return result

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run ``suiro *args`` and assert it exits 0."""
        return self.expect(0, *args, env=env)

    def json(self, *args: str) -> Any:
        """Run ``suiro *args --json`` and return the parsed output."""
        result = self.ok(*args, "--json")
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not JSON ({exc}):\n{result}") from None

    def error(self, code: int, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``suiro *args``, assert it exits ``code`` with one line on stderr, and return that line."""
        result = self.expect(code, *args, env=env)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr:\n{result}"
        assert lines[0].startswith("error: "), str(result)
        return lines[0]

    def write(self, name: str, source: str) -> Path:
        """Write ``source`` (dedented) to ``<root>/name`` and return the path."""
        path = self.root / name
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    def tasks(self, run: str = "last") -> dict[str, dict[str, Any]]:
        """``suiro show RUN --json``'s tasks by key."""
        return {t["task_key"]: t for t in self.json("show", run)["tasks"]}


def absolute_path_list(value: str) -> str:
    """``PYTHONPATH``-style ``value`` with every entry made absolute against this process's cwd.

    With ``PYTHONPATH=src`` a child started in another folder would import another ``suiro``
    (e.g. the editable install's) instead of the one under test.
    """
    return os.pathsep.join(os.path.abspath(part) for part in value.split(os.pathsep) if part)


_EMPTY_HOME: list[Path] = []


def _empty_home() -> Path:
    """A suiro home with its database created (by ``suiro runs``) and nothing else."""
    if not _EMPTY_HOME:
        root = Path(tempfile.mkdtemp(prefix="suiro-e2e-home-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        cli = Cli(root, new_home=True)
        cli.ok("runs")
        _EMPTY_HOME.append(cli.home)
    return _EMPTY_HOME[0]

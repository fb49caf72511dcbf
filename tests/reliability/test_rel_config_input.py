"""S4/S8: hostile YAML in a config file, a ``--set`` value or the secrets file is refused fast.

A "billion laughs" file (nine levels of aliases, each naming the one below nine times) is a few
hundred bytes that PyYAML builds at once as shared references, but that expands to 387 million
values as soon as anything walks it (formatting it for an error message, validating it,
recording it). Every YAML suiro reads counts the values its aliases add, refuses past 100,000
(``suiro.yamltext.MAX_ALIAS_VALUES``) in milliseconds with one sentence naming the file or
setting, and still reads an ordinary file with a few anchors. Each ``suiro`` subprocess runs
under a 1.5 GB address-space limit and a 30 s timeout, so the unfixed code fails the test
instead of the machine.
"""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli, Result

PIPELINE = """
from typing import Any

from suiro import pipeline, task


@task
def show(n: int, cfg: Any, grid: dict, other: dict, x: float) -> str:
    return f"n={n} cfg={cfg} grid={sorted(grid.items())} other={sorted(other.items())}"


@pipeline
def p(n: int = 1, cfg: Any = None, grid: dict = {}, other: dict = {}, x: float = 0.5):
    return show(n, cfg, grid, other, x)
"""

#: Nine levels, each a list naming the level below nine times: 9**9 = 387,420,489 strings.
LEVELS = ", ".join(
    [
        "&l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]",
        *(f"&l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)),
    ]
)


def _laughs(key: str) -> str:
    """A 370-byte YAML mapping ``key`` to the nine levels."""
    return f"{key}: [{LEVELS}]\n"


LIMIT_AS = 1_500_000_000


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def _suiro(cli: Cli, *args: str, env: dict[str, str] | None = None) -> tuple[Result, float]:
    """``suiro *args`` under the memory limit; its result and how long it took."""
    started = time.monotonic()
    proc = subprocess.run(
        cli.argv(*args),
        env=cli.env(env),
        cwd=cli.root,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limited,
    )
    return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr), time.monotonic() - started


def _one_error_line(result: Result) -> str:
    assert result.returncode == 2, str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), str(result)
    return lines[0]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.write("p.py", PIPELINE)
    return cli


@pytest.mark.parametrize("target", ["n", "cfg"])
def test_a_billion_laughs_config_file_is_refused_in_milliseconds(cli, target):
    cli.write("laughs.yaml", _laughs(target))
    result, took = _suiro(cli, "run", "p.py", "-c", "laughs.yaml")
    line = _one_error_line(result)
    assert "config file laughs.yaml" in line and "100,000" in line, line
    assert took < 10, f"took {took:.1f} s"
    assert not (cli.home / "logs").exists() or not any((cli.home / "logs").iterdir()), "no run started"


def test_a_billion_laughs_set_value_is_refused(cli):
    result, took = _suiro(cli, "run", "p.py", "--set", f"cfg=[{LEVELS}]")
    line = _one_error_line(result)
    assert "parameter cfg" in line and "--set" in line and "100,000" in line, line
    assert took < 10, f"took {took:.1f} s"


def test_a_self_referencing_anchor_is_refused(cli):
    cli.write("loop.yaml", "cfg: &a [1, *a]\n")
    result, _ = _suiro(cli, "run", "p.py", "-c", "loop.yaml")
    line = _one_error_line(result)
    assert "config file loop.yaml" in line and "refers to itself" in line, line


def test_a_billion_laughs_secrets_file_is_refused(cli):
    cli.write("secrets.yaml", _laughs("token"))
    result, took = _suiro(cli, "run", "p.py", env={"SUIRO_SECRETS_FILE": str(cli.root / "secrets.yaml")})
    line = _one_error_line(result)
    assert "secrets file" in line and "secrets.yaml" in line and "100,000" in line, line
    assert took < 10, f"took {took:.1f} s"


def test_a_config_with_a_few_anchors_and_aliases_still_works(cli):
    cli.write(
        "anchors.yaml",
        """
        grid: &base {depth: 3, lr: 0.1}
        other:
          <<: *base
          depth: 5
        cfg: [*base, *base]
        n: 2
        """,
    )
    result, _ = _suiro(cli, "run", "p.py", "-c", "anchors.yaml")
    assert result.returncode == 0, str(result)
    assert result.output == repr(
        "n=2 cfg=[{'depth': 3, 'lr': 0.1}, {'depth': 3, 'lr': 0.1}] "
        "grid=[('depth', 3), ('lr', 0.1)] other=[('depth', 5), ('lr', 0.1)]"
    )


# -- booleans are not numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "source", "shown"),
    [
        (("-c", "bool.yaml"), "from bool.yaml", "n = True"),
        (("--set", "n=yes"), "from --set", "n = 'yes'"),
        (("--set", "x=true"), "from --set", "x = 'true'"),
        ((), "from env SUIRO_PARAM_N", "n = 'on'"),
    ],
)
def test_a_boolean_is_not_taken_for_a_number(cli, how, source, shown):
    cli.write("bool.yaml", "n: true\n")
    line = cli.error(2, "run", "p.py", *how, env={"SUIRO_PARAM_N": "on"} if not how else None)
    assert f"parameter {shown} {source}" in line, line
    assert "a boolean, not a number as" in line, line


def test_every_yaml_in_the_source_is_read_through_the_bounded_loader():
    src = Path(__file__).resolve().parents[2] / "src" / "suiro"
    direct = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "yamltext.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "yaml.safe_load" in line or "yaml.load" in line or "yaml.compose" in line
    ]
    assert direct == [], "read YAML with suiro.yamltext.load, which bounds what aliases expand to"

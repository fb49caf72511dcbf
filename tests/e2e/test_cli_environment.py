"""Every ``SUIRO_*`` variable suiro reads, given a bad value, is one line naming it, and exit 2.

Found by testers: ``SUIRO_FLUSH_INTERVAL=abc`` and ``SUIRO_HOME`` naming a file gave raw
tracebacks, and ``SUIRO_FORK=off`` silently kept forking. The line names the variable, its value
(a URL without its password or token) and what it accepts; nothing has started, so no home is
created and no run recorded. A good value of each still works.
"""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli

from suiro import api
from suiro.errors import SuiroError

PIPELINE = """
    from suiro import pipeline, task


    @task
    def double(n: int) -> int:
        return n * 2


    @pipeline
    def p(n: int = 2):
        return double(n)
    """

BAD = [
    ("SUIRO_FLUSH_INTERVAL", "abc", "SUIRO_FLUSH_INTERVAL='abc'", "a number of seconds from 0.001 to 3600"),
    ("SUIRO_FLUSH_INTERVAL", "-1", "SUIRO_FLUSH_INTERVAL='-1'", "a number of seconds"),
    ("SUIRO_FORK", "off", "SUIRO_FORK='off'", "1 (on) or 0 (off)"),
    ("SUIRO_ALLOW_NETWORK_FS", "yes", "SUIRO_ALLOW_NETWORK_FS='yes'", "1 (on) or 0 (off)"),
    ("SUIRO_DB", "mysql://me:pw@db/x", "SUIRO_DB='mysql://***@db/x'", "sqlite:///PATH or postgresql"),
    (
        "SUIRO_ALERT_WEBHOOK",
        "hooks.example/x?token=t0k",
        "SUIRO_ALERT_WEBHOOK='hooks.example/x?***'",
        "http://",
    ),
    (
        "SUIRO_FAULTPOINTS",
        "nope:kill",
        "SUIRO_FAULTPOINTS item 'nope:kill'",
        "points are artifact.tmp_written",
    ),
    ("SUIRO_SECRETS_FILE", "missing.yaml", "secrets file missing.yaml cannot be read", "SUIRO_SECRETS_FILE"),
]


@pytest.fixture
def cli(tmp_path) -> Cli:
    cli = Cli(tmp_path, new_home=True)
    cli.write("p.py", PIPELINE)
    return cli


@pytest.mark.parametrize(("name", "value", "shown", "accepts"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
@pytest.mark.parametrize("command", [("runs",), ("run", "p.py")], ids=["runs", "run"])
def test_a_bad_variable_is_one_line_naming_it_and_nothing_starts(cli, name, value, shown, accepts, command):
    line = cli.error(2, *command, env={name: value})
    assert shown in line and accepts in line, line
    assert "t0k" not in line and ":pw@" not in line, "a password or token is never shown"
    assert not cli.home.exists(), "nothing was created"


@pytest.mark.parametrize("command", [("runs",), ("run", "p.py"), ("check",)], ids=["runs", "run", "check"])
def test_a_home_that_is_a_file_is_one_line(cli, command):
    (cli.root / "afile").write_text("not a folder")
    line = cli.error(2, *command, env={"SUIRO_HOME": str(cli.root / "afile")})
    assert f"SUIRO_HOME='{cli.root / 'afile'}' is a file, not a folder" in line, line
    line = cli.error(2, *command, env={"SUIRO_HOME": str(cli.root / "afile" / "home")})
    assert f"cannot be created: {cli.root / 'afile'} is a file, not a folder" in line, line
    line = cli.error(2, *command, env={"SUIRO_HOME": "/proc/suiro-home"})  # was a traceback
    assert "cannot create the folder /proc/suiro-home for the records" in line, line


def test_good_values_still_work(cli, tmp_path):
    env = {
        "SUIRO_FLUSH_INTERVAL": "0.2",
        "SUIRO_FORK": "0",
        "SUIRO_ALLOW_NETWORK_FS": "1",
        "SUIRO_DB": f"sqlite:///{tmp_path / 'elsewhere.db'}",
        "SUIRO_FAULTPOINTS": "runner.task_done:sleep:0.01",
    }
    assert cli.ok("run", "p.py", "--executor", "processes", env=env).output == "4"
    assert (tmp_path / "elsewhere.db").exists()


def test_the_python_api_refuses_a_bad_flush_interval_with_the_same_sentence(tmp_path, monkeypatch):
    source = tmp_path / "p.py"
    source.write_text(PIPELINE.replace("\n    ", "\n"))
    monkeypatch.setenv("SUIRO_FLUSH_INTERVAL", "abc")
    with pytest.raises(SuiroError, match=r"^SUIRO_FLUSH_INTERVAL='abc' is not usable: it takes a number"):
        api.run(str(source), executor="sequential")

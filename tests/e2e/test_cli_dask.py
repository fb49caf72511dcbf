"""``suiro run -e dask`` end to end: the CLI in a subprocess, on the session's Dask cluster.

The pipeline file's tasks and the plain helpers they call reach the Dask workers (pickled by
value: the workers never import the user's file); a scheduler that cannot be reached, or a
missing ``suiro[dask]``, is one sentence before anything runs and nothing is recorded.
"""

from __future__ import annotations

import ast
import socket

import pytest
from pipelines.cli_harness import Cli
from test_cli_run import SMALL, SMALL_OUTPUT

pytest.importorskip("distributed")


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def test_run_on_an_existing_scheduler_given_by_dask_address(cli, dask_cluster):
    cli.write("small.py", SMALL)
    result = cli.ok("run", "small.py", "-e", "dask", "--dask-address", dask_cluster.scheduler_address)

    assert "executor dask" in result.stdout
    assert ast.literal_eval(result.output) == SMALL_OUTPUT
    run = cli.json("show", "last")
    assert run["executor"] == "dask"
    pids = {int(p) for p in (cli.root / "pids.txt").read_text().split()}
    assert run["pid"] not in pids, "tasks ran in processes on the Dask workers, not in the runner"


RETRIED = """
    from suiro import context, log_metric, pipeline, task


    @task(retries=1)
    def talks(x: int) -> int:
        attempt = context().attempt
        print(f"attempt {attempt} on a Dask worker")
        log_metric("seen", attempt)
        if attempt == 1:
            raise ConnectionError("first attempt fails on purpose")
        return x


    @pipeline
    def retried(x: int = 4):
        return talks(x)
"""


def test_each_attempt_keeps_its_own_log_and_metrics(cli, dask_cluster):
    cli.write("retried.py", RETRIED)
    result = cli.ok("run", "retried.py", "-e", "dask", "--dask-address", dask_cluster.scheduler_address)

    assert result.output == "4"
    assert "attempt 1 on a Dask worker" in cli.ok("logs", "last", "talks", "--attempt", "1").stdout
    second = cli.ok("logs", "last", "talks", "--attempt", "2").stdout
    assert "attempt 2 on a Dask worker" in second and "attempt 1" not in second
    metrics = cli.json("metrics", "last")
    assert sorted(m["value"] for m in metrics if m["name"] == "seen") == [1, 2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_sentence_and_nothing_runs(cli):
    cli.write("small.py", SMALL)
    address = f"tcp://127.0.0.1:{free_port()}"
    line = cli.error(2, "run", "small.py", "-e", "dask", "--dask-address", address)

    assert line.startswith(f"error: cannot reach the Dask scheduler at {address} (ConnectionRefusedError")
    assert line.endswith("start a scheduler there (dask scheduler) or fix --dask-address/SUIRO_DASK_ADDRESS.")
    assert not (cli.root / "pids.txt").exists()
    assert cli.json("runs") == []
    bad = cli.error(2, "run", "small.py", "-e", "dask", env={"SUIRO_DASK_ADDRESS": "tcp://nohost"})
    assert "the Dask scheduler address 'tcp://nohost' is not HOST:PORT or tcp://HOST:PORT" in bad


def test_dask_address_with_another_executor_is_refused(cli):
    cli.write("small.py", SMALL)
    line = cli.error(2, "run", "small.py", "-e", "threads", "--dask-address", "tcp://127.0.0.1:8786")
    assert line == "error: --dask-address is for -e dask; drop it or run with -e dask."


def test_without_suiro_dask_installed_the_error_says_how_to_install_it(cli, tmp_path):
    cli.write("small.py", SMALL)
    hidden = tmp_path / "hidden"
    (hidden / "distributed").mkdir(parents=True)
    (hidden / "distributed" / "__init__.py").write_text('raise ImportError("No module named distributed")\n')
    inherited = cli.env().get("PYTHONPATH")
    env = {"PYTHONPATH": f"{hidden}:{inherited}" if inherited else str(hidden)}
    line = cli.error(2, "run", "small.py", "-e", "dask", env=env)

    assert line == (
        "error: the dask executor needs dask.distributed, which is not installed here; "
        "run pip install 'suiro[dask]'."
    )
    assert cli.json("runs") == []

"""A bad ``SUIRO_ARTIFACTS`` through the real command line: a bucket that does not exist, a key the
server refuses, a scheme nobody knows. Each is one sentence naming it and what to do, exit 2,
before anything runs: no task ran, no run is recorded, and no secret is printed.

The S3 servers are moto's, in processes of their own on 127.0.0.1: ``s3_server`` accepts any
key, ``s3_checked_server`` checks them as AWS does.
"""

from __future__ import annotations

import ast
import uuid

import pytest
from pipelines.cli_harness import Cli
from test_cli_run import SMALL, SMALL_OUTPUT


@pytest.fixture
def cli(tmp_path):
    cli = Cli(tmp_path)
    cli.write("small.py", SMALL)
    return cli


def nothing_ran(cli: Cli) -> None:
    """No task of ``small.py`` ran, and the records (read without SUIRO_ARTIFACTS) hold no run."""
    assert not (cli.root / "pids.txt").exists(), "a task ran"
    assert cli.json("runs") == []


def test_a_bucket_that_does_not_exist_is_named_before_anything_runs(cli, s3_server):
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    env = {**s3_server.env, "SUIRO_ARTIFACTS": f"s3://{bucket}/x"}
    line = cli.error(2, "run", "small.py", env=env)

    assert bucket in line and "SUIRO_ARTIFACTS" in line, line
    assert "does not exist" in line, line
    nothing_ran(cli)


def test_credentials_the_server_refuses_are_one_sentence_and_the_secret_is_not_shown(cli, s3_checked_server):
    bucket = f"checked-{uuid.uuid4().hex[:8]}"
    s3_checked_server.make_bucket(bucket)
    url = f"s3://{bucket}/suiro"
    wrong = {**s3_checked_server.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-" + uuid.uuid4().hex}
    result = cli.expect(2, "run", "small.py", env={**wrong, "SUIRO_ARTIFACTS": url})
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), str(result)
    line = lines[0]

    assert bucket in line and "credentials" in line.lower(), line
    for secret in (wrong["AWS_SECRET_ACCESS_KEY"], s3_checked_server.secret_key):
        assert secret not in result.stdout + result.stderr
    nothing_ran(cli)
    # The same run with the right key works: it was the key, not the server or the bucket.
    done = cli.ok("run", "small.py", env={**s3_checked_server.env, "SUIRO_ARTIFACTS": url})
    assert ast.literal_eval(done.output) == SMALL_OUTPUT


def test_an_unknown_scheme_says_which_it_takes(cli):
    line = cli.error(2, "run", "small.py", env={"SUIRO_ARTIFACTS": "foo://x"})

    assert "SUIRO_ARTIFACTS" in line and "foo://x" in line, line
    assert "s3://" in line, f"the sentence should say what it takes: {line}"
    nothing_ran(cli)


def test_an_s3_url_without_a_bucket_is_refused(cli, s3_server):
    line = cli.error(2, "run", "small.py", env={**s3_server.env, "SUIRO_ARTIFACTS": "s3://"})

    assert "SUIRO_ARTIFACTS" in line and "bucket" in line, line
    nothing_ran(cli)
    assert not list(cli.root.glob("s3*")), "nothing was written to a local folder named after the URL"


@pytest.mark.parametrize(
    "command",
    [
        ("check",),  # the others go through the same store opening: the slow tier checks each
        pytest.param(("gc", "--dry-run"), marks=pytest.mark.slow),
        pytest.param(("gc",), marks=pytest.mark.slow),
        pytest.param(("artifacts", "verify"), marks=pytest.mark.slow),
    ],
)
def test_check_and_gc_on_a_bucket_that_does_not_exist_say_so_in_one_sentence(cli, s3_server, command):
    # Not "no problems found", nor every recorded output reported missing: the bucket is named.
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    line = cli.error(2, *command, env={**s3_server.env, "SUIRO_ARTIFACTS": f"s3://{bucket}/x"})

    assert bucket in line and "does not exist" in line, line


def test_no_credentials_at_all_says_to_set_them(cli, s3_checked_server):
    bucket = f"checked-{uuid.uuid4().hex[:8]}"
    s3_checked_server.make_bucket(bucket)
    none = {
        **s3_checked_server.env,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": str(cli.root / "no-credentials"),
        "AWS_CONFIG_FILE": str(cli.root / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SUIRO_ARTIFACTS": f"s3://{bucket}/x",
    }
    line = cli.error(2, "run", "small.py", env=none)

    assert bucket in line and "credentials" in line and "AWS_ACCESS_KEY_ID" in line, line
    assert "network" not in line, f"not a network problem: {line}"
    nothing_ran(cli)

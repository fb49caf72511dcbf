"""``suiro models ...`` and ``suiro serve`` errors end to end: the CLI in a subprocess.

Models are registered in process (as a pipeline's register task would) in the home the CLI
reads; every command is then checked through ``--json`` and its text, and every error is one
line on stderr with exit code 2.
"""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from suiro.registry import Registry

ROW_KEYS = {"name", "version", "stage", "metrics", "artifact_digest", "run_id"}


@pytest.fixture(scope="module")
def models():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return [make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x, y) for c in (0.1, 1.0)], x


def _fill(cli: Cli, models) -> Cli:
    """Register cancer v1 (production), v2 (none, trained differently) and iris v1 in the CLI's home."""
    (small, large), x = models
    registry = Registry(cli.home)
    registry.register(
        "cancer", small, metrics={"accuracy": 0.9}, params={"C": 0.1}, run_id="run-1", input_schema=x
    )
    registry.promote("cancer", 1, "production", reason="first")
    registry.register(
        "cancer", large, metrics={"accuracy": 0.95}, params={"C": 1.0}, run_id="run-2", input_schema=x
    )
    registry.register("iris", small)
    registry.close()
    return cli


@pytest.fixture
def cli(tmp_path, models):
    return _fill(Cli(tmp_path), models)


@pytest.fixture(scope="module")
def unchanged_cli(tmp_path_factory, models):
    """The same registry, shared by the tests that only read it."""
    return _fill(Cli(tmp_path_factory.mktemp("cli")), models)


def test_list_and_show(unchanged_cli):
    cli = unchanged_cli
    rows = cli.json("models", "list")
    assert [(r["name"], r["version"], r["stage"]) for r in rows] == [
        ("cancer", 1, "production"),
        ("cancer", 2, "none"),
        ("iris", 1, "none"),
    ]
    assert all(set(r) >= ROW_KEYS for r in rows)
    assert rows[1]["metrics"] == {"accuracy": 0.95} and rows[1]["run_id"] == "run-2"
    assert len(rows[1]["artifact_digest"]) == 64
    assert [r["version"] for r in cli.json("models", "list", "cancer")] == [1, 2]

    shown = cli.json("models", "show", "cancer@production")
    assert (shown["version"], shown["stage"], shown["params"]) == (1, "production", {"C": 0.1})
    assert cli.json("models", "show", "cancer")["version"] == 2

    text = cli.ok("models", "show", "cancer@2").stdout
    assert "stage:            none" in text and "metrics:          accuracy=0.95" in text
    table = cli.ok("models", "list").stdout
    assert "cancer" in table and "production" in table and rows[0]["artifact_digest"][:12] in table


def test_promote_rollback_and_history(cli):
    changed = cli.json("models", "promote", "cancer", "2", "--stage", "production", "--reason", "better")
    assert [(r["version"], r["stage"]) for r in changed] == [(1, "archived"), (2, "production")]
    assert all(set(r) >= ROW_KEYS for r in changed)

    text = cli.ok("models", "rollback", "cancer", "--reason", "v2 misbehaves").stdout
    assert text.strip() == "cancer@1 is production again; cancer@2 archived"
    text = cli.ok("models", "promote", "cancer", "latest", "--stage", "staging").stdout
    assert text.strip() == "cancer@2: archived -> staging"

    history = cli.json("models", "history", "cancer")
    assert [(h["version"], h["from_stage"], h["to_stage"], h["action"], h["reason"]) for h in history] == [
        (1, None, "none", "register", None),
        (1, "none", "production", "promote", "first"),
        (2, None, "none", "register", None),
        (1, "production", "archived", "demote", "replaced by version 2: better"),
        (2, "none", "production", "promote", "better"),
        (2, "production", "archived", "demote", "replaced by version 1: v2 misbehaves"),
        (1, "archived", "production", "rollback", "v2 misbehaves"),
        (2, "archived", "staging", "promote", None),
    ]
    assert all(h["actor"] and "@" in h["actor"] for h in history)


def test_compare(unchanged_cli):
    cli = unchanged_cli
    result = cli.json("models", "compare", "cancer", "1", "2")
    assert result["versions"] == [1, 2]
    (accuracy,) = result["metrics"]
    assert accuracy["metric"] == "accuracy" and (accuracy["v1"], accuracy["v2"]) == (0.9, 0.95)
    assert accuracy["difference"] == pytest.approx(0.05)
    assert result["params"] == [{"param": "C", "v1": 0.1, "v2": 1.0}]
    text = cli.ok("models", "compare", "cancer", "production", "latest").stdout
    assert "accuracy" in text and "+0.05" in text and "v2 - v1" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("models", "show", "cancr"),
            "error: no model named 'cancr' is registered (did you mean \"cancer\"?)",
        ),
        (
            ("models", "show", "cancer@9"),
            "error: model cancer has no version 9; its versions are 1 (production)",
        ),
        (
            ("models", "show", "../../etc/passwd"),
            "error: '../../etc/passwd' is not a valid model name; use 1-128",
        ),
        (
            ("models", "list", "x'; DROP TABLE runs;--"),
            'error: "x\'; DROP TABLE runs;--" is not a valid model',
        ),
        (
            ("models", "promote", "cancer", "1", "--stage", "live"),
            "error: unknown stage 'live'; use one of none,",
        ),
        (("models", "rollback", "iris"), "error: model iris has no production version to roll back from"),
        (
            ("serve", "cancer@staging"),
            "error: model cancer has no version in stage staging; its versions are",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_errors_are_one_line_with_exit_code_2(unchanged_cli, args, message):
    assert unchanged_cli.error(2, *args).startswith(message)


def test_listing_an_empty_registry(tmp_path):
    cli = Cli(tmp_path)
    assert cli.json("models", "list") == []

"""S3, S4, S6: hostile names, paths and YAML cannot escape the store, run code or rewrite SQL.

S3: anything but a 64-hex digest is refused as an artifact name, anything but a plain name as a
model name; links planted in the store are not followed out of it. S4: YAML goes through
``safe_load`` only, so Python tags are a parse error and their canary is never created. S6:
quotes, LIKE wildcards and unicode in names and parameters are stored and read back verbatim, the
schema is untouched, and no SQL in the source is built by string formatting.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import rows, write_diamond

import suiro
from suiro import api, history
from suiro.errors import (
    ArtifactCorruptError,
    InvalidDigestError,
    ParameterError,
    RegistryError,
    RunNotFoundError,
)
from suiro.registry import Registry, check_name, parse_ref
from suiro.store.artifacts import ArtifactStore

SRC = Path(suiro.__file__).parent

HOSTILE_NAMES = [
    "../../x",
    "/etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/x",
    "x#/../../",
    "a\0b",
    "..\\..\\x",
    "a" * 10_000,
    "",
    ".",
    "..",
]
HOSTILE_DIGESTS = [
    *HOSTILE_NAMES,
    "A" * 64,  # upper case: not the digest suiro writes
    "0" * 63,
    "0" * 65,
    "0" * 62 + "/.",
    "../" + "0" * 61,
]


def _listing(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# -- S3: paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", HOSTILE_DIGESTS, ids=repr)
def test_a_hostile_digest_is_refused_by_every_store_call(tmp_path, digest):
    store = ArtifactStore(tmp_path / "store" / "artifacts")
    before = _listing(tmp_path)
    for call in (store.path, store.get_bytes, store.has, store.verify, store.delete):
        with pytest.raises(InvalidDigestError, match="is not an artifact digest"):
            call(digest)
    assert _listing(tmp_path) == before, "nothing was created, read into place or deleted"


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_model_name_is_refused(suiro_home, name):
    with pytest.raises(RegistryError, match="is not a valid model name"):
        check_name(name)
    with pytest.raises(RegistryError, match="is not a valid model name"):
        parse_ref(f"{name}@1")
    registry = Registry(suiro_home)
    try:
        with pytest.raises(RegistryError, match="is not a valid model name"):
            registry.register(name, {"weights": [1, 2]})
    finally:
        registry.close()


@pytest.mark.parametrize("run_id", ["../../etc/passwd", "/etc/passwd", "..", "x\0y"], ids=repr)
def test_a_hostile_run_id_matches_no_run(suiro_home, tmp_path, run_id):
    api.run(str(write_diamond(tmp_path)), executor="sequential")
    for read in (history.show, history.logs, history.metrics):
        with pytest.raises(RunNotFoundError):
            read(run_id)


def test_a_link_planted_at_an_object_path_is_not_followed(tmp_path):
    secret = b"SECRET-CANARY " * 100
    outside = tmp_path / "outside.txt"
    outside.write_bytes(secret)
    digest = hashlib.sha256(secret).hexdigest()  # even with the right name for the right bytes
    store = ArtifactStore(tmp_path / "store")
    path = store.path(digest)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    with pytest.raises(ArtifactCorruptError, match=f"corrupt artifact {digest}.*symbolic link") as caught:
        store.get_bytes(digest)
    assert b"SECRET" not in str(caught.value).encode()
    assert not store.has(digest)
    assert not store.verify(digest)


def test_a_shard_folder_linked_outside_the_store_is_neither_read_nor_written(tmp_path):
    data = b"payload " * 5000
    digest = hashlib.sha256(data).hexdigest()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / digest[2:]).write_bytes(data)  # the right bytes, where the link leads
    store = ArtifactStore(tmp_path / "store")
    (tmp_path / "store" / "objects").mkdir(parents=True)
    (tmp_path / "store" / "objects" / digest[:2]).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactCorruptError, match="leads outside the store"):
        store.get_bytes(digest)
    (outside / digest[2:]).unlink()
    with pytest.raises(ArtifactCorruptError, match="leads outside the store"):
        store.put_bytes(data)
    assert list(outside.iterdir()) == [], "nothing was written through the link"


def test_a_task_name_cannot_place_its_log_outside_the_home(tmp_path, suiro_home):
    source = tmp_path / "escape.py"
    source.write_text(
        "from suiro import pipeline, task\n\n"
        "@task(name='../../../escaped')\ndef bad(x: int) -> int:\n    print('a line for the log')\n"
        "    return x\n\n@pipeline\ndef escape(x: int = 1):\n    return bad(x)\n"
    )

    def outside() -> set[Path]:
        return {p for p in _listing(tmp_path) if suiro_home not in (p, *p.parents)}

    before = outside()
    try:
        api.run(str(source), executor="sequential")
    except Exception:  # refusing the name is the fix; what matters is what was written
        pass
    after = outside()
    assert after == before, f"written outside the home: {sorted(map(str, after - before))}"


# -- S4: YAML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/new:os.system [touch {canary}]", "!!python/object/apply:os.mkdir [{canary}]"],
)
def test_python_tags_in_a_config_file_are_a_parse_error_and_run_nothing(tmp_path, tag):
    canary = tmp_path / "CANARY"
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    (tmp_path / "evil.yaml").write_text(f"n: {tag.format(canary=canary)}\n")
    line = cli.error(2, "run", "diamond.py", "-c", "evil.yaml")
    assert "config file evil.yaml:1 is not valid YAML (could not determine a constructor" in line
    assert not canary.exists()
    assert not (cli.home / "logs").exists() or not any((cli.home / "logs").iterdir()), "no run started"


def test_python_tags_in_set_and_in_name_tags_are_refused_in_process(tmp_path, suiro_home):
    canary = tmp_path / "CANARY"
    source = str(write_diamond(tmp_path))
    (tmp_path / "name.yaml").write_text("label: !!python/name:eval\n")
    with pytest.raises(ParameterError, match="is not valid YAML"):
        api.run(source, config_file=tmp_path / "name.yaml")
    with pytest.raises(ParameterError, match="is not a valid int"):
        api.run(source, overrides=[f"k=!!python/object/new:os.system [touch {canary}]"])
    # A text parameter keeps the text as it is: nothing is parsed, nothing runs.
    text = f"!!python/object/new:os.system [touch {canary}]"
    result = api.run(source, overrides=[f"label={text}"], executor="sequential")
    assert result.ok and result.output.startswith(text + "/")
    assert not canary.exists()


_UNSAFE_YAML = re.compile(
    r"yaml\.load\(|yaml\.load_all\(|unsafe_load|full_load|FullLoader|UnsafeLoader|yaml\.Loader\b"
)


def test_the_source_never_loads_yaml_unsafely():
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _UNSAFE_YAML.search(line)
    ]
    assert found == []
    assert _UNSAFE_YAML.search("data = yaml.load(text, Loader=yaml.FullLoader)")  # the pattern bites


# -- S6: hostile identifiers ------------------------------------------------------------------------

HOSTILE_TEXT = [
    "x'); DROP TABLE runs;--",
    "50%_off",
    "\u202eevil\u202c right-to-left",
    "名前 🔥 emoji",
    'quote " back\\slash `tick`',
]
NAMED = """
from suiro import pipeline, task


@task(name={name!r})
def echo(label: str) -> str:
    return label


@pipeline
def named(label: str = "plain"):
    return echo(label)
"""


def _schema(home: Path) -> list[tuple]:
    return [
        tuple(r.values())
        for r in rows(home, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
    ]


def test_hostile_names_and_parameters_round_trip_verbatim_and_leave_the_schema_alone(tmp_path, suiro_home):
    api.run(str(write_diamond(tmp_path)), executor="sequential")
    schema = _schema(suiro_home)
    for i, text in enumerate(HOSTILE_TEXT):
        source = tmp_path / f"named_{i}.py"
        source.write_text(NAMED.format(name=text))
        result = api.run(str(source), params={"label": text}, executor="sequential")
        assert result.ok and result.output == text
        shown = history.show(result.run_id)
        assert shown["params"] == {"label": text}
        assert [t["task_key"] for t in shown["tasks"]] == [text]
        assert history.explain(result.run_id, text)["task"] == text
    assert _schema(suiro_home) == schema
    assert len(history.runs(limit=100)) == 1 + len(HOSTILE_TEXT)


def test_like_wildcards_in_a_run_id_prefix_match_only_themselves(tmp_path, suiro_home):
    run_id = api.run(str(write_diamond(tmp_path)), executor="sequential").run_id
    assert history.show(run_id[:10])["id"] == run_id  # a real prefix works
    wildcard = run_id[:4] + "_" + run_id[5:10]
    for pattern in ("%", "_", "%" + run_id[-3:], wildcard, run_id[:6] + "%"):
        with pytest.raises(RunNotFoundError, match="no run"):
            history.show(pattern)
    cli = Cli(tmp_path, new_home=True)
    cli.home = suiro_home
    assert cli.error(2, "show", "%") == "error: no run '%'; list runs with `suiro runs`."


def test_the_cli_prints_parameters_and_outputs_verbatim(tmp_path):
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    result = cli.ok("run", "diamond.py", "--set", "label=x:100:y")
    assert result.output.startswith("'x:100:y/")
    assert "'label': 'x:100:y'" in cli.ok("show", result.run_id).stdout


_SQL_CALLS = {"execute", "executemany", "executescript", "query", "text"}
_SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|WITH|REPLACE)\b", re.I)
#: Audited exceptions: (file, line text) whose interpolation is of constants only.
_AUDITED = {
    ("store/migrations/versions/0003_models.py", 'for verb in ("UPDATE", "DELETE")'),
    # the table and column names of suiro's own batch inserts; every value is a parameter
    ("store/db.py", "def insert_sql(table: str, columns: tuple[str, ...]"),
}


def _formatted_sql(source: str, name: str) -> list[str]:
    """Every SQL statement built by f-string, ``%``, ``.format`` or ``+`` of non-constants."""
    found = []
    for node in ast.walk(ast.parse(source)):
        bad = None
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0] if node.args else None
            if called in _SQL_CALLS and arg is not None and _is_formatted(arg):
                bad = arg
        elif isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and _SQL_START.match(str(head.value)):
                bad = node
        if bad is not None:
            text = ast.get_source_segment(source, bad) or ""
            if not any(file == name and marker in source for file, marker in _AUDITED):
                found.append(f"{name}:{bad.lineno}: {text[:100]}")
    return found


def _is_formatted(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    return isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "format"


@pytest.mark.parametrize(
    "snippet",
    [
        'db.query(f"SELECT * FROM runs WHERE id = {run_id}")',
        "conn.execute(\"DELETE FROM runs WHERE id = '%s'\" % run_id)",
        'tx.execute("UPDATE runs SET state = {}".format(state))',
        'conn.execute("SELECT * FROM runs WHERE id = " + run_id)',
        'sql = f"SELECT * FROM {table}"',
    ],
)
def test_the_detector_finds_formatted_sql(snippet):
    assert _formatted_sql(snippet, "snippet.py")


def test_no_sql_in_the_source_is_built_by_string_formatting():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        found += _formatted_sql(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert found == [], "pass values as :name parameters instead:\n" + "\n".join(found)


def test_a_hostile_sort_of_identifier_in_sqlite_is_just_data(suiro_home, tmp_path):
    # The record is readable by plain sqlite3 afterwards: nothing executed the injected text.
    api.run(str(write_diamond(tmp_path)), params={"label": "x'); DROP TABLE runs;--"}, executor="sequential")
    conn = sqlite3.connect(suiro_home / "suiro.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_hostile_text_round_trips_through_the_model_server_and_leaves_the_schema_alone(tmp_path):
    # S6 through the serving API: hostile column names, description, params and metric names are
    # stored by the registry and returned verbatim as JSON; a hostile unknown field is named in a
    # 422 (JSON, never HTML); a JSON body a web page posts as text/plain (a CORS "simple request",
    # sent without asking the server first) gets a 415 and no CORS header; the database schema is
    # the same afterwards.
    import httpx
    import pandas as pd
    from pipelines.serve_harness import serving
    from sklearn.linear_model import LogisticRegression

    drop, like = HOSTILE_TEXT[0], HOSTILE_TEXT[1]
    frame = pd.DataFrame({drop: [0.0, 1.0, 2.0, 3.0] * 5, like: [1.0, 0.0, 1.0, 0.0] * 5})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1] * 5)
    home = tmp_path / "home"
    registry = Registry(home)
    registry.register(
        "hostile",
        model,
        input_schema=frame,
        description=" | ".join(HOSTILE_TEXT),
        params={text: text for text in HOSTILE_TEXT},
        metrics={like: 0.5, drop: 1.0},
    )
    registry.close()
    before = _schema(home)

    with serving(home, "hostile@1", tmp_path / "server.log") as (url, _, _):
        info = httpx.get(f"{url}/model", timeout=10).json()
        ok = httpx.post(f"{url}/predict", json={"records": [{drop: 3.0, like: 0.0}]}, timeout=10)
        script = "<script>alert(1)</script>"
        bad = httpx.post(f"{url}/predict", json={"records": [{drop: 1.0, like: 1.0, script: 1}]}, timeout=10)
        simple = httpx.post(
            f"{url}/predict",
            content=json.dumps({"records": [{drop: 3.0, like: 0.0}]}),
            headers={"content-type": "text/plain;charset=UTF-8", "origin": "http://evil.example"},
            timeout=10,
        )

    assert info["description"] == " | ".join(HOSTILE_TEXT)
    assert info["params"] == {text: text for text in HOSTILE_TEXT}
    assert info["metrics"] == {like: 0.5, drop: 1.0}
    assert [c["name"] for c in info["input_schema"]] == [drop, like]
    assert ok.status_code == 200 and ok.json()["predictions"] == [1]
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/json"
    assert [e["field"] for e in bad.json()["errors"]] == [f"records[0].{script}"]
    assert simple.status_code == 415, simple.text
    assert "application/json" in simple.json()["detail"]
    assert "access-control-allow-origin" not in simple.headers
    assert _schema(home) == before
    assert rows(home, "SELECT COUNT(*) AS n FROM model_versions") == [{"n": 1}]

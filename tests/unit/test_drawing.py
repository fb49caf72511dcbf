"""Drawings of expressions, of what a pipeline says about itself, and of sub-pipeline groups.

The plain conventions (nodes, edges, maps, ``when``) are tested on every example in
``test_graph.py``; here each drawing is compared whole, as a user reads it.
"""

from __future__ import annotations

from suiro import pipeline, task, when


@task
def evaluate(quality: float) -> dict[str, float]:
    """Score the model on "held-out" data."""
    return {"accuracy": quality}


@task
def register(metrics: dict[str, float]) -> str:
    return "registered"


@task
def alert(metrics: dict[str, float]) -> str:
    return "alert"


@task(owner="data-eng", tags=["io"])
def read(path: str) -> str:
    return path


@pipeline(
    description="Gate the nightly model.", owner="mlops", tags=["ml", "nightly"], task_defaults={"retries": 2}
)
def gated(quality: float = 0.9, threshold: float = 0.8, workdir: str = "/data"):
    metrics = evaluate(quality)
    passed = metrics["accuracy"] >= threshold
    with when(passed):
        register(metrics)
    with when(~passed):
        alert(metrics)
    return read(workdir + "/input.csv"), read(path=metrics["accuracy"] * 100)


def test_text_shows_the_header_the_guards_and_the_inputs_as_written():
    assert gated.graph.to_text() == (
        "pipeline gated\n"
        "  about: Gate the nightly model. (owner: mlops; tags: ml, nightly)\n"
        "  params: quality: float = 0.9, threshold: float = 0.8, workdir: str = '/data'\n"
        "  task defaults: retries=2\n"
        "  evaluate\n"
        "  register  <- after evaluate; when evaluate['accuracy'] >= threshold\n"
        "  alert  <- after evaluate; when not evaluate['accuracy'] >= threshold\n"
        "  read  <- path = workdir + '/input.csv'; owner data-eng; tags io\n"
        "  read_2  <- after evaluate; path = evaluate['accuracy'] * 100; owner data-eng; tags io\n"
    )


def test_mermaid_has_the_pipeline_and_task_descriptions_as_comments_and_escaped_labels():
    assert gated.graph.to_mermaid() == (
        "flowchart TD\n"
        "    %% pipeline gated: Gate the nightly model. (owner: mlops; tags: ml, nightly)\n"
        '    %% evaluate: Score the model on "held-out" data.\n'
        '    n0["evaluate"]\n'
        '    n1["register"]\n'
        '    n2["alert"]\n'
        '    n3["read"]\n'
        '    n4["read_2"]\n'
        "    n0 -- \"when evaluate['accuracy'] #gt;= threshold\" --> n1\n"
        "    n0 -- \"when not evaluate['accuracy'] #gt;= threshold\" --> n2\n"
        "    n0 -- \"path = evaluate['accuracy'] * 100\" --> n4\n"
    )


def test_dot_has_the_pipeline_as_its_label_and_descriptions_as_tooltips():
    assert gated.graph.to_dot() == (
        'digraph "gated" {\n'
        "    rankdir=TB;\n"
        '    label="gated: Gate the nightly model. (owner: mlops; tags: ml, nightly)"; labelloc=t;\n'
        '    "evaluate" [shape=box, label="evaluate", tooltip="Score the model on \\"held-out\\" data."];\n'
        '    "register" [shape=box, label="register"];\n'
        '    "alert" [shape=box, label="alert"];\n'
        '    "read" [shape=box, label="read"];\n'
        '    "read_2" [shape=box, label="read_2"];\n'
        '    "evaluate" -> "register" [label="when evaluate[\'accuracy\'] >= threshold", style=dashed];\n'
        '    "evaluate" -> "alert" [label="when not evaluate[\'accuracy\'] >= threshold", style=dashed];\n'
        '    "evaluate" -> "read_2" [label="path = evaluate[\'accuracy\'] * 100"];\n'
        "}\n"
    )


def test_the_graph_dict_records_expressions_metadata_and_defaults():
    data = gated.graph.to_dict()
    nodes = {n["key"]: n for n in data["nodes"]}

    assert (data["description"], data["owner"], data["tags"]) == (
        "Gate the nightly model.",
        "mlops",
        ["ml", "nightly"],
    )
    assert data["task_defaults"] == {"retries": 2}
    assert nodes["register"]["conditions"] == [
        {
            "source": None,
            "negate": False,
            "expression": "evaluate['accuracy'] >= threshold",
            "sources": ["evaluate"],
        }
    ]
    assert nodes["read"]["expressions"] == [
        {"input": "path", "expression": "workdir + '/input.csv'", "sources": []}
    ]
    assert nodes["read"]["owner"] == "data-eng" and nodes["read"]["tags"] == ["io"]
    assert nodes["evaluate"]["options"]["retries"] == 2


# --- groups -------------------------------------------------------------------------------------------


@task
def load(source: str) -> list[int]:
    return [1, 2]


@task
def clean(rows: list[int]) -> list[int]:
    return rows


@task
def combine(a: list[int], b: list[int]) -> int:
    return 0


@pipeline
def inner(rows: list[int]):
    return clean(clean(rows))


@pipeline(description="Prepare twice.")
def prep(rows: list[int]):
    """Not used: the description is given."""
    return combine(inner(rows), clean(rows))


@pipeline
def grouped(source: str = "x"):
    rows = load(source)
    return combine(prep(rows), inner(rows))


def test_text_indents_each_group_under_a_line_naming_its_pipeline():
    assert grouped.graph.to_text() == (
        "pipeline grouped\n"
        "  params: source: str = 'x'\n"
        "  load\n"
        "  prep: pipeline prep - Prepare twice.\n"
        "    prep.inner: pipeline inner\n"
        "      prep.inner.clean  <- after load\n"
        "      prep.inner.clean_2  <- after prep.inner.clean\n"
        "    prep.clean  <- after load\n"
        "    prep.combine  <- after prep.clean, prep.inner.clean_2\n"
        "  inner: pipeline inner\n"
        "    inner.clean  <- after load\n"
        "    inner.clean_2  <- after inner.clean\n"
        "  combine  <- after inner.clean_2, prep.combine\n"
    )


def test_mermaid_draws_each_group_as_a_subgraph():
    assert grouped.graph.to_mermaid() == (
        "flowchart TD\n"
        '    n0["load"]\n'
        '    subgraph g0["prep: pipeline prep - Prepare twice."]\n'
        '        subgraph g1["prep.inner: pipeline inner"]\n'
        '            n1["prep.inner.clean"]\n'
        '            n2["prep.inner.clean_2"]\n'
        "        end\n"
        '        n3["prep.clean"]\n'
        '        n4["prep.combine"]\n'
        "    end\n"
        '    subgraph g2["inner: pipeline inner"]\n'
        '        n5["inner.clean"]\n'
        '        n6["inner.clean_2"]\n'
        "    end\n"
        '    n7["combine"]\n'
        "    n0 --> n1\n"
        "    n1 --> n2\n"
        "    n0 --> n3\n"
        "    n3 --> n4\n"
        "    n2 --> n4\n"
        "    n0 --> n5\n"
        "    n5 --> n6\n"
        "    n6 --> n7\n"
        "    n4 --> n7\n"
    )


def test_dot_draws_each_group_as_a_cluster():
    text = grouped.graph.to_dot()

    assert (
        '    subgraph "cluster_prep" {\n'
        '        label="prep: pipeline prep - Prepare twice.";\n'
        '        subgraph "cluster_prep.inner" {\n'
        '            label="prep.inner: pipeline inner";\n'
        '            "prep.inner.clean" [shape=box, label="prep.inner.clean"];\n'
        '            "prep.inner.clean_2" [shape=box, label="prep.inner.clean_2"];\n'
        "        }\n"
        '        "prep.clean" [shape=box, label="prep.clean"];\n'
        '        "prep.combine" [shape=box, label="prep.combine"];\n'
        "    }\n"
        '    subgraph "cluster_inner" {\n'
    ) in text
    assert '    "prep.inner.clean_2" -> "prep.combine";\n' in text


def test_the_graph_dict_records_groups_and_each_nodes_group():
    data = grouped.graph.to_dict()

    assert [(g["key"], g["pipeline"], g.get("description")) for g in data["groups"]] == [
        ("prep", "prep", "Prepare twice."),
        ("prep.inner", "inner", None),
        ("inner", "inner", None),
    ]
    assert {n["key"]: n.get("group", "") for n in data["nodes"]} == {
        "load": "",
        "prep.inner.clean": "prep.inner",
        "prep.inner.clean_2": "prep.inner",
        "prep.clean": "prep",
        "prep.combine": "prep",
        "inner.clean": "inner",
        "inner.clean_2": "inner",
        "combine": "",
    }

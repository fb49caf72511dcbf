"""The model registry on a real SQLite file: versions, stages, the transition log, rollback (G9, S3, S6).

The model is a scikit-learn Pipeline (StandardScaler + LogisticRegression) fitted on the bundled
breast-cancer data as a DataFrame, so what is stored and loaded is what the ML pipeline registers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from suiro import history
from suiro.errors import ArtifactCorruptError, ModelNotFoundError, RegistryError
from suiro.registry import STAGES, ModelVersion, Registry, default_actor, parse_ref


@pytest.fixture(scope="module")
def data():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def model(data):
    x_train, _, y_train, _ = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A home whose database has the current schema, copied for each test (migrating takes longer)."""
    home = tmp_path_factory.mktemp("template") / "home"
    Registry(home).close()
    return home


@pytest.fixture
def registry(suiro_home, template):
    shutil.copytree(template, suiro_home)
    reg = Registry(suiro_home)
    yield reg
    reg.close()


def stages(registry: Registry, name: str) -> dict[int, str]:
    return {v.version: v.stage for v in registry.versions(name)}


def log(registry: Registry, name: str) -> list[tuple]:
    return [(t["version"], t["from_stage"], t["to_stage"], t["action"]) for t in registry.transitions(name)]


# -- register and read back ----------------------------------------------------------------------


def test_register_records_every_field_and_numbers_versions_per_name(registry, model, data):
    x_train = data[0]
    before = time.time()
    first = registry.register(
        "cancer",
        model,
        metrics={"accuracy": np.float64(0.95), "f1": 0.9},
        params={"C": 1.0, "max_iter": np.int64(1000)},
        data_digest="d" * 64,
        run_id="20250101-000000-abcdef",
        task_key="train[0]",
        input_schema=x_train,
        description="baseline",
    )
    second = registry.register("cancer", model, metrics={"accuracy": 0.96})
    other = registry.register("other.model_v-2", LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]))

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.stage == second.stage == "none"
    assert first.metrics == {"accuracy": 0.95, "f1": 0.9}
    assert first.params == {"C": 1.0, "max_iter": 1000}
    assert (first.data_digest, first.run_id, first.task_key) == (
        "d" * 64,
        "20250101-000000-abcdef",
        "train[0]",
    )
    assert first.input_schema == [{"name": c, "dtype": "float64"} for c in x_train.columns]
    assert (first.task_type, first.classes, first.description) == ("classification", [0, 1], "baseline")
    assert before <= first.created <= time.time()
    assert first.serializer == "joblib"
    stored = registry.store.artifacts.get_bytes(first.artifact_digest)
    assert hashlib.sha256(stored).hexdigest() == first.artifact_digest and len(stored) == first.size
    # Without an explicit schema the model's feature names are kept, with no dtype to check.
    assert second.input_schema == [{"name": c, "dtype": "any"} for c in x_train.columns]
    assert other.task_type == "regression" and other.classes is None and other.input_schema is None
    json.dumps(first.to_dict())  # plain JSON data
    assert [(v.name, v.version) for v in registry.versions()] == [
        ("cancer", 1),
        ("cancer", 2),
        ("other.model_v-2", 1),
    ]


def test_load_returns_a_model_predicting_identically(registry, model, data):
    x_test = data[1]
    version = registry.register("cancer", model, input_schema=x_test)
    loaded = registry.load(registry.get("cancer", version.version))
    assert loaded is not model
    assert np.array_equal(loaded.predict(x_test), model.predict(x_test))
    assert np.array_equal(loaded.predict_proba(x_test), model.predict_proba(x_test))
    assert np.array_equal(registry.load("cancer@1").predict(x_test), model.predict(x_test))


def test_load_refuses_a_tampered_model_before_unpickling(registry, model):
    version = registry.register("cancer", model)
    path = registry.store.artifacts.path(version.artifact_digest)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ArtifactCorruptError, match=f"corrupt artifact {version.artifact_digest}"):
        registry.load(version)


def test_get_by_number_latest_stage_and_ref(registry, model):
    for _ in range(3):
        registry.register("cancer", model)
    registry.promote("cancer", 2, "production")
    registry.promote("cancer", 1, "staging")

    assert registry.get("cancer", 1).version == 1
    assert registry.get("cancer", "3").version == 3
    assert registry.get("cancer").version == 3
    assert registry.get("cancer", "latest").version == 3
    assert registry.get("cancer", "production").version == 2
    assert registry.get("cancer", "staging").version == 1
    assert registry.get("cancer@2").version == 2
    assert registry.get("cancer@production").version == 2
    assert registry.get("cancer@latest").version == 3
    assert parse_ref("cancer@7") == ("cancer", 7)
    assert parse_ref("cancer@production") == ("cancer", "production")
    assert parse_ref("cancer") == ("cancer", None)


def test_unknown_names_and_versions_say_what_exists(registry, model):
    registry.register("cancer", model)
    registry.register("cancer", model)
    registry.register("wine", model)

    with pytest.raises(
        ModelNotFoundError,
        match=r"^no model named 'cancr' is registered \(did you mean \"cancer\"\?\); "
        r"registered models: cancer, wine\.$",
    ) as err:
        registry.get("cancr")
    assert (err.value.name, err.value.version, err.value.versions) == ("cancr", None, [])

    with pytest.raises(
        ModelNotFoundError,
        match=r"^model cancer has no version 7; its versions are 1 \(none\), 2 \(none\)\.$",
    ) as err:
        registry.get("cancer@7")
    assert (err.value.version, err.value.versions) == (7, [1, 2])

    with pytest.raises(ModelNotFoundError, match=r"^model cancer has no version in stage production; its"):
        registry.get("cancer", "production")
    with pytest.raises(
        RegistryError,
        match=r"^'prod' is not a version of model cancer; use a version number, 'latest' or a stage "
        r"\(none, staging, production, archived\)\.$",
    ):
        registry.get("cancer@prod")
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        registry.versions("nope")


def test_an_empty_registry_says_so(registry):
    with pytest.raises(
        ModelNotFoundError, match=r"^no model named 'cancer' is registered; the registry is empty\.$"
    ):
        registry.transitions("cancer")


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "..%2f",
        "%2e%2e/",
        "x#/../../",
        "a\x00b",
        "..\\x",
        "x/y",
        ".hidden",
        "-rf",
        "",
        " x",
        "x@y@z",
        "a" * 129,
        "x'); DROP TABLE model_versions;--",
        "名前",
    ],
)
def test_bad_names_are_rejected_before_anything_is_stored(registry, model, suiro_home, name):
    with pytest.raises(RegistryError, match=r"is not a valid model name; use 1-128 letters, digits"):
        registry.register(name, model)
    with pytest.raises(RegistryError):
        registry.get(name)
    assert not (suiro_home / "artifacts").exists(), "nothing was written"
    assert registry.versions() == []
    tables = {r["name"] for r in registry.db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"model_versions", "model_transitions", "runs"} <= tables


def test_names_at_the_limits_are_accepted(registry, model):
    longest = "a" * 128
    assert registry.register(longest, model).name == longest
    assert registry.register("A.b_c-9", model).version == 1
    with pytest.raises(RegistryError, match=r"^None is not a valid model name"):
        registry.register(None, model)


def test_metrics_must_be_numbers_and_non_finite_ones_are_kept_as_none(registry, model):
    with pytest.raises(RegistryError, match=r"^metric 'accuracy' of model cancer is 'high', not a number"):
        registry.register("cancer", model, metrics={"accuracy": "high"})
    version = registry.register("cancer", model, metrics={"auc": float("nan"), "loss": 0.5})
    assert version.metrics == {"auc": None, "loss": 0.5}


def test_input_schema_forms(registry, model):
    assert registry.register("a", model, input_schema={"x": "float64", "y": "int64"}).input_schema == [
        {"name": "x", "dtype": "float64"},
        {"name": "y", "dtype": "int64"},
    ]
    assert registry.register("b", model, input_schema=["x", {"name": "y", "dtype": "bool"}]).input_schema == [
        {"name": "x", "dtype": "any"},
        {"name": "y", "dtype": "bool"},
    ]
    with pytest.raises(
        RegistryError, match=r"input_schema of model c repeats columns \['x'\]; name each once"
    ):
        registry.register("c", model, input_schema=["x", "x"])
    with pytest.raises(RegistryError, match=r"input_schema of model c is a int; pass a DataFrame"):
        registry.register("c", model, input_schema=3)


# -- stages ----------------------------------------------------------------------------------------


def test_promotion_to_production_archives_the_previous_one_and_logs_both(registry, model):
    for _ in range(3):
        registry.register("cancer", model)
    first = registry.promote("cancer", 1, "production", reason="first", actor="ci@host", run_id="run-1")
    assert first.stage == "production"
    second = registry.promote("cancer", "2", "production", reason="better auc", actor="ci@host")

    assert second.stage == "production"
    assert stages(registry, "cancer") == {1: "archived", 2: "production", 3: "none"}
    promoted, demoted = registry.transitions("cancer")[-1], registry.transitions("cancer")[-2]
    assert (demoted["version"], demoted["from_stage"], demoted["to_stage"], demoted["action"]) == (
        1,
        "production",
        "archived",
        "demote",
    )
    assert demoted["reason"] == "replaced by version 2: better auc"
    assert (promoted["version"], promoted["from_stage"], promoted["to_stage"]) == (2, "none", "production")
    assert promoted["reason"] == "better auc" and promoted["actor"] == "ci@host"
    assert promoted["time"] == demoted["time"], "one change, one time"
    assert registry.transitions("cancer")[3]["run_id"] == "run-1"


def test_exactly_one_production_version_after_any_sequence(registry, model):
    for _ in range(4):
        registry.register("cancer", model)
    for version, stage in [
        (1, "production"),
        (2, "staging"),
        (2, "production"),
        (3, "production"),
        (1, "production"),
    ]:
        registry.promote("cancer", version, stage)
        assert list(stages(registry, "cancer").values()).count("production") == 1
    assert registry.get("cancer@production").version == 1


def test_the_database_refuses_a_second_production_version(registry, model):
    registry.register("cancer", model, stage="production")
    registry.register("cancer", model)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), registry.db.write() as tx:
        tx.execute("UPDATE model_versions SET stage = 'production' WHERE name = 'cancer' AND version = 2")
    assert stages(registry, "cancer") == {1: "production", 2: "none"}


def test_a_failed_promotion_changes_nothing(registry, model, monkeypatch):
    from suiro.store import models as model_records

    registry.register("cancer", model, stage="production")
    registry.register("cancer", model)
    before = log(registry, "cancer")
    # The last statement of the transaction fails, after the demotion and both log rows ran.
    monkeypatch.setattr(model_records, "_MOVE", "UPDATE no_such_table SET stage = :stage")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        registry.promote("cancer", 2, "production")
    assert stages(registry, "cancer") == {1: "production", 2: "none"}
    assert log(registry, "cancer") == before


def test_registering_straight_into_production_is_one_logged_change(registry, model):
    registry.register("cancer", model, stage="production")
    registry.register("cancer", model, stage="production", reason="retrained")
    assert stages(registry, "cancer") == {1: "archived", 2: "production"}
    assert log(registry, "cancer") == [
        (1, None, "none", "register"),
        (1, "none", "production", "promote"),
        (2, None, "none", "register"),
        (1, "production", "archived", "demote"),
        (2, "none", "production", "promote"),
    ]


def test_promoting_to_the_current_stage_changes_and_logs_nothing(registry, model):
    registry.register("cancer", model, stage="staging")
    before = log(registry, "cancer")
    assert registry.promote("cancer", 1, "staging").stage == "staging"
    assert log(registry, "cancer") == before


def test_an_unknown_stage_lists_the_stages(registry, model):
    registry.register("cancer", model)
    with pytest.raises(
        RegistryError,
        match=r"^unknown stage 'producton' \(did you mean \"production\"\?\); "
        r"use one of none, staging, production, archived\.$",
    ):
        registry.promote("cancer", 1, "producton")
    with pytest.raises(RegistryError, match=r"^unknown stage 'prod'; use one of none, staging, production"):
        registry.promote("cancer", 1, "prod")
    with pytest.raises(RegistryError, match="unknown stage 'live'"):
        registry.register("cancer", model, stage="live")
    assert STAGES == ("none", "staging", "production", "archived")
    assert registry.versions("cancer")[0].stage == "none"


def test_the_transition_log_is_complete_and_append_only(registry, model):
    registry.register("cancer", model)
    registry.register("cancer", model)
    registry.promote("cancer", 1, "staging")
    registry.promote("cancer", 1, "production")
    registry.promote("cancer", 2, "production")
    registry.promote("cancer", 2, "archived")

    assert log(registry, "cancer") == [
        (1, None, "none", "register"),
        (2, None, "none", "register"),
        (1, "none", "staging", "promote"),
        (1, "staging", "production", "promote"),
        (1, "production", "archived", "demote"),
        (2, "none", "production", "promote"),
        (2, "production", "archived", "promote"),
    ]
    rows = registry.transitions("cancer")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert {r["actor"] for r in rows} == {default_actor()}
    for statement in ("UPDATE model_transitions SET reason = 'x'", "DELETE FROM model_transitions"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), registry.db.write() as tx:
            tx.execute(statement)
    assert registry.transitions("cancer") == rows


# -- rollback ---------------------------------------------------------------------------------------


def test_rollback_restores_the_previous_production_version_and_walks_back(registry, model):
    for version in (1, 2, 3):
        registry.register("cancer", model)
        registry.promote("cancer", version, "production")

    restored = registry.rollback("cancer", reason="v3 misbehaves", actor="oncall@host")
    assert restored.version == 2 and restored.stage == "production"
    assert stages(registry, "cancer") == {1: "archived", 2: "production", 3: "archived"}
    last = registry.transitions("cancer")[-1]
    assert (last["version"], last["from_stage"], last["to_stage"], last["action"]) == (
        2,
        "archived",
        "production",
        "rollback",
    )
    assert (last["reason"], last["actor"]) == ("v3 misbehaves", "oncall@host")

    assert registry.rollback("cancer").version == 1
    assert stages(registry, "cancer") == {1: "production", 2: "archived", 3: "archived"}
    with pytest.raises(
        RegistryError, match=r"^model cancer has no earlier production version than 1 to roll back to\.$"
    ):
        registry.rollback("cancer")
    # A new promotion starts a new history: rolling back from it returns to 1.
    registry.promote("cancer", 3, "production")
    assert registry.rollback("cancer").version == 1


def test_rollback_needs_a_production_version(registry, model):
    registry.register("cancer", model)
    with pytest.raises(
        RegistryError,
        match=r"^model cancer has no production version to roll back from; promote one with: "
        r"suiro models promote cancer VERSION --stage production\.$",
    ):
        registry.rollback("cancer")
    with pytest.raises(ModelNotFoundError):
        registry.rollback("nope")


# -- compare ----------------------------------------------------------------------------------------


def test_compare_puts_metrics_side_by_side_and_lists_params_that_differ(registry, model):
    registry.register(
        "cancer", model, metrics={"accuracy": 0.9, "f1": 0.8}, params={"C": 1.0, "seed": 0}, data_digest="a"
    )
    registry.register(
        "cancer",
        model,
        metrics={"accuracy": 0.95, "auc": 0.99},
        params={"C": 2.0, "seed": 0},
        data_digest="a",
    )
    result = registry.compare("cancer", 1, "latest")
    assert result["name"] == "cancer" and result["versions"] == [1, 2]
    assert result["metrics"] == [
        {"metric": "accuracy", "v1": 0.9, "v2": 0.95, "difference": pytest.approx(0.05)},
        {"metric": "auc", "v1": None, "v2": 0.99, "difference": None},
        {"metric": "f1", "v1": 0.8, "v2": None, "difference": None},
    ]
    assert result["params"] == [{"param": "C", "v1": 1.0, "v2": 2.0}]
    assert result["same_data"] is True and result["same_artifact"] is True
    with pytest.raises(ModelNotFoundError, match="has no version 3"):
        registry.compare("cancer", 1, 3)


# -- concurrency ------------------------------------------------------------------------------------


def test_concurrent_registrations_get_versions_one_to_eight(registry, model):
    barrier = threading.Barrier(8)
    results: list[ModelVersion] = []
    failures: list[BaseException] = []

    def register() -> None:
        try:
            barrier.wait()
            results.append(registry.register("cancer", model, metrics={"accuracy": 0.9}))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(v.version for v in results) == list(range(1, 9))
    assert [v.version for v in registry.versions("cancer")] == list(range(1, 9))
    assert sorted(t["version"] for t in registry.transitions("cancer")) == list(range(1, 9))


def test_concurrent_registrations_from_separate_registries(suiro_home, model):
    Registry(suiro_home).close()  # create the schema once
    versions: list[int] = []
    barrier = threading.Barrier(4)

    def register() -> None:
        reg = Registry(suiro_home)
        barrier.wait()
        versions.extend(reg.register("cancer", model).version for _ in range(3))
        reg.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 13))


# -- known gaps ---------------------------------------------------------------------------------------


def test_gc_keeps_registered_models(registry, model, suiro_home):
    version = registry.register("cancer", model)
    history.gc(min_age=0, home=suiro_home)
    registry.load(version)

"""Nested configuration: ``--set model.n_estimators=200`` (and YAML, env, Python values) on a
parameter annotated with a dataclass or a pydantic model, and the errors that name the field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from suiro.config import resolve_params
from suiro.errors import ParameterError
from suiro.graph import Param


@dataclass
class Forest:
    n_estimators: int
    max_depth: int = 3


@dataclass
class Experiment:
    model: Forest
    seed: int = 0
    tags: list[str] = field(default_factory=list)


class Optimizer(BaseModel):
    lr: float
    layers: list[int] = [1]


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    lr: float = 0.1


PARAMS = (
    Param("model", Forest, Forest(100)),
    Param("experiment", Experiment, Experiment(Forest(1))),
    Param("optimizer", Optimizer, Optimizer(lr=0.1)),
    Param("loose", Loose, Loose()),
)


def resolve(params: Any = PARAMS, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("environ", {})
    return resolve_params(params, pipeline="training", **kwargs)


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


# --- setting one field -----------------------------------------------------------------------------


def test_set_one_field_of_a_dataclass_keeps_the_others_from_the_default():
    got = resolve(overrides=["model.n_estimators=200"])

    assert got["model"] == Forest(n_estimators=200, max_depth=3)
    assert PARAMS[0].default == Forest(100), "the default is not changed"


def test_set_a_field_of_a_dataclass_inside_a_dataclass():
    got = resolve(overrides=["experiment.model.max_depth=9", "experiment.tags=[a, b]"])

    assert got["experiment"] == Experiment(Forest(1, 9), seed=0, tags=["a", "b"])


def test_set_one_field_of_a_pydantic_model():
    got = resolve(overrides=["optimizer.lr=0.5"])

    assert got["optimizer"] == Optimizer(lr=0.5, layers=[1])


def test_fields_come_from_yaml_env_and_python_values_too(tmp_path: Path):
    config = tmp_path / "params.yaml"
    config.write_text("model:\n  n_estimators: 50\nexperiment.model.n_estimators: 7\n", encoding="utf-8")

    got = resolve(
        config_file=config,
        environ={"SUIRO_PARAM_OPTIMIZER__LR": "0.01"},
        values={"experiment": {"model": {"n_estimators": 8}, "seed": 4}},
    )

    assert got["model"] == Forest(50, 3)
    assert got["optimizer"] == Optimizer(lr=0.01)
    assert got["experiment"] == Experiment(Forest(8, 3), seed=4)


def test_a_model_that_allows_extra_fields_takes_them():
    assert resolve(overrides=["loose.beta=0.9"])["loose"].model_extra == {"beta": 0.9}


# --- errors that name the field -------------------------------------------------------------------------


def test_a_missing_required_field_is_named():
    params = (Param("model", Forest),)
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter model.max_depth = '5' from --set leaves required field "
            "model.n_estimators unset; give a value for it too."
        ),
    ) as info:
        resolve(params, overrides=["model.max_depth=5"])
    assert (info.value.parameter, info.value.source) == ("model.max_depth", "--set")


def test_a_missing_nested_field_in_a_yaml_file_is_named(tmp_path: Path):
    config = tmp_path / "params.yaml"
    config.write_text("experiment:\n  model:\n    max_depth: 2\n", encoding="utf-8")

    with pytest.raises(
        ParameterError,
        match=exact(
            f"pipeline training: parameter experiment = {{'model': {{'max_depth': 2}}}} from {config} leaves "
            "required field experiment.model.n_estimators unset; give a value for it too."
        ),
    ):
        resolve(config_file=config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.n_estimator=200"],
            "parameter model.n_estimator = '200' from --set names an unknown field model.n_estimator "
            '(did you mean "n_estimators"?); the fields of Forest are max_depth, n_estimators.',
        ),
        (
            ["experiment.model.depth=2"],
            "parameter experiment.model.depth = '2' from --set names an unknown field experiment.model.depth "
            '(did you mean "max_depth"?); the fields of Forest are max_depth, n_estimators.',
        ),
        (
            ["optimizer.learning_rate=0.5"],
            "parameter optimizer.learning_rate = '0.5' from --set names an unknown field "
            "optimizer.learning_rate; the fields of Optimizer are layers, lr.",
        ),
        (
            ["experiment={model: {n_estimators: 1}, sede: 3}"],
            "parameter experiment = '{model: {n_estimators: 1}, sede: 3}' from --set names an unknown field "
            'experiment.sede (did you mean "seed"?); the fields of Experiment are model, seed, tags.',
        ),
    ],
    ids=["typo", "nested", "pydantic", "whole-value"],
)
def test_an_unknown_field_is_named_with_the_closest_one(overrides, message):
    with pytest.raises(ParameterError, match=exact(f"pipeline training: {message}")):
        resolve(overrides=overrides)


def test_a_bad_field_value_is_located_inside_the_parameter():
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter model.n_estimators = 'many' from --set is not a valid Forest; "
            "give an integer for model['n_estimators']."
        ),
    ):
        resolve(overrides=["model.n_estimators=many"])

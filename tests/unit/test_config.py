"""Layered pipeline parameters: precedence, nested keys, text parsing, and every error message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suiro.config import parse_override, resolve_params
from suiro.errors import ParameterError
from suiro.graph import Param

PARAMS = (
    Param("threshold", float, 0.5),
    Param("epochs", int, 10),
    Param("grid", dict[str, int], {"depth": 3, "width": 8}),
    Param("models", list[str], ["lr"]),
    Param("name", str, "base"),
    Param("flag", bool, False),
)


def resolve(params: Any = PARAMS, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("environ", {})
    return resolve_params(params, pipeline="training", **kwargs)


def write(tmp_path: Path, text: str, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


# --- layers -------------------------------------------------------------------------------


def test_defaults_alone():
    assert resolve() == {
        "threshold": 0.5,
        "epochs": 10,
        "grid": {"depth": 3, "width": 8},
        "models": ["lr"],
        "name": "base",
        "flag": False,
    }


def test_each_layer_overrides_the_one_below(tmp_path):
    params = [Param(n, str, "default") for n in ("a", "b", "c", "d", "e")]
    config = write(tmp_path, "b: file\nc: file\nd: file\ne: file\n")
    environ = {"SUIRO_PARAM_C": "env", "SUIRO_PARAM_D": "env", "SUIRO_PARAM_E": "env"}
    got = resolve(
        params, config_file=config, environ=environ, values={"d": "value", "e": "value"}, overrides=["e=set"]
    )
    assert got == {"a": "default", "b": "file", "c": "env", "d": "value", "e": "set"}


def test_each_resolution_gets_its_own_copy_of_a_default():
    # A task that appended to a list parameter changed the pipeline's default for later runs
    first = resolve()
    first["models"].append("rf")
    first["grid"]["depth"] = 9
    assert resolve()["models"] == ["lr"] and resolve()["grid"] == {"depth": 3, "width": 8}
    assert PARAMS[3].default == ["lr"]


def test_result_follows_signature_order():
    got = resolve(overrides=["name=x", "threshold=0.1"])
    assert list(got) == [p.name for p in PARAMS]


def test_config_file_may_wrap_parameters_in_params(tmp_path):
    config = write(tmp_path, "params:\n  epochs: 3\n  name: wrapped\n")
    got = resolve(config_file=str(config))
    assert (got["epochs"], got["name"]) == (3, "wrapped")


def test_parameter_called_params_is_not_taken_for_the_wrapper(tmp_path):
    config = write(tmp_path, "params:\n  a: 1\n")
    assert resolve([Param("params", dict)], config_file=config) == {"params": {"a": 1}}


def test_empty_config_file_changes_nothing(tmp_path):
    assert resolve(config_file=write(tmp_path, "")) == resolve()


def test_yaml_values_are_coerced_in_lax_mode(tmp_path):
    config = write(tmp_path, "epochs: '7'\nthreshold: 1\nmodels: [a, b]\n")
    got = resolve(config_file=config)
    assert (got["epochs"], got["threshold"], got["models"]) == (7, 1.0, ["a", "b"])


def test_env_name_is_upper_cased_and_unknown_env_is_ignored():
    environ = {"SUIRO_PARAM_EPOCHS": "4", "SUIRO_PARAM_NOT_OURS": "x", "PATH": "/bin"}
    assert resolve(environ=environ)["epochs"] == 4


def test_values_are_validated_like_any_layer():
    got = resolve(values={"epochs": "5", "grid": {"depth": 1}})
    assert (got["epochs"], got["grid"]) == (5, {"depth": 1})


def test_unannotated_parameter_takes_anything_and_reads_text_as_yaml():
    params = [Param("anything"), Param("blob", default=object)]
    got = resolve(params, overrides=["anything=3"])
    assert got == {"anything": 3, "blob": object}
    assert resolve(params, values={"anything": {1, 2}})["anything"] == {1, 2}


def test_defaults_are_not_validated():
    assert resolve([Param("limit", int, None)]) == {"limit": None}


# --- nested keys ----------------------------------------------------------------------------


def test_dotted_set_merges_into_the_default_dict_without_mutating_it():
    default = PARAMS[2].default
    assert resolve(overrides=["grid.depth=5"])["grid"] == {"depth": 5, "width": 8}
    assert default == {"depth": 3, "width": 8}


def test_env_double_underscore_merges_into_the_file_dict(tmp_path):
    config = write(tmp_path, "grid:\n  depth: 1\n  width: 2\n")
    got = resolve(config_file=config, environ={"SUIRO_PARAM_GRID__WIDTH": "9", "SUIRO_PARAM_GRID__NEW": "4"})
    assert got["grid"] == {"depth": 1, "width": 9, "new": 4}


def test_nested_keys_create_intermediate_dicts():
    params = [Param("opts", dict, {"keep": 1}), Param("extra", dict[str, Any] | None, None)]
    got = resolve(params, overrides=["opts.a.b=[1, 2]", "extra.x=y"])
    assert got == {"opts": {"keep": 1, "a": {"b": [1, 2]}}, "extra": {"x": "y"}}


def test_whole_then_nested_in_the_same_layer():
    got = resolve(overrides=["grid={depth: 1}", "grid.width=2"])
    assert got["grid"] == {"depth": 1, "width": 2}


# --- text from env and --set -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "key", "expected"),
    [
        ("models=[a, b]", "models", ["a", "b"]),
        ("models=[]", "models", []),
        ("flag=true", "flag", True),
        ("flag=no", "flag", False),
        ("epochs=3", "epochs", 3),
        ("threshold=1e-3", "threshold", 0.001),
        ("name=0.9", "name", "0.9"),
        ("name=true", "name", "true"),
        ("name=[a, b]", "name", "[a, b]"),
        ("name=", "name", ""),
        ("name=a=b", "name", "a=b"),
    ],
)
def test_set_text_is_read_by_the_annotation(item, key, expected):
    got = resolve(overrides=[item])[key]
    assert got == expected
    assert type(got) is type(expected)


def test_optional_int_accepts_null():
    assert resolve([Param("seed", int | None, 1)], overrides=["seed=null"]) == {"seed": None}


def test_text_stays_text_only_where_the_annotation_needs_text():
    params = [Param("x", Any, None), Param("label", str | None, "a"), Param("tags", dict[str, str], {})]
    got = resolve(params, overrides=["x=3", "label=null", "tags.v=0.1"])
    assert got == {"x": 3, "label": None, "tags": {"v": "0.1"}}
    assert resolve(params, overrides=["x=hello", "label=nothing"])["label"] == "nothing"


def test_dict_without_value_type_reads_nested_text_as_yaml():
    got = resolve([Param("opts", dict, {})], overrides=["opts.lr=0.1", "opts.name=adam"])
    assert got == {"opts": {"lr": 0.1, "name": "adam"}}


def test_annotation_reading_of_the_text_beats_yaml():
    # YAML 1.1 reads 010 as octal 8; the annotation reads the text as 10, and that wins.
    assert resolve([Param("opts", dict[str, int], {})], overrides=["opts.n=010"]) == {"opts": {"n": 10}}


def test_parse_override_splits_dotted_keys():
    assert parse_override("grid.depth=3") == (["grid", "depth"], "3")
    assert parse_override(" a . b =x=y") == (["a", "b"], "x=y")


@pytest.mark.parametrize("item", ["threshold", ".a=1", "a..b=1", "=1"])
def test_parse_override_rejects_bad_items(item):
    with pytest.raises(ParameterError, match=r"--set item .* (has no '='|has an empty name or key)"):
        parse_override(item)


@given(st.integers())
def test_int_set_round_trips(value):
    assert resolve([Param("n", int)], overrides=[f"n={value}"]) == {"n": value}


@given(st.text())
def test_str_set_is_kept_verbatim(value):
    assert resolve([Param("s", str)], overrides=[f"s={value}"]) == {"s": value}


# --- errors ---------------------------------------------------------------------------------


def test_invalid_value_names_pipeline_parameter_value_source_and_fix():
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter threshold = 'high' from --set is not a valid float; give a number."
        ),
    ) as info:
        resolve(overrides=["threshold=high"])
    assert (info.value.parameter, info.value.source) == ("threshold", "--set")


def test_invalid_env_value_names_the_variable():
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter epochs = 'many' from env SUIRO_PARAM_EPOCHS is not a valid int; "
            "give an integer."
        ),
    ) as info:
        resolve(environ={"SUIRO_PARAM_EPOCHS": "many"})
    assert info.value.source == "env SUIRO_PARAM_EPOCHS"


def test_invalid_file_value_names_the_file(tmp_path):
    config = write(tmp_path, "flag: maybe\n")
    with pytest.raises(ParameterError, match=re.escape(f"flag = 'maybe' from {config} is not a valid bool")):
        resolve(config_file=config)


def test_invalid_typed_value_is_not_turned_into_text():
    with pytest.raises(
        ParameterError,
        match=exact("pipeline training: parameter name = 0.9 from params is not a valid str; give a string."),
    ):
        resolve(values={"name": 0.9})


def test_invalid_item_is_located_inside_the_value():
    with pytest.raises(ParameterError, match=re.escape("give an integer for grid['depth'].")):
        resolve(overrides=["grid.depth=deep"])
    with pytest.raises(ParameterError, match=re.escape("give a string for models[1].")):
        resolve(overrides=["models=[a, [b]]"])


def test_constraint_message_comes_from_pydantic():
    from typing import Literal

    with pytest.raises(ParameterError, match=re.escape("is not a valid Literal['a', 'b']; give 'a' or 'b'.")):
        resolve([Param("mode", Literal["a", "b"], "a")], overrides=["mode=c"])


def test_missing_parameter():
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter source is required; give it with --set source=..., "
            "in the config file, or as SUIRO_PARAM_SOURCE."
        ),
    ) as info:
        resolve([Param("source", str)])
    assert (info.value.parameter, info.value.source) == ("source", None)


@pytest.mark.parametrize(
    ("kwargs", "source"),
    [
        ({"overrides": ["treshold=0.1"]}, "--set"),
        ({"values": {"treshold": 0.1}}, "params"),
        ({"overrides": ["treshold.x=0.1"]}, "--set"),
    ],
)
def test_unknown_parameter_offers_close_name(kwargs, source):
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training has no parameter 'treshold' (did you mean \"threshold\"?), "
            f"given in {source}; known parameters are epochs, flag, grid, models, name, threshold."
        ),
    ) as info:
        resolve(**kwargs)
    assert (info.value.parameter, info.value.source) == ("treshold", source)


def test_unknown_parameter_in_file(tmp_path):
    config = write(tmp_path, "zzz: 1\n")
    with pytest.raises(
        ParameterError,
        match=exact(f"pipeline training has no parameter 'zzz', given in {config}; known parameters are a."),
    ):
        resolve([Param("a", int, 1)], config_file=config)


def test_unknown_parameter_when_there_are_none():
    with pytest.raises(ParameterError, match="has no parameter 'a', given in --set; it takes none"):
        resolve([], overrides=["a=1"])


def test_bad_set_syntax():
    with pytest.raises(
        ParameterError,
        match=exact("pipeline training: --set item 'threshold' has no '='; write it as name=value."),
    ) as info:
        resolve(overrides=["threshold"])
    assert info.value.source == "--set"


def test_empty_nested_key_from_env():
    with pytest.raises(
        ParameterError, match=re.escape("parameter grid. = '1' from env SUIRO_PARAM_GRID__ has an empty key")
    ):
        resolve(environ={"SUIRO_PARAM_GRID__": "1"})


def test_config_file_missing(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(
        ParameterError, match=exact(f"pipeline training: config file {path} does not exist; check the path.")
    ) as info:
        resolve([Param("a", int)], config_file=path)  # a's absence is not reported on top
    assert info.value.source == str(path)


def test_config_file_unreadable(tmp_path):
    with pytest.raises(ParameterError, match=f"config file {re.escape(str(tmp_path))} cannot be read"):
        resolve(config_file=tmp_path)


def test_config_file_bad_yaml_names_the_line(tmp_path):
    config = write(tmp_path, "epochs: 1\nmodels: [a, b\nname: x\n")
    with pytest.raises(ParameterError, match=re.escape(f"config file {config}:3 is not valid YAML (")):
        resolve(config_file=config)


def test_config_file_top_level_must_be_a_mapping(tmp_path):
    config = write(tmp_path, "- epochs\n- 3\n")
    with pytest.raises(
        ParameterError,
        match=exact(
            f"pipeline training: config file {config} has a top level of type list, not a mapping of "
            'parameter names to values; write one "name: value" line per parameter.'
        ),
    ):
        resolve(config_file=config)


def test_config_file_python_tags_are_refused(tmp_path):
    canary = tmp_path / "canary"
    config = write(tmp_path, f'name: !!python/object/new:os.system ["touch {canary}"]\n')
    with pytest.raises(ParameterError, match=re.escape(f"config file {config}:1 is not valid YAML (")):
        resolve(config_file=config)
    assert not canary.exists()


def test_nested_key_into_non_dict_parameter():
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter threshold.x = '1' from --set goes inside threshold = 0.5, "
            "which is not a mapping; set threshold as a whole."
        ),
    ) as info:
        resolve(overrides=["threshold.x=1"])
    assert (info.value.parameter, info.value.source) == ("threshold.x", "--set")


def test_nested_key_into_non_dict_item():
    with pytest.raises(ParameterError, match=re.escape("goes inside opts.a = 1, which is not a mapping")):
        resolve([Param("opts", dict, {"a": 1})], overrides=["opts.a.b=2"])


def test_unusable_annotation_is_reported():
    with pytest.raises(ParameterError, match="parameter x = '1' from --set cannot be checked as Nope"):
        resolve([Param("x", "Nope")], overrides=["x=1"])


def test_plain_class_annotation_accepts_instances():
    class Model:
        pass

    model = Model()
    assert resolve([Param("m", Model)], values={"m": model}) == {"m": model}


def test_all_problems_are_reported_together(tmp_path):
    params = [*PARAMS, Param("source", str)]
    config = write(tmp_path, "epochs: lots\n")
    with pytest.raises(ParameterError) as info:
        resolve(
            params, config_file=config, environ={"SUIRO_PARAM_FLAG": "perhaps"}, overrides=["treshold=1", "x"]
        )
    message = str(info.value)
    parts = [
        f"parameter epochs = 'lots' from {config} is not a valid int",
        "parameter flag = 'perhaps' from env SUIRO_PARAM_FLAG is not a valid bool",
        "has no parameter 'treshold'",
        "--set item 'x' has no '='",
        "parameter source is required",
    ]
    positions = [message.index(part) for part in parts]
    assert positions == sorted(positions)
    assert message.count("; pipeline training") == len(parts) - 1
    assert message.endswith(".") and not message.endswith("..")
    assert (info.value.parameter, info.value.source) == ("epochs", str(config))


def test_later_valid_layer_does_not_hide_an_invalid_lower_one():
    with pytest.raises(ParameterError, match="from env SUIRO_PARAM_EPOCHS is not a valid int"):
        resolve(environ={"SUIRO_PARAM_EPOCHS": "x"}, overrides=["epochs=3"])


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ({"overrides": ["threshold=nan"]}, "parameter threshold is nan;"),
        ({"overrides": ["threshold=-.inf"]}, "parameter threshold is -inf;"),
        ({"values": {"threshold": float("inf")}}, "parameter threshold is inf;"),
        ({"environ": {"SUIRO_PARAM_THRESHOLD": ".nan"}}, "parameter threshold is nan;"),
    ],
)
def test_a_nan_or_infinite_parameter_is_refused_naming_it(given, shown):
    # A run's parameters are kept as JSON: NaN would break every parameter filter of the runs list
    with pytest.raises(ParameterError) as info:
        resolve(**given)
    assert f"pipeline training: {shown}" in str(info.value) and "give a finite number" in str(info.value)
    assert info.value.parameter == "threshold"


def test_a_nan_deep_in_a_default_is_named_with_its_parameter():
    params = [Param("bounds", dict[str, list[float]], {"loss": [0.0, float("inf")]})]
    with pytest.raises(
        ParameterError,
        match=exact(
            "pipeline training: parameter bounds is {'loss': [0.0, inf]}, which holds inf; a run's parameters"
            " are kept as JSON, which has no NaN or infinity: give a finite number (or None for no limit)."
        ),
    ):
        resolve(params)
    assert resolve(params, values={"bounds": {"loss": [0.0, 9.0]}}) == {"bounds": {"loss": [0.0, 9.0]}}


# --- booleans are not numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"overrides": ["epochs=yes"]},
            "parameter epochs = 'yes' from --set is read as a boolean, not a number as int wants",
        ),
        (
            {"overrides": ["threshold=off"]},
            "parameter threshold = 'off' from --set is read as a boolean, not a number as float wants",
        ),
        (
            {"environ": {"SUIRO_PARAM_EPOCHS": "true"}},
            "epochs = 'true' from env SUIRO_PARAM_EPOCHS is read as a boolean",
        ),
        (
            {"values": {"epochs": True}},
            "parameter epochs = True from params is a boolean, not a number as int wants",
        ),
        (
            {"overrides": ["grid.depth=no"]},
            "parameter grid.depth = 'no' from --set is read as a boolean at grid['depth'], "
            "not a number as dict[str, int] wants",
        ),
    ],
)
def test_a_boolean_is_refused_for_a_number(kwargs, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        resolve(**kwargs)


def test_a_boolean_in_a_config_file_is_refused_for_a_number_inside_a_list(tmp_path):
    config = write(tmp_path, "counts: [1, true]\nscale: false\n")
    params = [Param("counts", list[int]), Param("scale", float | None)]
    with pytest.raises(ParameterError) as caught:
        resolve(params, config_file=config)
    assert (
        f"parameter counts = [1, True] from {config} is a boolean at counts[1], "
        "not a number as list[int] wants" in str(caught.value)
    )
    assert f"parameter scale = False from {config} is a boolean, not a number as float | None wants" in str(
        caught.value
    )


def test_booleans_still_go_where_booleans_are_wanted():
    params = [Param("flag", bool), Param("either", int | bool), Param("anything", Any), Param("n", int)]
    got = resolve(params, overrides=["flag=yes", "either=true", "anything=on", "n=1"])
    assert got == {"flag": True, "either": True, "anything": True, "n": 1}
    assert type(got["either"]) is bool

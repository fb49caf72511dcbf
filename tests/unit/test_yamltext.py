"""The bounded YAML reader: aliases may add at most MAX_ALIAS_VALUES values, never loop."""

from __future__ import annotations

import time

import pytest
import yaml

from suiro import yamltext
from suiro.yamltext import YamlAliasError, check_aliases, load


def _laughs(levels: int) -> str:
    rows = ["l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    rows += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(rows)


def test_a_billion_laughs_is_refused_in_milliseconds():
    started = time.perf_counter()
    with pytest.raises(YamlAliasError, match=r"expand 28 written values to 490,329,064 \(at most 100,000"):
        load(_laughs(9))
    assert time.perf_counter() - started < 0.5


def test_aliases_up_to_the_budget_are_read_as_shared_values():
    data = load(_laughs(5))  # 9**5 = 59,049 strings at the last level: under the budget
    assert data["l4"][0] is data["l3"] and len(data["l4"]) == 9


def test_the_budget_counts_only_what_aliases_add(monkeypatch):
    monkeypatch.setattr(yamltext, "MAX_ALIAS_VALUES", 1_000)  # PyYAML parses ~15,000 values a second
    big = "[" + ",".join(["1"] * 2_000) + "]"
    assert len(load(f"plain: {big}")["plain"]) == 2_000
    with pytest.raises(YamlAliasError):
        load(f"a: &a {big}\nb: *a\n")


@pytest.mark.parametrize("text", ["a: &a [1, *a]", "a: &a {k: *a}", "a: &a [[[*a]]]"])
def test_an_anchor_inside_itself_is_refused(text):
    with pytest.raises(YamlAliasError, match="anchor at line 1 refers to itself"):
        load(text)


def test_merge_keys_and_repeated_aliases_still_work():
    text = "base: &b {x: 1, y: 2}\nover: {<<: *b, y: 3}\nboth: [*b, *b]\n"
    assert load(text) == {"base": {"x": 1, "y": 2}, "over": {"x": 1, "y": 3}, "both": [{"x": 1, "y": 2}] * 2}


def test_python_tags_stay_a_parse_error():
    with pytest.raises(yaml.constructor.ConstructorError):
        load("!!python/object/new:os.system [echo hi]")


def test_check_aliases_works_on_a_composed_node():
    check_aliases(yaml.compose("a: &a [1, 2]\nb: *a\n"))
    with pytest.raises(YamlAliasError):
        check_aliases(yaml.compose(_laughs(9)))


def test_load_with_lines_gives_the_line_of_every_key_and_item():
    text = "top: 1\nlist:\n  - name: a\n    keys: {x: 1}\n  - name: b\n"
    data, lines = yamltext.load_with_lines(text)
    assert data == {"top": 1, "list": [{"name": "a", "keys": {"x": 1}}, {"name": "b"}]}
    assert lines[("top",)] == 1 and lines[("list",)] == 2
    assert lines[("list", 0)] == 3 and lines[("list", 0, "keys", "x")] == 4
    assert lines[("list", 1, "name")] == 5


def test_load_with_lines_keeps_the_alias_bound():
    with pytest.raises(YamlAliasError):
        yamltext.load_with_lines(_laughs(9))

"""suiro.yaml: read with safe_load, its form checked by pydantic, every problem named with its line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from suiro import project
from suiro.errors import DeploymentError

GOOD = """
notify:
  on: [failed, late]
  email: [ml-team@example.com]
smtp:
  host: 127.0.0.1
  port: 8025
  sender: suiro@example.com
deployments:
  - name: nightly
    pipeline: suiro.ml.pipeline:training
    params: {threshold: 0.95}
    cron: "0 2 * * *"
    timezone: Asia/Tokyo
    start: 2026-11-01
    max_active_runs: 1
  - name: on-data
    pipeline: train.py:training
    every: 6h
    catchup: none
    triggers:
      - on_file: data/incoming/*.csv
        param: source
      - after: nightly
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suiro.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(DeploymentError) as caught:
        project.load(write(tmp_path, text))
    message = str(caught.value).replace(f"{tmp_path}/", "")
    assert "\n" not in message and message.endswith(".")
    return message


def test_a_good_file_gives_its_deployments_notify_and_smtp(tmp_path):
    found = project.load(write(tmp_path, GOOD))
    nightly, on_data = found.deployments
    assert (nightly.name, nightly.pipeline, nightly.params) == (
        "nightly",
        "suiro.ml.pipeline:training",
        {"threshold": 0.95},
    )
    assert (nightly.cron, nightly.timezone, nightly.start, nightly.max_active_runs) == (
        "0 2 * * *",
        "Asia/Tokyo",
        "2026-11-01",
        1,
    )
    assert (on_data.every, on_data.catchup) == ("6h", "none")
    assert [t.kind for t in on_data.triggers] == ["file", "after"]
    assert (on_data.triggers[0].on_file, on_data.triggers[0].param) == ("data/incoming/*.csv", "source")
    assert (on_data.triggers[1].after, on_data.triggers[1].state) == ("nightly", "success")
    assert found.notify is not None and found.notify.as_dict() == {
        "on": ["failed", "late"],
        "email": ["ml-team@example.com"],
    }  # YAML 1.1 reads on: as true
    assert found.smtp is not None and found.smtp.as_dict() == {
        "host": "127.0.0.1",
        "port": 8025,
        "sender": "suiro@example.com",
    }
    assert found.base == tmp_path and found.location(1) == f"{found.label}:16"


def test_an_unknown_key_is_named_with_its_line_and_the_closest_key(tmp_path):
    message = problem(
        tmp_path, "deployments:\n  - name: nightly\n    pipeline: train.py\n    cronn: '0 2 * * *'\n"
    )
    assert message.startswith(
        "suiro.yaml:4: deployment nightly has an unknown key 'cronn' (did you mean \"cron\"?)"
    )


def test_an_unknown_top_level_key_is_named(tmp_path):
    message = problem(tmp_path, "deployments: []\nnotfy: {email: [a@b.c]}\n")
    assert message.startswith("suiro.yaml:2: unknown key 'notfy' (did you mean \"notify\"?)")


def test_a_python_tag_is_refused_with_its_line(tmp_path):
    message = problem(
        tmp_path, "deployments:\n  - name: x\n    pipeline: !!python/object/apply:os.system ['true']\n"
    )
    assert message.startswith("suiro.yaml:3: the tag !!python/object/apply:os.system is refused")


def test_unquoted_cron_stars_are_not_yaml_and_the_message_says_to_quote(tmp_path):
    message = problem(tmp_path, "deployments:\n  - name: x\n    pipeline: a.py\n    cron: */5 * * * *\n")
    assert message.startswith("suiro.yaml:4: is not valid YAML") and "quote" in message


@pytest.mark.parametrize(
    ("entry", "line", "expected"),
    [
        (
            "max_active_runs: 0",
            4,
            "max_active_runs = 0 is not valid; give a value greater than or equal to 1",
        ),
        ("max_catchup_runs: -3", 4, "max_catchup_runs = -3 is not valid"),
        ("catchup: sometimes", 4, "catchup = 'sometimes' is not valid; give 'latest', 'all' or 'none'"),
        (
            "executor: gpu",
            4,
            "executor = 'gpu' is not valid; give 'sequential', 'threads', 'processes' or 'dask'",
        ),
        ("max_active_runs: yes", 4, "max_active_runs = True is not valid; give an integer"),
        ("name: '../etc'", 4, "name = '../etc' is not valid"),
        ("triggers: [{on_file: ''}]", 4, "triggers[0].on_file = '' is not valid"),
        ("triggers: [{after: etl, state: sometimes}]", 4, "triggers[0].state = 'sometimes' is not valid"),
        (
            "triggers: [{on_files: x}]",
            4,
            "triggers[0] = {'on_files': 'x'} is not valid; give {on_file: PATTERN",
        ),
        ("notify: {on: [exploded]}", 4, "notify.on[0] = 'exploded' is not valid"),
        ("notify: {emial: [a@b.c]}", 4, "has an unknown key 'notify.emial' (did you mean \"email\"?)"),
        ("notify: {email: [nobody]}", 4, "notify.email[0] = 'nobody' is not valid; give an e-mail address"),
        (
            "notify: {webhook: ftp://x}",
            4,
            "notify.webhook[0] = 'ftp://x' is not valid; give an http:// or https://",
        ),
        (
            "triggers: [{on_file: a, param: 1x}]",
            4,
            "triggers[0].param = '1x' is not valid; give a parameter name",
        ),
        # a union said it once per member, in pydantic's words: "sla.constrained-float = -5 ...;
        # sla.str = -5 is not valid; give a string"
        ("sla: -5", 4, "sla = -5 is not valid; give a value greater than 0."),
        ("sla: [1]", 4, "sla = [1] is not valid; give a string or a number."),
    ],
)
def test_a_bad_value_is_named_with_its_deployment_key_and_line(tmp_path, entry, line, expected):
    message = problem(tmp_path, f"deployments:\n  - name: nightly\n    pipeline: a.py\n    {entry}\n")
    prefix = "suiro.yaml:4: deployment nightly" if "name:" not in entry else "suiro.yaml:4: deployments[0]"
    assert message.startswith(f"{prefix}"), message
    assert expected in message, message
    assert message.count("suiro.yaml:") == 1 and "constrained" not in message, message


def test_a_missing_pipeline_names_the_deployment_line(tmp_path):
    message = problem(tmp_path, "deployments:\n  - cron: '0 2 * * *'\n  - name: b\n    cron: '@daily'\n")
    assert message.startswith("suiro.yaml:2: deployments[0] has no name; add name: NAME"), message
    assert "suiro.yaml:3: deployment b has no pipeline; add pipeline: FILE.py:PIPELINE" in message


def test_cron_and_every_together_are_refused(tmp_path):
    message = problem(
        tmp_path, "deployments:\n  - name: x\n    pipeline: a.py\n    cron: '@daily'\n    every: 6h\n"
    )
    assert message.startswith("suiro.yaml:2: deployment x has both cron and every; keep one")


def test_two_deployments_of_one_name_are_refused_at_the_second(tmp_path):
    message = problem(
        tmp_path, "deployments:\n  - name: x\n    pipeline: a.py\n  - name: x\n    pipeline: b.py\n"
    )
    assert message.startswith("suiro.yaml:4: deployment x is declared twice (first at line 2)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: x\n", "suiro.yaml has a top level of type list, not a mapping"),
        ("deployments: {name: x}\n", "suiro.yaml:1: deployments = {'name': 'x'} is not valid; give a list"),
    ],
)
def test_a_file_of_the_wrong_shape_is_one_sentence(tmp_path, text, expected):
    assert problem(tmp_path, text).startswith(expected)


def test_an_empty_file_declares_nothing(tmp_path):
    assert project.load(write(tmp_path, "# nothing yet\n")).deployments == []


def test_a_missing_file_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(
        DeploymentError,
        match=r"no project file .*nothing\.yaml; .*suiro deploy FILE.py:PIPELINE --cron '0 2 \* \* \*'\.$",
    ):
        project.load(tmp_path / "nothing.yaml")


def test_settings_give_the_projects_notify_and_smtp_as_plain_mappings(tmp_path):
    assert project.settings(tmp_path) == (None, None)
    write(
        tmp_path,
        "notify: {on: [failed, success], webhook: 'secret:SLACK', retries: 2}\nsmtp: {host: mx, ssl: true}\n",
    )
    notify, smtp = project.settings(tmp_path)
    assert notify == {"on": ["failed", "success"], "webhook": ["secret:SLACK"], "retries": 2}
    assert smtp == {"host": "mx", "ssl": True}


def test_a_password_in_the_smtp_section_is_refused_for_a_secrets_name(tmp_path):
    message = problem(tmp_path, "smtp: {host: mx, password: hunter2}\n")
    assert message.startswith("suiro.yaml:1: unknown key 'smtp.password' (did you mean \"password_secret\"?)")
    assert "hunter2" not in message


def test_definitions_hold_anchors_that_deployments_merge(tmp_path):
    text = (
        "definitions:\n  base: &base {pipeline: a.py, timezone: Asia/Tokyo}\n"
        "deployments:\n  - <<: *base\n    name: a\n    cron: '@daily'\n"
    )
    (only,) = project.load(write(tmp_path, text)).deployments
    assert (only.name, only.pipeline, only.timezone, only.cron) == ("a", "a.py", "Asia/Tokyo", "@daily")


def test_the_project_files_notify_and_smtp_sections_take_exactly_the_keys_the_senders_read():
    """suiro.project checks the form of notify:/smtp: with their lines; suiro.notify and suiro.mail
    say what the keys mean. A key added to one and not the other would be refused or ignored."""
    from suiro import delivery, mail, notify

    assert delivery.PROJECT_FILE == project.FILENAME

    assert set(project.Notify.model_fields) == set(notify._KEYS)
    assert set(project.Smtp.model_fields) == {f.name for f in dataclasses.fields(mail.SmtpConfig)}

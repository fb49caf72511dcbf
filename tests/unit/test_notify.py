"""``Notify`` and the SMTP settings: checked where they are written, merged across layers, and
webhook tokens kept as secret references."""

from __future__ import annotations

import pytest

from suiro import Notify, pipeline, secrets, task
from suiro.errors import DefinitionError
from suiro.mail import MailError, SmtpConfig
from suiro.notify import NotifyError, Route, Routes, project_layer, resolve, routes


def test_defaults_cover_what_needs_a_person():
    n = Notify(email="ops@example.com, ml@example.com")
    assert n.on == ("failed", "crashed", "gate_failed", "late")
    assert n.email == ("ops@example.com", "ml@example.com")
    assert Notify.parse(n.to_json()) == n


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (
            {"on": ["faild"]},
            r"notify: unknown event 'faild' \(did you mean \"failed\"\?\); events are failed,",
        ),
        (
            {"email": ["ops at example"]},
            r"'ops at example' is not an e-mail address; write it as name@example.com",
        ),
        (
            {"webhook": "hooks.example/x"},
            r"webhook 'hooks.example/x' must be an http:// or https:// URL, or secret",
        ),
        ({"timeout": 0}, r"timeout must be a number of seconds > 0, got 0"),
        ({"retries": -1}, r"retries must be an integer from 0 to 10, got -1"),
    ],
)
def test_bad_settings_are_one_sentence_naming_the_setting(kwargs, error):
    with pytest.raises(NotifyError, match=error):
        Notify(**kwargs)


def test_parse_names_an_unknown_key_and_the_closest_one():
    with pytest.raises(
        NotifyError, match=r"deployment x notify has an unknown key 'emails' \(did you mean \"email\""
    ):
        Notify.parse({"emails": ["a@b.co"]}, where="deployment x notify")
    with pytest.raises(NotifyError, match=r"notify must be suiro.Notify\(...\) or a mapping"):
        Notify.parse("ops@example.com")  # type: ignore[arg-type]


def test_a_pipeline_with_a_bad_notify_fails_at_its_definition_line():
    with pytest.raises(
        DefinitionError, match=r"pipeline p at .*test_notify.py:\d+: notify: unknown event 'crash'"
    ):

        @pipeline(notify={"on": ["crash"]})
        def p(): ...


def test_layers_merge_as_a_union_each_address_hearing_its_layers_events():
    merged = routes(
        Notify(on="failed", email="owner@example.com", timeout=3),
        None,
        Notify(on="crashed", email=["owner@example.com", "ops@example.com"], webhook="https://h.example/T/x"),
    )
    assert {(r.channel, r.address): set(r.on) for r in merged.routes} == {
        ("email", "owner@example.com"): {"failed", "crashed"},
        ("email", "ops@example.com"): {"crashed"},
        ("webhook", "https://h.example/T/x"): {"crashed"},
    }
    assert merged.timeout == 3, "the most specific layer's settings"
    assert [r.address for r in merged.for_event("failed")] == ["owner@example.com"]
    assert Routes.from_json(merged.to_json()) == merged
    assert not routes(None, None) and not routes(Notify())


def test_records_name_a_webhook_by_its_host_only():
    hook = Route("webhook", "https://hooks.slack.com/services/T0/B0/xyzzy", frozenset({"failed"}))
    assert hook.target.startswith("https://hooks.slack.com/...#") and "xyzzy" not in hook.target
    other = Route("webhook", "https://hooks.slack.com/services/T0/B0/other", frozenset({"failed"}))
    assert other.target != hook.target, "two webhooks on one host are two targets"


def test_a_webhook_holding_a_secret_is_kept_as_a_reference(monkeypatch):
    monkeypatch.setenv("SUIRO_SECRET_SLACK_URL", "https://hooks.slack.com/services/T0/B0/tok-123456")
    monkeypatch.setenv("SUIRO_SECRET_TOKEN", "tok-abcdef")
    secrets.reload()
    try:
        whole = Notify(webhook=secrets.secret("slack_url"))
        part = Notify(webhook="https://h.example/hook/tok-abcdef?x=1")
        assert whole.webhook == ("secret:slack_url",)
        assert part.webhook == ("https://h.example/hook/{secret:token}?x=1",)
        assert resolve(part.webhook[0]) == "https://h.example/hook/tok-abcdef?x=1"
        assert resolve("secret:slack_url").endswith("tok-123456")
    finally:
        secrets.reload()


def test_the_project_layer_comes_from_the_environment():
    env = {
        "SUIRO_NOTIFY_EMAIL": "a@x.io b@y.io",
        "SUIRO_NOTIFY_ON": "failed,late",
        "SUIRO_NOTIFY_TIMEOUT": "4",
    }
    layer = project_layer(environ=env)
    assert layer is not None and layer.email == ("a@x.io", "b@y.io") and layer.on == ("failed", "late")
    assert layer.timeout == 4.0
    alert = project_layer(environ={"SUIRO_ALERT_WEBHOOK": "http://127.0.0.1:9/x"})
    assert alert is not None and alert.webhook == ("http://127.0.0.1:9/x",), "today's alert webhook counts"
    assert project_layer(environ={}) is None
    with pytest.raises(NotifyError, match=r"SUIRO_NOTIFY_TIMEOUT='soon' is not a number of seconds"):
        project_layer(environ={"SUIRO_NOTIFY_EMAIL": "a@x.io", "SUIRO_NOTIFY_TIMEOUT": "soon"})
    with pytest.raises(NotifyError, match=r"the SUIRO_NOTIFY_EMAIL/.* variables: unknown event 'failure'"):
        project_layer(environ={"SUIRO_NOTIFY_EMAIL": "a@x.io", "SUIRO_NOTIFY_ON": "failure"})
    with pytest.raises(NotifyError, match=r"suiro.yaml notify has an unknown key 'mail'"):
        project_layer({"mail": "a@x.io"}, environ={})


def test_smtp_settings_never_hold_a_password():
    assert SmtpConfig.parse({"host": "mail.example", "starttls": True, "port": 587}) == SmtpConfig(
        "mail.example", 587, starttls=True
    )
    with pytest.raises(MailError, match=r"smtp: give the password as password_secret: NAME"):
        SmtpConfig.parse({"host": "mail.example", "password": "hunter2"})
    with pytest.raises(MailError, match=r"smtp has an unknown key 'hots' \(did you mean \"host\"\?\)"):
        SmtpConfig.parse({"hots": "mail.example"})
    with pytest.raises(MailError, match=r"SUIRO_SMTP_PORT='smtp' is not a port number"):
        SmtpConfig.from_env({"SUIRO_SMTP_HOST": "mail.example", "SUIRO_SMTP_PORT": "smtp"})
    assert SmtpConfig.from_env({}) is None
    env = {"SUIRO_SMTP_HOST": "m.example", "SUIRO_SMTP_STARTTLS": "1", "SUIRO_SMTP_PASSWORD_SECRET": "smtp"}
    assert SmtpConfig.from_env(env) == SmtpConfig("m.example", 25, password_secret="smtp", starttls=True)
    # accepted before, then every message went out from "not" (MAIL FROM), or failed after retries
    with pytest.raises(MailError, match=r"sender 'not an address' is not an e-mail address"):
        SmtpConfig.from_env({"SUIRO_SMTP_HOST": "m.example", "SUIRO_SMTP_SENDER": "not an address"})
    with pytest.raises(MailError, match=r"starttls and ssl are both on; use ssl for a TLS port"):
        SmtpConfig.parse({"host": "m.example", "starttls": True, "ssl": True})
    assert SmtpConfig.parse({"host": "m.example", "sender": "ml@m.example"}).sender == "ml@m.example"


def test_task_hooks_are_options_held_as_tuples():
    def hook(ctx): ...

    @task(on_failure=hook)
    def t(x: int) -> int:
        return x

    assert t.options.on_failure == (hook,) and t.options.on_retry == ()
    assert t.with_options(on_failure=None).options.on_failure == ()

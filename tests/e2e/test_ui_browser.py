"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One ``suiro ui`` process (with a token) and one browser serve the whole module; the browser
logs in once through the form. Covered as a user would: a running run's task turns green
without a reload, a failed run's traceback can be read, runs are filtered by state, a
pipeline named ``<script>`` renders as text (no dialog opens), a model is promoted through
the form, two runs are compared from the runs list and two model versions from the model's
page with the keyboard alone, a deployment is triggered from its form (a bad value shows the
``--set`` error, a good one runs: the UI starts it, no scheduler here) and a failed run is
resumed from its page. With
``SUIRO_UI_SCREENSHOTS=<folder>`` the main pages are saved there at 1280x800 (``docs/ui`` holds
the current ones).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from pipelines import ui_example
from pipelines.cli_harness import Cli
from pipelines.daily_source import DAILY
from pipelines.ui_harness import ui_server

import suiro
from suiro.registry import Registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None
if CHROMIUM is None or sync_playwright is None:
    pytest.skip(
        "BROWSER TESTS SKIPPED: no chromium or playwright here; install them with "
        "`apt-get install -y chromium` and `pip install -e '.[test]'`",
        allow_module_level=True,
    )

TOKEN = "browser-test-token-0123456789abcdef"
EXAMPLE = Path(ui_example.__file__)
PIPELINE = "<script>alert('pipeline')</script>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("browser"))
    runs = {
        name: suiro.run(getattr(ui_example, name), home=cli.home).run_id
        for name in ("mapped", "failing", "hostile")
    }
    registry = Registry(cli.home)
    lineage = {"run_id": runs["mapped"], "task_key": "train", "data_digest": "5e1f" * 16}
    registry.register("churn", {"v": 1}, metrics={"auc": 0.81}, params={"depth": 3, "lr": 0.1}, **lineage)
    registry.register("churn", {"v": 2}, metrics={"auc": 0.86}, params={"depth": 5, "lr": 0.1}, **lineage)
    registry.promote("churn", 1, "production", reason="first release")
    registry.close()
    with ui_server(cli, env={"SUIRO_UI_TOKEN": TOKEN}) as server:
        yield cli, server.url, runs


@pytest.fixture(scope="module")
def page(site):
    _, url, _ = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
        tab = context.new_page()
        tab.dialogs = []
        tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        tab.goto("/runs")  # not logged in: the login form
        tab.fill("#token", TOKEN)
        tab.keyboard.press("Enter")
        tab.wait_for_url(f"{url}runs")  # exactly: the login page's own address ends in next=/runs
        expect(tab.locator("h1")).to_have_text("Runs")
        yield tab
        browser.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("SUIRO_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _api(url: str) -> dict:
    import json

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def test_filter_runs_by_state(page, site):
    _, _, runs = site
    page.goto("/runs")
    expect(page.locator("table.runs tbody tr")).to_have_count(3)
    _shot(page, "runs")
    page.select_option("#filter-state", "failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs?*state=failed*")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator("table.runs tbody")).to_contain_text(runs["failing"])


def test_filter_and_open_a_run_with_the_keyboard_alone(page, site):
    _, _, runs = site
    page.goto("/runs")
    page.locator("body").focus()
    _tab_to(page, "filter-state")
    for _ in range(3):  # (all) -> running -> success -> failed
        page.keyboard.press("ArrowDown")
    _tab_to(page, "filter-submit")
    page.keyboard.press("Enter")
    page.wait_for_url("**/runs?*state=failed*")
    _tab_to(page, f"/runs/{runs['failing']}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/runs/{runs['failing']}")
    _tab_to(page, "#task-fragile")  # the graph's boxes are links to their task's row
    page.keyboard.press("Enter")
    page.wait_for_url("**#task-fragile")


def _tab_to(page, target: str, most: int = 40) -> None:
    """Press Tab until the focused element's id or link ends with ``target``."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.id || e.getAttribute('href') || (e.closest('a') || {}).getAttribute?.('href') || ''; }"
        )
        if focused.endswith(target):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_compare_two_runs_with_the_keyboard_alone(page, site):
    _, _, runs = site
    page.goto("/runs")
    page.locator("body").focus()
    for name in ("mapped", "failing"):
        _tab_to(page, f"pick-{runs[name]}")
        page.keyboard.press("Space")
    for _ in range(40):  # back up to the button above the table
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.id") == "compare-submit":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/compare?*")
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    expect(page.locator("table.compare thead")).to_contain_text(runs["mapped"])
    expect(page.locator("table.compare thead")).to_contain_text(runs["failing"])
    expect(page.locator("tr.differs")).to_have_count(2)  # n (mapped) and x (failing)
    _shot(page, "compare")


def test_compare_two_model_versions_with_the_keyboard_alone(page, site):
    _, _, runs = site
    page.goto("/models/churn")
    page.locator("body").focus()
    for n in (1, 2):
        _tab_to(page, f"pick-version-{n}")
        page.keyboard.press("Space")
    for _ in range(20):  # back up to the button above the table
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.id") == "compare-versions-submit":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/models/churn/compare?version=1&version=2")
    expect(page.locator("h1")).to_have_text("Compare 2 versions of churn")
    expect(page.locator("table.compare")).to_contain_text("(+0.05)")  # auc 0.81 -> 0.86
    expect(page.locator("table.compare")).to_contain_text(runs["mapped"])
    _shot(page, "model-compare")
    _tab_to(page, f"/runs/{runs['mapped']}")  # the run it came from, one key away
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/runs/{runs['mapped']}")


def test_a_failed_runs_traceback_can_be_read(page, site):
    _, _, runs = site
    page.goto(f"/runs/{runs['failing']}")
    traceback = page.locator("pre.traceback").last
    expect(traceback).to_be_visible()
    expect(traceback).to_contain_text("Traceback (most recent call last):")
    expect(traceback).to_contain_text("ValueError: the value 7 is <b>wrong</b>")  # as text, not markup
    expect(page.locator("#task-fragile .task-state")).to_have_text("failed")
    _shot(page, "failed-run")


def test_a_pipeline_named_script_renders_as_text(page, site):
    _, _, runs = site
    page.goto(f"/runs/{runs['hostile']}")
    expect(page.locator("dl.facts")).to_contain_text(PIPELINE)
    expect(page.locator("main")).to_contain_text("<script>alert('log')</script>")
    page.goto("/pipelines")
    page.get_by_role("link", name=PIPELINE).click()
    expect(page.locator("h1")).to_have_text(f"Pipeline {PIPELINE}")
    assert page.dialogs == []  # no script ran


def test_promote_a_model_with_the_token(page):
    page.goto("/models/churn")
    page.select_option("#promote-version", "2")
    page.fill("#promote-reason", "better auc in the browser")
    page.click("#promote-submit")
    expect(page.locator(".flash")).to_contain_text("promoted")
    expect(page.locator("#version-2")).to_contain_text("production")
    expect(page.locator("#version-1")).to_contain_text("archived")
    expect(page.locator("main")).to_contain_text("better auc in the browser")
    _shot(page, "model")


def test_a_running_task_turns_green_without_a_reload(page, site):
    cli, url, runs = site
    release = cli.root / "release"
    proc = subprocess.Popen(
        cli.argv("run", f"{EXAMPLE}:gated", "--set", f"path={release}"),
        env=cli.env(),
        cwd=cli.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = _running(url, "gated")
        page.goto(f"/runs/{run_id}")
        page.evaluate("window.notReloaded = true")
        row = page.locator("#task-wait_for .task-state")
        expect(row).to_have_text("running")
        _shot(page, "live-run")
        release.touch()
        expect(row).to_have_text("success", timeout=10_000)
        expect(page.locator('g.node[data-task="done"]')).to_have_class("node st-success", timeout=10_000)
        expect(page.locator("#run-state")).to_have_text("success")
        assert page.evaluate("window.notReloaded") is True
        assert proc.wait(timeout=30) == 0
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    page.goto(f"/runs/{runs['mapped']}")
    _shot(page, "run")
    page.goto("/pipelines/mapped")
    _shot(page, "pipeline")


def _running(url: str, pipeline: str) -> str:
    """The id of the run of ``pipeline`` once its first task runs (waits up to 20 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = _api(f"{url}api/v1/runs?pipeline={pipeline}&state=running")["runs"]
        if rows:
            states = _api(f"{url}api/v1/runs/{rows[0]['id']}/states")
            if any(t["task_key"] == "wait_for" and t["state"] == "running" for t in states["tasks"]):
                return rows[0]["id"]
        time.sleep(0.1)
    raise AssertionError(f"no running run of {pipeline} appeared")


def test_trigger_a_deployment_from_its_form_with_a_bad_then_a_good_value(page, site):
    from suiro import deployments

    cli, _, _ = site
    source = cli.root / "daily.py"
    source.write_text(DAILY)
    deployments.deploy(
        name="nightly",
        pipeline=f"{source}:daily",
        cron="0 2 * * *",
        timezone="Asia/Tokyo",
        params={"n": 3},
        home=cli.home,
    )
    page.goto("/deployments")
    page.get_by_role("link", name="nightly").click()
    expect(page.locator("#upcoming tbody tr")).to_have_count(5)
    _shot(page, "deployment")
    page.click("#trigger-open")
    expect(page.locator('[data-param="n"]')).to_have_value("3")  # the deployment's value
    page.fill('[data-param="n"]', "many")
    page.click("#trigger-submit")
    expect(page.locator("#trigger-error")).to_have_text(
        "pipeline daily: parameter n = 'many' from the form is not a valid int; give an integer."
    )
    expect(page.locator('[data-param="n"]')).to_have_value("many")
    _shot(page, "trigger")
    page.fill('[data-param="n"]', "4")
    page.click("#trigger-submit")
    page.wait_for_url("**/runs/2*")  # a run id: its page, while it starts, runs and ends
    expect(page.locator("#run-state")).to_have_text("success", timeout=20_000)
    expect(page.locator("dl.facts")).to_contain_text("nightly")
    expect(page.locator("#logical-time")).to_contain_text("JST")
    page.goto("/runs?deployment=nightly")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)


def test_resume_a_failed_run_from_its_page(page, site):
    cli, _, _ = site
    source = cli.root / "daily.py"
    source.write_text(DAILY)
    flag = cli.root / "flag"
    failed = suiro.run(f"{source}:daily", {"flag": str(flag)}, home=cli.home).run_id
    page.goto(f"/runs/{failed}")
    expect(page.locator("#run-state")).to_have_text("failed")
    flag.touch()
    page.click("#resume-run")
    page.wait_for_url(lambda address: address.rstrip("/").split("/")[-1] not in (failed, "resume"))
    expect(page.locator("#run-state")).to_have_text("success", timeout=20_000)
    expect(page.locator("dl.facts")).to_contain_text(failed)  # resumes: the failed run

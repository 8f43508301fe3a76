"""The `dagster dev` experience, driven the way a person uses it: in Chromium, through the UI.

Starts `dagster dev` on 127.0.0.1 with a temporary DAGSTER_HOME and data folder (flights, the
default source), then: finds every asset in the lineage graph and catalog, sees the schedule and
sensors running, launches one month of the whole graph from "Materialize all" + the partition
picker, waits for the run, reads the RMSE from the rendered evaluation report and sees the checks
passed. Every step leaves a screenshot in build/ui-screenshots/ (ML_ASSETS_UI_SCREENSHOTS).

Needs Debian's Chromium at /usr/bin/chromium (ML_ASSETS_CHROMIUM). Locally the suite is skipped
without it; with ML_ASSETS_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ml_assets.definitions import build_definitions
from ml_assets.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("ML_ASSETS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("ML_ASSETS_UI_SCREENSHOTS", REPO_ROOT / "build" / "ui-screenshots"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEED_MONTH, UI_MONTH = "2013-01", "2013-02"
RUN_TIMEOUT_S = 420


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problem = f"playwright is not installed ({exc}); `python3 dev.py test` installs it"
    else:
        problem = None if CHROMIUM.exists() else f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return
    if os.environ.get("ML_ASSETS_REQUIRE_BROWSER") == "1":
        pytest.fail(problem)
    pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"dagster dev did not answer at {url} within {timeout_s:.0f}s\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def settings_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster_dev")
    home, data = root / "home", root / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"}
    env.update(
        DAGSTER_HOME=str(home),
        ML_ASSETS_DATA_DIR=str(data),
        # the sensor's first tick ingests the newest month only, so the UI run is not queued behind eleven
        ML_ASSETS_SENSOR_LOOKBACK_MONTHS="1",
    )
    return root, env


@pytest.fixture(scope="module")
def dagster_dev(settings_env):
    """`dagster dev` from the repo root (workspace.yaml), with SEED_MONTH already materialized by the CLI."""
    _require_browser()
    root, env = settings_env
    dagster = str(Path(sys.executable).with_name("dagster"))
    seed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "ml_assets.definitions", "--select", "raw_trips*", "--partition", SEED_MONTH],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )
    assert seed.returncode == 0, seed.stderr[-4000:]
    port, log = _free_port(), root / "dagster_dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [dagster, "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", 180, log)
        yield f"http://127.0.0.1:{port}", log, Settings.from_env(env)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def page(dagster_dev, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(60_000)
        page = context.new_page()
        # Dagster's one-time "join the community" dialog opens whenever it likes; dismiss it before any action
        page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click())
        try:
            yield page
        finally:
            context.close()


def _open(page, base: str, path: str) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")


def _shot(page, name: str, **kwargs) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **kwargs)


def _expand_all_groups(page) -> None:
    hide_nav = page.get_by_role("button", name="Hide navigation")
    if hide_nav.count():
        hide_nav.click()
    graph = page.locator("svg")
    graph.get_by_text("trip_data", exact=True).first.wait_for()
    page.wait_for_timeout(500)
    if not graph.get_by_text("raw_trips", exact=True).count():  # the groups remember their last state
        page.locator("body").click(position={"x": 1000, "y": 800})  # focus the graph canvas
        page.keyboard.press("Alt+e")  # the graph's "expand all groups" shortcut
    graph.get_by_text("raw_trips", exact=True).first.wait_for()


def _graph_screenshot(page, name: str) -> None:
    """The expanded lineage graph, close enough to read each node's status rows, centred, no side panels."""
    hide_nav = page.get_by_role("button", name="Hide navigation")
    if hide_nav.count():
        hide_nav.click()
    # the asset-tree panel's toggle sits left of the graph's search box (the navigation's is further left)
    page.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter(b => b.querySelector('[aria-label^="panel_show"]') && b.getBoundingClientRect().left > 200)
            .forEach(b => b.click())"""
    )
    zoom_in = page.locator("button:has([aria-label='zoom_in'])")
    for _ in range(2):
        zoom_in.click()
    graph = page.locator("svg")
    graph.get_by_text("Asset checks").first.wait_for()
    page.wait_for_timeout(1000)  # the zoom animates
    first, last = (graph.get_by_text(n, exact=True).first.bounding_box() for n in ("raw_trips", "champion_model"))
    view = page.viewport_size
    start_x, start_y = 150, view["height"] - 100  # empty canvas below the graph
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    page.mouse.move(
        start_x + (view["width"] + 60) / 2 - (first["x"] + last["x"] + last["width"]) / 2,
        start_y + (view["height"] + 100) / 2 - first["y"],
        steps=10,
    )
    page.mouse.up()
    page.wait_for_timeout(500)
    _shot(page, name)
    # and the graph alone, for the README: the union of the two group boxes
    boxes = page.evaluate(
        """(names) => names.map(name => {
            let e = [...document.querySelectorAll('svg *')].find(x => x.childElementCount === 0 && x.textContent.trim() === name);
            while (e && e.getBoundingClientRect().height < 150) e = e.parentElement;  // up from the header to the group's box
            const r = e.getBoundingClientRect();
            return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
        })""",
        ["trip_data", "modeling"],
    )
    left, top = min(b["left"] for b in boxes) - 20, min(b["top"] for b in boxes) - 20
    right, bottom = max(b["right"] for b in boxes) + 20, max(b["bottom"] for b in boxes) + 20
    _shot(page, f"{name}-cropped", clip={"x": left, "y": top, "width": right - left, "height": bottom - top})


def _expected_graph():
    defs = build_definitions(Settings.from_env({}))
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): (graph.get(key).group_name, graph.get(key).description)
        for key in graph.get_all_asset_keys()
    }


def test_asset_graph_shows_every_asset_in_its_group(page, dagster_dev):
    from playwright.sync_api import expect

    base, _, _ = dagster_dev
    expected = _expected_graph()
    assert len(expected) == 5
    _open(page, base, "/asset-groups")
    _expand_all_groups(page)
    graph = page.locator("svg")
    for name, (group, _) in expected.items():
        graph.get_by_text(name, exact=True).first.wait_for()
        assert graph.get_by_text(group, exact=True).count(), f"group {group} of {name} not drawn"
    _graph_screenshot(page, "01-asset-graph")

    _open(page, base, "/assets")
    for name, (_, description) in expected.items():
        assert description, f"{name} has no description"
        expect(page.get_by_text(description[:50]).first).to_be_visible()
    _shot(page, "02-catalog")


def _toggle_is_on(page, name: str) -> bool:
    return page.evaluate(
        """(name) => {
            const label = [...document.querySelectorAll('a, span')].find(e => e.textContent.trim() === name);
            if (!label) return null;
            let row = label;  // the row holds a select box and, last, the on/off toggle
            while (row && row.querySelectorAll('input[type=checkbox]').length < 2) row = row.parentElement;
            const boxes = row.querySelectorAll('input[type=checkbox]');
            return boxes[boxes.length - 1].checked;
        }""",
        name,
    )


def test_schedule_and_sensors_are_running_by_default(page, dagster_dev):
    base, _, _ = dagster_dev
    _open(page, base, "/automation")
    names = ["monthly_ingest_schedule", "source_change_sensor", "run_failure_alert", "ml_assets_automation"]
    page.get_by_text(names[0], exact=True).wait_for()
    assert {name: _toggle_is_on(page, name) for name in names} == {name: True for name in names}
    _shot(page, "03-automation")


def test_materialize_a_month_from_the_ui_then_read_its_report(page, dagster_dev):
    from playwright.sync_api import expect

    base, log, settings = dagster_dev
    _open(page, base, "/asset-groups")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").wait_for()
    dialog.get_by_placeholder(re.compile(r"^ex: ")).fill(UI_MONTH)
    page.keyboard.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    _shot(page, "04-launch-one-month")
    dialog.get_by_role("button", name="Launch 1 run").click()

    # the toast's "View" (exact: the navigation's "Overview" link also contains "view")
    toast_view = page.get_by_role("link", name="View", exact=True).or_(page.get_by_role("button", name="View", exact=True))
    toast_view.first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"))
    run_id = page.url.rsplit("/", 1)[-1]
    deadline, status = time.monotonic() + RUN_TIMEOUT_S, None
    while time.monotonic() < deadline and status not in {"Success", "Failure", "Canceled"}:
        page.wait_for_timeout(2000)
        # the run page's header: "Runs / <short id> <status tag> partition: ..."
        found = re.search(rf"Runs\s*/\s*{run_id[:8]}\s+(\w+)", page.locator("body").inner_text())
        status = found.group(1) if found else None
    _shot(page, "05-run")
    assert status == "Success", f"run {run_id} ended as {status}; dagster dev log tail:\n{log.read_text()[-4000:]}"
    assert f"partition: {UI_MONTH}" in page.locator("body").inner_text()

    _open(page, base, f"/assets/evaluation_report?view=partitions&partition={UI_MONTH}")
    mlflow_link = page.locator("a[href*='/#/experiments/']").first
    expect(mlflow_link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32}$"))
    page.get_by_text("[Show Markdown]").click()
    report = page.get_by_role("dialog")
    report.get_by_text(f"evaluation for {UI_MONTH}").wait_for()
    text = report.inner_text()
    rmse = float(re.search(r"model version \d+\s+([\d.]+)", text).group(1))
    baseline = float(re.search(r"course baseline \(DictVectorizer \+ LinearRegression\)\s+([\d.]+)", text).group(1))
    stored = json.loads((Path(settings.reports_dir) / "evaluation_report" / f"{UI_MONTH}.json").read_text())
    assert rmse == pytest.approx(stored["rmse"], abs=5e-4)
    assert rmse < baseline
    plot = report.locator("img")
    assert plot.count() == 1 and plot.evaluate("img => img.naturalWidth") > 0, "the plot renders in the report"
    _shot(page, "06-evaluation-report")
    report.screenshot(path=str(SCREENSHOTS / "06-evaluation-report-cropped.png"))
    report.get_by_role("button", name="Close").click()

    for asset, count in {"raw_trips": 4, "trip_features": 3, "evaluation_report": 3}.items():
        _open(page, base, f"/assets/{asset}?view=checks")
        succeeded = page.get_by_text("Succeeded", exact=True)
        try:  # the checks list fills in after the page settles; on a busy CI machine that takes seconds
            expect(succeeded).to_have_count(count, timeout=30_000)
        except AssertionError:
            _shot(page, f"failed-{asset}-checks")
            raise
    # the selected check's latest result names the month it checked
    expect(page.get_by_text(UI_MONTH, exact=True).first).to_be_visible()
    _shot(page, "07-evaluation-checks")

    _open(page, base, "/asset-groups")
    _expand_all_groups(page)
    _graph_screenshot(page, "08-asset-graph-after-run")


def test_dagster_dev_log_has_no_warnings_from_our_code(dagster_dev):
    _, log, _ = dagster_dev
    warnings = [line for line in log.read_text().splitlines() if re.search(r"\w+Warning\b|\bWARNING\b", line)]
    ours = [line for line in warnings if "site-packages" not in line.split("Warning")[0]]
    assert not ours, "warnings from ml_assets in the dagster dev log:\n" + "\n".join(ours)

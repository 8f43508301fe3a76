"""The `dagster dev` experience, driven the way a person uses it: in Chromium, through the UI.

Starts `dagster dev` on 127.0.0.1 with a temporary DAGSTER_HOME and data folder, then: finds the
four pipelines' groups and every asset in the lineage graph and catalog, sees the schedules and
sensors running, launches one flights month of the whole graph from "Materialize all" + the
partition picker, waits for the run, reads the RMSE from the rendered evaluation report, sees the
checks passed, reads the iris classification report and the flights backtest with its decay plot.
Every step leaves a screenshot in
build/ui-screenshots/ (ML_ASSETS_UI_SCREENSHOTS).

Needs Debian's Chromium at /usr/bin/chromium (ML_ASSETS_CHROMIUM). Locally the suite is skipped
without it; with ML_ASSETS_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ml_assets.definitions import defs as load_defs
from ml_assets_tests.pipelines import REPO_ROOT, load_pipeline
from ml_assets_tests.system.services import RUN_STATUS, graphql, wait_until

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
# four months seeded by the CLI in one range run give the backtest its 1- and 3-month windows and a champion to
# show; the UI runs the fifth
SEED_MONTHS, UI_MONTH = ("2013-01", "2013-04"), "2013-05"
RUN_TIMEOUT_S = 420
GROUPS = ["nyc_flights", "nyc_taxi_green", "iris", "heart_disease"]


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
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"
    }
    env.update(
        DAGSTER_HOME=str(home),
        ML_ASSETS_DATA_DIR=str(data),
        # the flights sensor's first tick ingests the newest month only, so the UI run is not queued behind eleven
        ML_ASSETS_SENSOR_LOOKBACK_MONTHS="1",
        # an offline taxi source (nothing listens on port 9): its sensor skips, nothing else breaks
        ML_ASSETS_TAXI_URL_TEMPLATE="http://127.0.0.1:9/{color}_tripdata_{month}.parquet",
    )
    return root, env


@pytest.fixture(scope="module")
def dagster_dev(settings_env):
    """`dagster dev` from the repo root (workspace.yaml), with SEED_MONTHS already materialized by the CLI."""
    _require_browser()
    root, env = settings_env
    dagster = str(Path(sys.executable).with_name("dagster"))
    flights_range = ["--partition-range", "...".join(SEED_MONTHS)]
    for selection, partition in [("nyc_flights/raw_data*", flights_range), ("iris/raw_data*", [])]:
        seed = subprocess.run(
            [
                dagster,
                "asset",
                "materialize",
                "-m",
                "ml_assets.definitions",
                "--select",
                selection,
                *partition,
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert seed.returncode == 0, seed.stderr[-4000:]
    port, log = _free_port(), root / "dagster_dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [dagster, "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", 180, log)
        yield f"http://127.0.0.1:{port}", log, root / "data"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:  # a throwaway home: waiting out a slow shutdown cost CI 60 s
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def page(dagster_dev, tmp_path_factory):
    from playwright.sync_api import expect, sync_playwright

    # a busy machine's webserver can take longer than Playwright's 5 s to answer the queries a page draws from;
    # every wait below is on an event, so a generous deadline costs nothing when it comes sooner
    expect.set_options(timeout=60_000)
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
        page.add_locator_handler(
            page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
        )
        try:
            yield page
        finally:
            context.close()


def _open(page, base: str, path: str) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")


# the crops the manual shows (docs/*.png): `python3 dev.py screenshots` runs this module with
# ML_ASSETS_DOCS_SCREENSHOTS=docs,
# so the pictures come from the current release
DOCS_PICTURES = {
    "01-asset-graph-cropped": "asset-graph",
    "06-evaluation-report-cropped": "evaluation-report",
    "09-iris-report-cropped": "classification-report",
    "10-backtest-report-cropped": "backtest-report",
}


def _publish(name: str) -> None:
    folder = os.environ.get("ML_ASSETS_DOCS_SCREENSHOTS")
    if folder and name in DOCS_PICTURES:
        shutil.copyfile(SCREENSHOTS / f"{name}.png", Path(folder) / f"{DOCS_PICTURES[name]}.png")


def _shot(page, name: str, **kwargs) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **kwargs)
    _publish(name)


def _groups_in_view(page) -> bool:
    """Every group's header and its bottom row inside the canvas (Playwright's is_visible ignores the viewport)."""
    view = page.viewport_size
    graph = page.locator("svg")
    labels = [graph.get_by_text(group, exact=True) for group in GROUPS]
    if not all(label.count() for label in labels):  # the graph draws only what is near the view
        return False
    headers = [label.first.bounding_box() for label in labels]
    nodes = [
        b
        for b in (label.bounding_box() for label in graph.get_by_text("champion_model", exact=True).all())
        if b
    ]
    inside = lambda b: b and b["y"] >= 110 and b["y"] + b["height"] <= view["height"] - 10  # noqa: E731 (below the toolbar)
    return all(inside(b) for b in headers) and len([b for b in nodes if inside(b)]) == len(GROUPS)


def _expand_all_groups(page) -> None:
    """Every group expanded and the graph zoomed out until all four pipelines fit in the view."""
    hide_nav = page.get_by_role("button", name="Hide navigation")
    if hide_nav.count():
        hide_nav.click()
    graph = page.locator("svg")
    graph.get_by_text(GROUPS[0], exact=True).first.wait_for()
    page.wait_for_timeout(500)
    if not graph.get_by_text("raw_data", exact=True).count():  # the groups remember their last state
        page.locator("body").click(position={"x": 1000, "y": 800})  # focus the graph canvas
        page.keyboard.press("Alt+e")  # the graph's "expand all groups" shortcut
    graph.get_by_text("raw_data", exact=True).first.wait_for()
    zoom_out = page.locator("button:has([aria-label='zoom_out'])")
    for _ in range(8):
        if _groups_in_view(page):
            return
        zoom_out.click()
        page.wait_for_timeout(600)  # the zoom animates
    _shot(page, "failed-expand-groups")
    raise AssertionError("the four pipelines' raw_data nodes never fit in the graph view")


def _graph_screenshot(page, name: str) -> None:
    """The expanded lineage graph, all four groups in view, no side panels; and a crop of the groups."""
    page.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter(b => b.querySelector('[aria-label^="panel_show"]') && b.getBoundingClientRect().left > 200)
            .forEach(b => b.click())"""
    )
    page.wait_for_timeout(1000)
    _shot(page, name)
    boxes = page.evaluate(
        """(names) => names.map(name => {
            let e = [...document.querySelectorAll('svg *')]
                .find(x => x.childElementCount === 0 && x.textContent.trim() === name);
            // up from the header to the group's box
            while (e && e.getBoundingClientRect().height < 100) e = e.parentElement;
            const r = e.getBoundingClientRect();
            return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
        })""",
        GROUPS,
    )
    view = page.viewport_size
    left, top = max(min(b["left"] for b in boxes) - 20, 0), max(min(b["top"] for b in boxes) - 20, 0)
    right = min(max(b["right"] for b in boxes) + 20, view["width"])
    bottom = min(max(b["bottom"] for b in boxes) + 20, view["height"])
    _shot(page, f"{name}-cropped", clip={"x": left, "y": top, "width": right - left, "height": bottom - top})


def _expected_graph():
    graph = load_defs().resolve_asset_graph()
    return {
        key: (graph.get(key).group_name, graph.get(key).description) for key in graph.get_all_asset_keys()
    }


def test_asset_graph_shows_the_four_pipelines_in_their_groups(page, dagster_dev):
    from playwright.sync_api import expect

    base, _, _ = dagster_dev
    expected = _expected_graph()
    # six assets per pipeline; the monthly two add backtest_report and the external champion_alias and drift_alarm
    assert {group for group, _ in expected.values()} == set(GROUPS) and len(expected) == 30
    _open(page, base, "/asset-groups")
    _expand_all_groups(page)
    graph = page.locator("svg")
    for group in GROUPS:
        assert graph.get_by_text(group, exact=True).count(), f"group {group} not drawn"
    _graph_screenshot(page, "01-asset-graph")
    for name in ("raw_data", "features", "model", "evaluation_report", "champion_model"):
        expect(graph.get_by_text(name, exact=True)).to_have_count(len(GROUPS))  # one per pipeline

    _open(page, base, "/assets")
    _shot(page, "02-catalog")
    for group in GROUPS:  # each pipeline's key prefix; the catalog draws only the rows in view (30 assets)
        for _ in range(6):
            if page.get_by_text(group, exact=True).count():
                break
            page.mouse.move(800, 600)
            page.mouse.wheel(0, 600)
            page.wait_for_timeout(300)
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    for key, (_, description) in expected.items():
        if key.path[0] == "iris":
            _open(page, base, f"/assets/{key.to_user_string()}")
            expect(page.get_by_text(description.split("`")[0][:40]).first).to_be_visible()


# each name's on/off toggle: the row holds a select box and, last, the toggle
_TOGGLES_JS = """(names) => Object.fromEntries(names.map((name) => {
    const label = [...document.querySelectorAll('a, span')].find(e => e.textContent.trim() === name);
    if (!label) return [name, null];
    let row = label;
    while (row && row.querySelectorAll('input[type=checkbox]').length < 2) row = row.parentElement;
    if (!row) return [name, null];
    const boxes = row.querySelectorAll('input[type=checkbox]');
    return [name, boxes[boxes.length - 1].checked];
}))"""


def _toggles(page, names: list[str]) -> dict[str, bool | None]:
    return page.evaluate(_TOGGLES_JS, names)


def test_schedule_and_sensors_are_running_by_default(page, dagster_dev):
    base, _, _ = dagster_dev
    _open(page, base, "/automation")
    names = [
        "nyc_flights_ingest_schedule",
        "nyc_taxi_green_ingest_schedule",
        "run_failure_alert",
        "failed_run_cleanup",
        *(f"{group}_{kind}" for group in GROUPS for kind in ("source_sensor", "automation")),
    ]
    page.get_by_text(names[0], exact=True).wait_for()
    # the names render before each one's state has loaded (every toggle off until then): wait for all of them on,
    # with a generous deadline, then compare what the page shows
    try:
        page.wait_for_function(
            f"(names) => Object.values(({_TOGGLES_JS})(names)).every((on) => on === true)",
            arg=names,
            timeout=120_000,
        )
    except Exception:
        _shot(page, "failed-automation-toggles")
    assert _toggles(page, names) == {name: True for name in names}
    _shot(page, "03-automation")


def test_materialize_a_month_from_the_ui_then_read_its_report(page, dagster_dev):
    from playwright.sync_api import expect

    base, log, data = dagster_dev
    # the flights pipeline's training job: its five monthly assets, nothing of the other pipelines
    _open(page, base, "/locations/ml_assets.definitions/jobs/nyc_flights_training")
    try:
        page.get_by_role("button", name="Materialize all…").click()
    except Exception:
        _shot(page, "failed-job-page")
        raise
    dialog = page.get_by_role("dialog")
    try:
        dialog.get_by_text("Partition selection").wait_for()
        dialog.get_by_placeholder(re.compile(r"^ex: ")).fill(UI_MONTH, timeout=15_000)
    except Exception:
        _shot(page, "failed-launch-dialog")
        raise
    page.keyboard.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    _shot(page, "04-launch-one-month")
    dialog.get_by_role("button", name="Launch 1 run").click()

    # the toast's "View" (exact: the navigation's "Overview" link also contains "view")
    toast_view = page.get_by_role("link", name="View", exact=True).or_(
        page.get_by_role("button", name="View", exact=True)
    )
    toast_view.first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"))
    run_id = page.url.rsplit("/", 1)[-1]
    # a live run page redraws its event log all run long, a renderer busy beside the run: the browser waits on a blank
    # page while the webserver's GraphQL, which the page reads too, says when the run ended; then the page shows it
    page.goto("about:blank")
    wait_until(
        lambda: (
            graphql(base, RUN_STATUS, {"id": run_id})["runOrError"].get("status")
            in {"SUCCESS", "FAILURE", "CANCELED"}
        ),
        f"run {run_id} did not end",
        RUN_TIMEOUT_S,
        poll_s=2,
        explain=lambda: f"; dagster dev log tail:\n{log.read_text()[-4000:]}",
    )
    _open(page, base, f"/runs/{run_id}")
    # the run page's header: "Runs / <short id> <status tag> partition: ..."
    status = wait_until(
        lambda: (
            (found := re.search(rf"Runs\s*/\s*{run_id[:8]}\s+(\w+)", page.locator("body").inner_text()))
            and found.group(1)
        ),
        "the run page did not show the run's status",
        120,
        poll_s=1,
    )
    _shot(page, "05-run")
    assert status == "Success", (
        f"run {run_id} ended as {status}; dagster dev log tail:\n{log.read_text()[-4000:]}"
    )
    assert f"partition: {UI_MONTH}" in page.locator("body").inner_text()

    _open(page, base, f"/assets/nyc_flights/evaluation_report?view=partitions&partition={UI_MONTH}")
    mlflow_link = page.locator("a[href*='/#/experiments/']").first
    expect(mlflow_link).to_have_attribute(
        "href", re.compile(r"^http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32}$")
    )
    page.get_by_text("[Show Markdown]").click()
    report = page.get_by_role("dialog")
    report.get_by_text(f"evaluation for {UI_MONTH}").wait_for()
    text = report.inner_text()
    rmse = float(re.search(r"model version \d+ \([^)]*\)\s+([\d.]+)", text).group(1))
    baseline = float(
        re.search(r"course baseline \(DictVectorizer \+ LinearRegression[^)]*\)\s+([\d.]+)", text).group(1)
    )
    stored = json.loads(
        (data / "reports" / "nyc_flights" / "evaluation_report" / f"{UI_MONTH}.json").read_text()
    )
    assert rmse == pytest.approx(stored["rmse"], abs=5e-4)
    assert rmse < baseline
    plot = report.locator("img")
    assert plot.count() == 1 and plot.evaluate("img => img.naturalWidth") > 0, (
        "the plot renders in the report"
    )
    _shot(page, "06-evaluation-report")
    report.screenshot(path=str(SCREENSHOTS / "06-evaluation-report-cropped.png"))
    _publish("06-evaluation-report-cropped")
    report.get_by_role("button", name="Close").click()

    # every declared check of each asset shows as succeeded
    task = load_pipeline("nyc_flights", data).plan.task
    counts = {
        "raw_data": task.raw_check_names,
        "features": task.feature_check_names,
        "evaluation_report": task.evaluation_check_names,
    }
    for asset, count in {asset: len(names) for asset, names in counts.items()}.items():
        _open(page, base, f"/assets/nyc_flights/{asset}?view=checks")
        succeeded = page.get_by_text("Succeeded", exact=True)
        # the list shows each check's latest execution: the page settles in seconds, but the flights sensor's
        # newest month (ingested beside this run) may be going through the same checks: it passes them too
        try:
            expect(succeeded).to_have_count(count, timeout=600_000)
        except AssertionError:
            _shot(page, f"failed-{asset}-checks")
            raise
    # the selected check's latest result names the month it checked (this run's, or the sensor's newest)
    expect(page.get_by_text(re.compile(r"^2013-(05|12)$")).first).to_be_visible()
    _shot(page, "07-evaluation-checks")

    _open(page, base, "/asset-groups")
    _expand_all_groups(page)
    _graph_screenshot(page, "08-asset-graph-after-run")


def test_read_the_iris_classification_report(page, dagster_dev):
    from playwright.sync_api import expect

    base, _, data = dagster_dev
    _open(page, base, "/assets/iris/evaluation_report")
    page.get_by_text("[Show Markdown]").first.click()
    report = page.get_by_role("dialog")
    report.get_by_text("iris: classification report").wait_for()
    text = report.inner_text()
    stored = json.loads((data / "reports" / "iris" / "evaluation_report.json").read_text())
    model_cv = float(re.search(r"model \(logistic_regression, version \d+\)\s+([\d.]+) ± ", text).group(1))
    seed_cv = float(
        re.search(r"Airflow iris DAG, RandomForestClassifier\(n_estimators=100\)\s+([\d.]+) ± ", text).group(
            1
        )
    )
    assert model_cv == pytest.approx(stored["cv"]["summary"]["model"]["accuracy"]["mean"], abs=5e-4)
    assert model_cv >= seed_cv
    expect(report.get_by_text("Confusion matrix of the model on the held-out rows")).to_be_visible()
    assert report.locator("img").evaluate("img => img.naturalWidth") > 0, "the plot renders in the report"
    _shot(page, "09-iris-report")
    report.screenshot(path=str(SCREENSHOTS / "09-iris-report-cropped.png"))
    _publish("09-iris-report-cropped")
    report.get_by_role("button", name="Close").click()
    _open(page, base, "/assets/iris/evaluation_report?view=checks")
    # threshold, majority, seed DAG, re-computation
    checks = load_pipeline("iris", data).plan.task.evaluation_check_names
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(checks), timeout=30_000)


def test_read_the_backtest_and_its_decay_plot(page, dagster_dev):
    from playwright.sync_api import expect

    base, _, data = dagster_dev
    stored = json.loads((data / "reports" / "nyc_flights" / "backtest_report.json").read_text())
    assert len(stored["months"]) >= 4  # the seeded range (automation may have added months since)
    _open(page, base, "/assets/nyc_flights/backtest_report")
    page.get_by_text("[Show Markdown]").first.click()
    report = page.get_by_role("dialog")
    report.get_by_text("RMSE on each month t (lower is better)").wait_for()
    text = report.inner_text()
    assert f"{stored['winner']} wins" in text.replace("\n", " ")
    for policy in (
        "retrain monthly on the last month",
        "retrain monthly on the last 3 months",
        "keep the champion",
        "course baseline",
    ):
        expect(report.get_by_text(policy).first).to_be_visible()
    plot = report.locator("img")
    assert plot.count() == 1 and plot.evaluate("img => img.naturalWidth") > 0, "the decay plot renders"
    _shot(page, "10-backtest-report")
    report.screenshot(path=str(SCREENSHOTS / "10-backtest-report-cropped.png"))
    _publish("10-backtest-report-cropped")
    report.get_by_role("button", name="Close").click()


def test_dagster_dev_log_has_no_warnings_from_our_code(dagster_dev):
    _, log, _ = dagster_dev
    warnings = [line for line in log.read_text().splitlines() if re.search(r"\w+Warning\b|\bWARNING\b", line)]
    ours = [line for line in warnings if "site-packages" not in line.split("Warning")[0]]
    assert not ours, "warnings from ml_assets in the dagster dev log:\n" + "\n".join(ours)

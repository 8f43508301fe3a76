"""Sensors, schedule and automation with a real instance, real sources and real cursors."""

import http.server
import json
import os
import shutil
import threading
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ml_assets.definitions import build_definitions
from ml_assets.sensors import SOURCE_FINGERPRINT_TAG, failure_payload
from ml_assets.settings import Settings


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("source_change_sensor")
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"trip_source": defs.resources["trip_source"]}) as context:
        result = sensor(context)
    return result.run_requests, result.cursor


@pytest.fixture
def local_source(tmp_path, tlc_dir):
    """A folder the taxi source reads by path: the sensor sees size + mtime."""
    folder = tmp_path / "source"
    folder.mkdir()
    settings = Settings(
        source="nyc_taxi",
        taxi_url_template=str(folder / "{color}_tripdata_{month}.parquet"),
        taxi_start_month="2021-01",
        taxi_end_month="2021-03",
        data_dir=str(tmp_path / "data"),
    )
    return folder, settings


def test_new_month_requests_run_unchanged_skips_changed_requests_again(local_source, tlc_dir, instance):
    folder, settings = local_source
    defs = build_definitions(settings)
    requests, cursor = _tick(defs, instance)
    assert requests == []  # nothing published yet

    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    requests, cursor = _tick(defs, instance, cursor)
    assert [r.partition_key for r in requests] == ["2021-01"]
    first_key = requests[0].run_key
    assert first_key.startswith("2021-01:file:") and requests[0].tags[SOURCE_FINGERPRINT_TAG]

    requests, cursor = _tick(defs, instance, cursor)
    assert requests == []  # unchanged: the cursor remembers it

    time.sleep(0.01)
    shutil.copy(tlc_dir / "green_tripdata_2021-02.parquet", folder / "green_tripdata_2021-01.parquet")
    requests, cursor = _tick(defs, instance, cursor)
    assert [r.partition_key for r in requests] == ["2021-01"] and requests[0].run_key != first_key
    assert json.loads(cursor)["2021-01"] == requests[0].run_key.split(":", 1)[1]


def test_already_materialized_version_is_not_requested_again(local_source, tlc_dir, instance):
    folder, settings = local_source
    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    defs = build_definitions(settings)
    job = defs.resolve_job_def("ingest_job")
    assert job.execute_in_process(partition_key="2021-01", instance=instance, resources=None).success
    requests, _ = _tick(defs, instance)  # fresh cursor, e.g. a new deployment
    assert requests == []


def test_flights_sensor_uses_a_content_hash(tmp_path, instance):
    defs = build_definitions(Settings(source="nyc_flights", data_dir=str(tmp_path)))
    requests, cursor = _tick(defs, instance)
    assert len(requests) == 12 and {r.run_key.split(":")[1] for r in requests} == {"sha256"}
    assert _tick(defs, instance, cursor)[0] == []


def test_schedule_ingests_the_newest_published_month(tmp_path):
    settings = Settings(source="nyc_taxi", data_dir=str(tmp_path), publication_lag_months=2)
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("monthly_ingest_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    import datetime

    when = datetime.datetime(2026, 11, 3, 6, 0, tzinfo=datetime.timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["2026-09"]  # two months back


def test_sensors_and_automation_start_running(tmp_path):
    defs = build_definitions(Settings(data_dir=str(tmp_path)))
    for name in ("source_change_sensor", "ml_assets_automation", "run_failure_alert"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING


class _Capture(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def _failed_run(tmp_path, instance):
    # a real failing run: the taxi source has no file for the month
    settings = Settings(
        source="nyc_taxi", taxi_url_template=str(tmp_path / "{month}.parquet"), taxi_end_month="2021-03",
        data_dir=str(tmp_path), download_retries=0,
    )
    result = build_definitions(settings).resolve_job_def("ingest_job").execute_in_process(
        partition_key="2021-03", instance=instance, raise_on_error=False
    )
    assert not result.success
    return result


def test_failure_alert_posts_to_webhook(tmp_path, instance, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Capture.received.clear()
    try:
        monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        defs = build_definitions(Settings.from_env({**os.environ, "ML_ASSETS_DATA_DIR": str(tmp_path)}))
        result = _failed_run(tmp_path, instance)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        sensor = defs.resolve_sensor_def("run_failure_alert")
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=instance,
            dagster_run=result.dagster_run, resources={"alert_webhook": defs.resources["alert_webhook"]},
        ).for_run_failure()
        sensor(context)
    finally:
        server.shutdown()
    content_type, payload = _Capture.received[0]
    assert content_type == "application/json"
    assert payload["job"] == "ingest_job" and payload["run_id"] == result.run_id
    assert payload["partition"] == "2021-03" and payload["link"].endswith(f"/runs/{result.run_id}")
    assert result.run_id in payload["text"] and payload["error"]


def test_failure_alert_without_url_posts_nothing(tmp_path, instance, monkeypatch):
    monkeypatch.delenv("ML_ASSETS_ALERT_WEBHOOK_URL", raising=False)
    defs = build_definitions(Settings(source="nyc_flights", data_dir=str(tmp_path)))
    assert defs.resources["alert_webhook"].webhook_url is None
    result = _failed_run(tmp_path, instance)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"alert_webhook": defs.resources["alert_webhook"]},
    ).for_run_failure()
    defs.resolve_sensor_def("run_failure_alert")(context)  # logs one line, raises nothing


def test_failure_payload_is_slack_compatible():
    payload = failure_payload("job", "abc", "2021-01", "boom", "http://x/runs/abc")
    assert payload["text"].startswith("ml_assets run failed") and payload["blocks"][0]["type"] == "section"


def _requested(result) -> set[tuple[str, str]]:
    return {
        (key.to_user_string(), partition)
        for key, subset in ((r.key, r.true_subset) for r in result.results)
        if subset.size
        for partition in subset.expensively_compute_partition_keys()
    }


def test_automation_follows_changed_data_but_not_identical_reingestion(local_source, tlc_dir, instance):
    from ml_assets_tests.assets.helpers import materialize_month

    folder, settings = local_source
    defs = build_definitions(settings)
    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    assert materialize_month(settings, "2021-01", instance, selection=["raw_trips"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == {("trip_features", "2021-01")}
    assert materialize_month(settings, "2021-01", instance, selection=["trip_features"]).success
    # the model follows once the features exist and their blocking checks passed
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == {("duration_model", "2021-01")}
    assert materialize_month(settings, "2021-01", instance, selection=["duration_model"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()  # evaluation_report[2021-02] waits for February's features

    # the same bytes ingested again: raw_trips' data version is unchanged, nothing follows
    assert materialize_month(settings, "2021-01", instance, selection=["raw_trips"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()

    # the source corrects the month: new content, new data version, the graph follows
    time.sleep(0.01)
    original = pq.read_table(tlc_dir / "green_tripdata_2021-01.parquet")
    pq.write_table(original.slice(0, original.num_rows - 1_000), folder / "green_tripdata_2021-01.parquet")
    assert materialize_month(settings, "2021-01", instance, selection=["raw_trips"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    # both follow in one run now: in-run blocking checks still stop the model if features fail
    assert _requested(tick) == {("trip_features", "2021-01"), ("duration_model", "2021-01")}

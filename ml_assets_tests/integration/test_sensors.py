"""Sensors, schedules and automation with a real instance, real sources and real cursors."""

import datetime
import http.server
import json
import shutil
import threading
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ml_assets.components.project_resources import build_resources
from ml_assets.orchestration.sensors import SOURCE_FINGERPRINT_TAG, failure_payload, run_failure_alert
from ml_assets_tests.pipelines import load_pipeline
from ml_assets_tests.pipelines import requested as _requested


def _tick(pipeline, instance, cursor=None):
    sensor = pipeline.defs().resolve_sensor_def(f"{pipeline.name}_source_sensor")
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor(context)
    if isinstance(result, dg.SkipReason):
        return result, cursor
    return result.run_requests, result.cursor


@pytest.fixture
def local_taxi(tmp_path, data_dir):
    """The taxi pipeline reading a folder by path: the sensor sees size + mtime."""
    folder = tmp_path / "source"
    folder.mkdir()
    pipeline = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": str(folder / "{color}_tripdata_{month}.parquet")},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2021-03"}},
    )
    return folder, pipeline


def test_new_month_requests_run_unchanged_skips_changed_requests_again(local_taxi, tlc_dir, instance):
    folder, taxi = local_taxi
    requests, cursor = _tick(taxi, instance)
    assert requests == []  # nothing published yet

    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    requests, cursor = _tick(taxi, instance, cursor)
    assert [r.partition_key for r in requests] == ["2021-01"]
    first_key = requests[0].run_key
    assert first_key.startswith("2021-01:file:") and requests[0].tags[SOURCE_FINGERPRINT_TAG]

    requests, cursor = _tick(taxi, instance, cursor)
    assert requests == []  # unchanged: the cursor remembers it

    time.sleep(0.01)
    shutil.copy(tlc_dir / "green_tripdata_2021-02.parquet", folder / "green_tripdata_2021-01.parquet")
    requests, cursor = _tick(taxi, instance, cursor)
    assert [r.partition_key for r in requests] == ["2021-01"] and requests[0].run_key != first_key
    assert json.loads(cursor)["2021-01"] == requests[0].run_key.split(":", 1)[1]


@pytest.mark.slow
def test_already_materialized_version_is_not_requested_again(local_taxi, tlc_dir, instance):
    folder, taxi = local_taxi
    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    job = taxi.defs().resolve_job_def("nyc_taxi_green_ingest")
    assert job.execute_in_process(partition_key="2021-01", instance=instance).success
    requests, _ = _tick(taxi, instance)  # fresh cursor, e.g. a new deployment
    assert requests == []


@pytest.mark.slow
def test_months_ingested_by_one_range_run_are_not_requested_again(local_taxi, tlc_dir, instance):
    folder, taxi = local_taxi
    for month in ("2021-01", "2021-02"):
        shutil.copy(tlc_dir / f"green_tripdata_{month}.parquet", folder)
    result = taxi.materialize(instance, assets=["raw_data"], months=("2021-01", "2021-02"))
    assert result.success
    requests, _ = _tick(taxi, instance)  # the range's metadata holds each month's fingerprint
    assert requests == []
    time.sleep(0.01)
    shutil.copy(tlc_dir / "green_tripdata_2021-03.parquet", folder / "green_tripdata_2021-02.parquet")
    requests, _ = _tick(taxi, instance)
    assert [r.partition_key for r in requests] == ["2021-02"]


def test_offline_taxi_source_skips_with_a_message_naming_the_url(data_dir, instance):
    url = "http://127.0.0.1:9/{color}_tripdata_{month}.parquet"  # nothing listens on port 9
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": url, "timeout_s": 2},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2021-02"}},
    )
    skip, _ = _tick(taxi, instance)
    assert isinstance(skip, dg.SkipReason)
    assert "the source did not answer" in skip.skip_message
    assert "http://127.0.0.1:9/green_tripdata_2021-01.parquet" in skip.skip_message


def test_flights_sensor_uses_a_content_hash(flights, instance):
    requests, cursor = _tick(flights, instance)
    assert len(requests) == 12 and {r.run_key.split(":")[1] for r in requests} == {"sha256"}
    assert _tick(flights, instance, cursor)[0] == []


@pytest.fixture
def local_heart(tmp_path, data_dir, monkeypatch):
    """The heart-disease pipeline reading a copy of the file by path (ML_ASSETS_HEART_URL)."""
    from ml_assets_tests.conftest import BUNDLED_HEART

    folder = tmp_path / "heart"
    folder.mkdir()
    path = folder / "processed.cleveland.data"
    shutil.copy(BUNDLED_HEART, path)
    monkeypatch.setenv("ML_ASSETS_HEART_URL", str(path))
    return path, load_pipeline("heart_disease", data_dir)


@pytest.mark.slow
def test_unpartitioned_pipeline_reruns_only_when_its_file_changes(local_heart, instance):
    path, heart = local_heart
    requests, cursor = _tick(heart, instance)
    assert [(r.partition_key, r.run_key.split(":")[0]) for r in requests] == [(None, "all")]
    assert requests[0].run_key.startswith("all:sha256:")
    assert heart.materialize(instance, assets=["raw_data"]).success

    # the same bytes written again (a new mtime): the content hash is unchanged, nothing requested
    path.write_bytes(path.read_bytes())
    assert _tick(heart, instance, cursor)[0] == []
    assert _tick(heart, instance)[0] == []  # even with a fresh cursor: that version is materialized

    # a corrected file: one row fewer -> a new fingerprint -> a run
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    requests, cursor = _tick(heart, instance, cursor)
    assert len(requests) == 1 and requests[0].partition_key is None


@pytest.mark.slow
def test_unpartitioned_automation_follows_changed_data_but_not_identical_data(local_heart, instance):
    path, heart = local_heart
    defs = heart.defs()
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert heart.materialize(instance).success  # the whole pipeline once

    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()
    assert heart.materialize(instance, assets=["raw_data"]).success  # identical data re-ingested
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()  # same data version: nothing retrains

    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))  # a changed file
    assert heart.materialize(instance, assets=["raw_data"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    # the whole chain in one run: features, a new model, its report, the champion gate and the scoring
    assert _requested(tick) == {
        (f"heart_disease/{a}", None)
        for a in ("features", "model", "evaluation_report", "champion_model", "predictions")
    }
    # and the report's blocking checks with it, in the same run
    assert {k for k, _ in _requested(tick, checks=True)} == {
        f"heart_disease/evaluation_report:{c}"
        for c in (
            "accuracy_within_threshold",
            "beats_majority_class",
            "not_worse_than_seed_script",
            "figures_recomputed",
        )
    } | {"heart_disease/predictions:figures_recomputed"}


def test_schedule_ingests_the_newest_published_month(data_dir, monkeypatch):
    monkeypatch.delenv("ML_ASSETS_TAXI_END_MONTH", raising=False)
    taxi = load_pipeline("nyc_taxi_green", data_dir)
    defs = taxi.defs()
    schedule = defs.resolve_schedule_def("nyc_taxi_green_ingest_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    when = datetime.datetime(2026, 11, 3, 6, 0, tzinfo=datetime.UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    ) as context:
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["2026-09"]  # two months back


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


def _failed_run(data_dir, instance):
    # a real failing run: the taxi source has no file for the month
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": str(data_dir / "{month}.parquet")},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2021-03"}},
        automation={"ingest_retries": 0},
    )
    result = (
        taxi.defs()
        .resolve_job_def("nyc_taxi_green_ingest")
        .execute_in_process(partition_key="2021-03", instance=instance, raise_on_error=False)
    )
    assert not result.success
    return result


def _alert(result, instance, resources):
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alert_webhook": resources["alert_webhook"]},
    ).for_run_failure()
    run_failure_alert(context)


def test_failure_alert_posts_to_webhook(data_dir, instance, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Capture.received.clear()
    try:
        monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        resources = build_resources(str(data_dir))
        # read at run time, never in config
        assert isinstance(resources["alert_webhook"].webhook_url, dg.EnvVar)
        result = _failed_run(data_dir, instance)
        _alert(result, instance, resources)
    finally:
        server.shutdown()
    content_type, payload = _Capture.received[0]
    assert content_type == "application/json"
    assert payload["job"] == "nyc_taxi_green_ingest" and payload["run_id"] == result.run_id
    assert payload["partition"] == "2021-03" and payload["link"].endswith(f"/runs/{result.run_id}")
    assert result.run_id in payload["text"] and payload["error"]


def test_failure_alert_without_url_posts_nothing(data_dir, instance, monkeypatch):
    monkeypatch.delenv("ML_ASSETS_ALERT_WEBHOOK_URL", raising=False)
    resources = build_resources(str(data_dir))
    assert resources["alert_webhook"].webhook_url is None
    _alert(_failed_run(data_dir, instance), instance, resources)  # logs one line, raises nothing


def test_a_failing_webhook_does_not_show_its_url(data_dir, instance, monkeypatch):
    secret = "http://127.0.0.1:9/services/T000/B000/s3cret"
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK_URL", secret)
    resources = build_resources(str(data_dir))
    with pytest.raises(Exception) as caught:
        _alert(_failed_run(data_dir, instance), instance, resources)
    assert "s3cret" not in str(caught.value) and "did not accept" in str(caught.value)


def test_failure_payload_is_slack_compatible():
    payload = failure_payload("job", "abc", "2021-01", "boom", "http://x/runs/abc")
    assert payload["text"].startswith("ml_assets run failed") and payload["blocks"][0]["type"] == "section"


@pytest.mark.slow
def test_automation_follows_changed_data_but_not_identical_reingestion(local_taxi, tlc_dir, instance):
    folder, taxi = local_taxi
    defs = taxi.defs()
    shutil.copy(tlc_dir / "green_tripdata_2021-01.parquet", folder)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    # predictions come along: without a champion they are stored empty, and say so (under
    # retrain: on_drift that is what trains the first model)
    assert _requested(tick) == {
        ("nyc_taxi_green/features", "2021-01"),
        ("nyc_taxi_green/predictions", "2021-01"),
    }
    assert taxi.materialize(instance, "2021-01", assets=["features"]).success
    # the model follows once the features exist and their blocking checks passed
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == {("nyc_taxi_green/model", "2021-01")}
    assert taxi.materialize(instance, "2021-01", assets=["model"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()  # evaluation_report[2021-02] waits for February's features

    # the same bytes ingested again: raw_data's data version is unchanged, nothing follows
    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert _requested(tick) == set()

    # the source corrects the month: new content, new data version, the graph follows
    time.sleep(0.01)
    original = pq.read_table(tlc_dir / "green_tripdata_2021-01.parquet")
    pq.write_table(original.slice(0, original.num_rows - 1_000), folder / "green_tripdata_2021-01.parquet")
    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    # both follow in one run now: in-run blocking checks still stop the model if features fail
    assert _requested(tick) == {
        (f"nyc_taxi_green/{a}", "2021-01") for a in ("features", "model", "predictions")
    }
